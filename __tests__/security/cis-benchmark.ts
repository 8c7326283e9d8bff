import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

/**
 * An evaluator for the CIS Kubernetes Benchmark items (kube-bench cfg/cis-1.12,
 * which maps Kubernetes 1.32+) that a component flag or config field decides.
 * It computes each component's effective flags the way the node will run them,
 * kubeadm's defaults overridden by our extraArgs by name, and tests them with
 * kube-bench's semantics: a flag first, then the component's config file.
 */

export type Component = "kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | "etcd" | "kubelet" | "kube-proxy";

/** What a component runs with: its command-line flags and, for the kubelet and kube-proxy, its config file. */
export interface ComponentView {
  readonly flags: Map<string, string>;
  readonly config?: Record<string, unknown>;
}

export type ClusterView = Record<Component, ComponentView>;

/**
 * Flags kubeadm v1beta4 (Kubernetes 1.35) writes into the static pod manifests
 * before extraArgs, from cmd/kubeadm/app/phases/controlplane/manifests.go and
 * cmd/kubeadm/app/phases/etcd/local.go. Only the security-relevant ones; the
 * node-specific addresses are left out.
 */
export const KUBEADM_DEFAULT_FLAGS: Record<"kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | "etcd" | "kubelet", Record<string, string>> = {
  "kube-apiserver": {
    "allow-privileged": "true",
    "authorization-mode": "Node,RBAC",
    "client-ca-file": "/etc/kubernetes/pki/ca.crt",
    "enable-admission-plugins": "NodeRestriction",
    "enable-bootstrap-token-auth": "true",
    "etcd-cafile": "/etc/kubernetes/pki/etcd/ca.crt",
    "etcd-certfile": "/etc/kubernetes/pki/apiserver-etcd-client.crt",
    "etcd-keyfile": "/etc/kubernetes/pki/apiserver-etcd-client.key",
    "etcd-servers": "https://127.0.0.1:2379",
    "kubelet-client-certificate": "/etc/kubernetes/pki/apiserver-kubelet-client.crt",
    "kubelet-client-key": "/etc/kubernetes/pki/apiserver-kubelet-client.key",
    "kubelet-preferred-address-types": "InternalIP,ExternalIP,Hostname",
    "proxy-client-cert-file": "/etc/kubernetes/pki/front-proxy-client.crt",
    "proxy-client-key-file": "/etc/kubernetes/pki/front-proxy-client.key",
    "requestheader-client-ca-file": "/etc/kubernetes/pki/front-proxy-ca.crt",
    "secure-port": "6443",
    "service-account-issuer": "https://kubernetes.default.svc.cluster.local",
    "service-account-key-file": "/etc/kubernetes/pki/sa.pub",
    "service-account-signing-key-file": "/etc/kubernetes/pki/sa.key",
    "tls-cert-file": "/etc/kubernetes/pki/apiserver.crt",
    "tls-private-key-file": "/etc/kubernetes/pki/apiserver.key",
  },
  "kube-controller-manager": {
    "authentication-kubeconfig": "/etc/kubernetes/controller-manager.conf",
    "authorization-kubeconfig": "/etc/kubernetes/controller-manager.conf",
    "bind-address": "127.0.0.1",
    "client-ca-file": "/etc/kubernetes/pki/ca.crt",
    "cluster-signing-cert-file": "/etc/kubernetes/pki/ca.crt",
    "cluster-signing-key-file": "/etc/kubernetes/pki/ca.key",
    controllers: "*,bootstrapsigner,tokencleaner",
    kubeconfig: "/etc/kubernetes/controller-manager.conf",
    "leader-elect": "true",
    "requestheader-client-ca-file": "/etc/kubernetes/pki/front-proxy-ca.crt",
    "root-ca-file": "/etc/kubernetes/pki/ca.crt",
    "service-account-private-key-file": "/etc/kubernetes/pki/sa.key",
    "use-service-account-credentials": "true",
  },
  "kube-scheduler": {
    "authentication-kubeconfig": "/etc/kubernetes/scheduler.conf",
    "authorization-kubeconfig": "/etc/kubernetes/scheduler.conf",
    "bind-address": "127.0.0.1",
    kubeconfig: "/etc/kubernetes/scheduler.conf",
    "leader-elect": "true",
  },
  etcd: {
    "cert-file": "/etc/kubernetes/pki/etcd/server.crt",
    "client-cert-auth": "true",
    "data-dir": "/var/lib/etcd",
    "key-file": "/etc/kubernetes/pki/etcd/server.key",
    "peer-cert-file": "/etc/kubernetes/pki/etcd/peer.crt",
    "peer-client-cert-auth": "true",
    "peer-key-file": "/etc/kubernetes/pki/etcd/peer.key",
    "peer-trusted-ca-file": "/etc/kubernetes/pki/etcd/ca.crt",
    "trusted-ca-file": "/etc/kubernetes/pki/etcd/ca.crt",
  },
  // The kubelet's drop-in (10-kubeadm.conf) and kubeadm-flags.env: flags point at files; settings live in config.yaml.
  kubelet: {
    "bootstrap-kubeconfig": "/etc/kubernetes/bootstrap-kubelet.conf",
    kubeconfig: "/etc/kubernetes/kubelet.conf",
    config: "/var/lib/kubelet/config.yaml",
  },
};

type Args = Array<{ name: string; value: string }>;

/** The documents of the YAML stream `kubeadm init` reads, by kind. */
export function initDocuments(initConfigYaml: string): Record<string, any> {
  return Object.fromEntries(parseAllDocuments(initConfigYaml).map((d) => [d.toJS().kind, d.toJS()]));
}

/** Effective flags and configs of every component, from the documents `kubeadm init` reads. */
export function clusterView(docs: Record<string, any>, kubeletPatch: Record<string, unknown> = {}): ClusterView {
  const cluster = docs.ClusterConfiguration;
  const withArgs = (defaults: Record<string, string>, extra: Args | undefined) => {
    const flags = new Map(Object.entries(defaults));
    for (const { name, value } of extra ?? []) flags.set(name, value);
    return flags;
  };
  return {
    "kube-apiserver": { flags: withArgs(KUBEADM_DEFAULT_FLAGS["kube-apiserver"], cluster.apiServer?.extraArgs) },
    "kube-controller-manager": { flags: withArgs(KUBEADM_DEFAULT_FLAGS["kube-controller-manager"], cluster.controllerManager?.extraArgs) },
    "kube-scheduler": { flags: withArgs(KUBEADM_DEFAULT_FLAGS["kube-scheduler"], cluster.scheduler?.extraArgs) },
    etcd: { flags: withArgs(KUBEADM_DEFAULT_FLAGS.etcd, cluster.etcd?.local?.extraArgs) },
    kubelet: {
      flags: withArgs(KUBEADM_DEFAULT_FLAGS.kubelet, docs.InitConfiguration?.nodeRegistration?.kubeletExtraArgs),
      config: { ...docs.KubeletConfiguration, ...kubeletPatch },
    },
    "kube-proxy": { flags: new Map(), config: docs.KubeProxyConfiguration },
  };
}

/** What the running programs of a node were started with, read off the node. */
export interface RunningNode {
  /** kubeadm's static pod manifests, by component. */
  readonly manifests: Record<"kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | "etcd", string>;
  /** The kubelet's command line as kubeadm's systemd drop-in builds it (its flags and kubeadm-flags.env). */
  readonly kubeletFlags: string[];
  readonly kubeletConfig: string;
  /** The KubeProxyConfiguration kube-proxy reads (the kube-proxy ConfigMap's config.conf). */
  readonly kubeProxyConfig: string;
}

/** `--name=value` flags of a command line (a bare `--name` is "true"). */
export function commandFlags(command: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (const arg of command.filter((a) => a.startsWith("--"))) {
    const [name, ...value] = arg.slice(2).split("=");
    flags.set(name, value.length ? value.join("=") : "true");
  }
  return flags;
}

/** Effective flags and configs of every component, as a node really runs them. */
export function runningClusterView(node: RunningNode): ClusterView {
  const manifestFlags = (yaml: string) => commandFlags(parseAllDocuments(yaml)[0].toJS().spec.containers[0].command);
  return {
    "kube-apiserver": { flags: manifestFlags(node.manifests["kube-apiserver"]) },
    "kube-controller-manager": { flags: manifestFlags(node.manifests["kube-controller-manager"]) },
    "kube-scheduler": { flags: manifestFlags(node.manifests["kube-scheduler"]) },
    etcd: { flags: manifestFlags(node.manifests.etcd) },
    kubelet: { flags: commandFlags(node.kubeletFlags), config: parseAllDocuments(node.kubeletConfig)[0].toJS() },
    "kube-proxy": { flags: new Map(), config: parseAllDocuments(node.kubeProxyConfig)[0].toJS() },
  };
}

/** A kube-bench test over one value: a flag's value, or a config field rendered as kube-bench renders it. */
interface Expectation {
  readonly says: string;
  readonly test: (value: string | undefined) => boolean;
}

const present: Expectation = { says: "is set", test: (v) => v !== undefined };
const absent: Expectation = { says: "is not set", test: (v) => v === undefined };
const eq = (expected: string): Expectation => ({ says: `= ${expected}`, test: (v) => v !== undefined && v.toLowerCase() === expected.toLowerCase() });
const noteq = (expected: string): Expectation => ({ says: `!= ${expected}`, test: (v) => v !== undefined && v.toLowerCase() !== expected.toLowerCase() });
const gte = (n: number): Expectation => ({ says: `>= ${n}`, test: (v) => v !== undefined && Number(v) >= n });
const has = (part: string): Expectation => ({ says: `includes ${part}`, test: (v) => v !== undefined && v.includes(part) });
const nothave = (part: string): Expectation => ({ says: `excludes ${part}`, test: (v) => v !== undefined && !v.includes(part) });
const validElements = (allowed: string[]): Expectation => ({
  says: `lists only ${allowed.join(",")}`,
  test: (v) => v !== undefined && v.split(",").every((e) => allowed.includes(e.trim())),
});
const or = (a: Expectation, b: Expectation): Expectation => ({ says: `${a.says} or ${b.says}`, test: (v) => a.test(v) || b.test(v) });

export interface CisCheck {
  readonly id: string;
  readonly title: string;
  readonly component: Component;
  /** The flag kube-bench reads; for the kubelet and kube-proxy also the config field it falls back to. */
  readonly flag?: string;
  readonly configPath?: string;
  readonly expect: Expectation;
}

/** Ciphers CIS 1.2.29 accepts for the apiserver, and 4.2.12 for the kubelet. */
const APISERVER_STRONG_CIPHERS = [
  "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
  "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
  "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
  "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];
const KUBELET_STRONG_CIPHERS = [
  "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
  "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
];

const api = (id: string, title: string, flag: string, expect: Expectation): CisCheck => ({ id, title, component: "kube-apiserver", flag, expect });
const kubelet = (id: string, title: string, flag: string, configPath: string, expect: Expectation): CisCheck => ({ id, title, component: "kubelet", flag, configPath, expect });

/** The benchmark items of cis-1.12 that flags and config fields decide (1.2.20 is manual and not evaluated). */
export const CIS_CHECKS: CisCheck[] = [
  api("CIS-1.2.1", "--anonymous-auth is false", "anonymous-auth", eq("false")),
  api("CIS-1.2.2", "--token-auth-file is not set", "token-auth-file", absent),
  api("CIS-1.2.3", "DenyServiceExternalIPs admission plugin is on", "enable-admission-plugins", has("DenyServiceExternalIPs")),
  api("CIS-1.2.4", "--kubelet-client-certificate is set", "kubelet-client-certificate", present),
  api("CIS-1.2.4", "--kubelet-client-key is set", "kubelet-client-key", present),
  api("CIS-1.2.5", "--kubelet-certificate-authority is set", "kubelet-certificate-authority", present),
  api("CIS-1.2.6", "--authorization-mode is not AlwaysAllow", "authorization-mode", nothave("AlwaysAllow")),
  api("CIS-1.2.7", "--authorization-mode includes Node", "authorization-mode", has("Node")),
  api("CIS-1.2.8", "--authorization-mode includes RBAC", "authorization-mode", has("RBAC")),
  api("CIS-1.2.9", "EventRateLimit admission plugin is on", "enable-admission-plugins", has("EventRateLimit")),
  api("CIS-1.2.10", "AlwaysAdmit admission plugin is off", "enable-admission-plugins", or(nothave("AlwaysAdmit"), absent)),
  api("CIS-1.2.11", "AlwaysPullImages admission plugin is on", "enable-admission-plugins", has("AlwaysPullImages")),
  api("CIS-1.2.12", "ServiceAccount admission plugin is not disabled", "disable-admission-plugins", or(nothave("ServiceAccount"), absent)),
  api("CIS-1.2.13", "NamespaceLifecycle admission plugin is not disabled", "disable-admission-plugins", or(nothave("NamespaceLifecycle"), absent)),
  api("CIS-1.2.14", "NodeRestriction admission plugin is on", "enable-admission-plugins", has("NodeRestriction")),
  api("CIS-1.2.15", "--profiling is false", "profiling", eq("false")),
  api("CIS-1.2.16", "--audit-log-path is set", "audit-log-path", present),
  api("CIS-1.2.17", "--audit-log-maxage >= 30", "audit-log-maxage", gte(30)),
  api("CIS-1.2.18", "--audit-log-maxbackup >= 10", "audit-log-maxbackup", gte(10)),
  api("CIS-1.2.19", "--audit-log-maxsize >= 100", "audit-log-maxsize", gte(100)),
  api("CIS-1.2.21", "--service-account-lookup is true", "service-account-lookup", or(absent, eq("true"))),
  api("CIS-1.2.22", "--service-account-key-file is set", "service-account-key-file", present),
  api("CIS-1.2.23", "--etcd-certfile is set", "etcd-certfile", present),
  api("CIS-1.2.23", "--etcd-keyfile is set", "etcd-keyfile", present),
  api("CIS-1.2.24", "--tls-cert-file is set", "tls-cert-file", present),
  api("CIS-1.2.24", "--tls-private-key-file is set", "tls-private-key-file", present),
  api("CIS-1.2.25", "--client-ca-file is set", "client-ca-file", present),
  api("CIS-1.2.26", "--etcd-cafile is set", "etcd-cafile", present),
  api("CIS-1.2.27", "--encryption-provider-config is set", "encryption-provider-config", present),
  api("CIS-1.2.29", "--tls-cipher-suites lists only strong ciphers", "tls-cipher-suites", validElements(APISERVER_STRONG_CIPHERS)),
  api("CIS-1.2.30", "--service-account-extend-token-expiration is false", "service-account-extend-token-expiration", eq("false")),
  api("CIS-3.2.1", "--audit-policy-file is set", "audit-policy-file", present),
  { id: "CIS-1.3.1", title: "--terminated-pod-gc-threshold is set", component: "kube-controller-manager", flag: "terminated-pod-gc-threshold", expect: present },
  { id: "CIS-1.3.2", title: "--profiling is false", component: "kube-controller-manager", flag: "profiling", expect: eq("false") },
  { id: "CIS-1.3.3", title: "--use-service-account-credentials is not false", component: "kube-controller-manager", flag: "use-service-account-credentials", expect: noteq("false") },
  { id: "CIS-1.3.4", title: "--service-account-private-key-file is set", component: "kube-controller-manager", flag: "service-account-private-key-file", expect: present },
  { id: "CIS-1.3.5", title: "--root-ca-file is set", component: "kube-controller-manager", flag: "root-ca-file", expect: present },
  { id: "CIS-1.3.6", title: "RotateKubeletServerCertificate is not turned off", component: "kube-controller-manager", flag: "feature-gates", expect: or(nothave("RotateKubeletServerCertificate=false"), absent) },
  { id: "CIS-1.3.7", title: "--bind-address is 127.0.0.1", component: "kube-controller-manager", flag: "bind-address", expect: or(eq("127.0.0.1"), absent) },
  { id: "CIS-1.4.1", title: "--profiling is false", component: "kube-scheduler", flag: "profiling", expect: eq("false") },
  { id: "CIS-1.4.2", title: "--bind-address is 127.0.0.1", component: "kube-scheduler", flag: "bind-address", expect: or(eq("127.0.0.1"), absent) },
  { id: "CIS-2.1", title: "--cert-file is set", component: "etcd", flag: "cert-file", expect: present },
  { id: "CIS-2.1", title: "--key-file is set", component: "etcd", flag: "key-file", expect: present },
  { id: "CIS-2.2", title: "--client-cert-auth is true", component: "etcd", flag: "client-cert-auth", expect: eq("true") },
  { id: "CIS-2.3", title: "--auto-tls is not true", component: "etcd", flag: "auto-tls", expect: or(absent, eq("false")) },
  { id: "CIS-2.4", title: "--peer-cert-file is set", component: "etcd", flag: "peer-cert-file", expect: present },
  { id: "CIS-2.4", title: "--peer-key-file is set", component: "etcd", flag: "peer-key-file", expect: present },
  { id: "CIS-2.5", title: "--peer-client-cert-auth is true", component: "etcd", flag: "peer-client-cert-auth", expect: eq("true") },
  { id: "CIS-2.6", title: "--peer-auto-tls is not true", component: "etcd", flag: "peer-auto-tls", expect: or(absent, eq("false")) },
  { id: "CIS-2.7", title: "--trusted-ca-file is set", component: "etcd", flag: "trusted-ca-file", expect: present },
  kubelet("CIS-4.2.1", "anonymous auth is off", "anonymous-auth", "authentication.anonymous.enabled", eq("false")),
  kubelet("CIS-4.2.2", "authorization mode is not AlwaysAllow", "authorization-mode", "authorization.mode", nothave("AlwaysAllow")),
  kubelet("CIS-4.2.3", "a client CA file is set", "client-ca-file", "authentication.x509.clientCAFile", present),
  kubelet("CIS-4.2.4", "the read-only port is 0", "read-only-port", "readOnlyPort", or(eq("0"), absent)),
  kubelet("CIS-4.2.5", "the streaming idle timeout is not 0", "streaming-connection-idle-timeout", "streamingConnectionIdleTimeout", or(noteq("0"), absent)),
  kubelet("CIS-4.2.6", "iptables util chains are made", "make-iptables-util-chains", "makeIPTablesUtilChains", or(eq("true"), absent)),
  { id: "CIS-4.2.7", title: "--hostname-override is not set", component: "kubelet", flag: "hostname-override", expect: absent },
  kubelet("CIS-4.2.8", "eventRecordQPS >= 0", "event-qps", "eventRecordQPS", or(gte(0), absent)),
  kubelet("CIS-4.2.9", "a serving certificate file is set", "tls-cert-file", "tlsCertFile", present),
  kubelet("CIS-4.2.10", "certificate rotation is not off", "rotate-certificates", "rotateCertificates", or(eq("true"), absent)),
  kubelet("CIS-4.2.11", "RotateKubeletServerCertificate is not turned off", "feature-gates", "featureGates.RotateKubeletServerCertificate", or(nothave("false"), absent)),
  kubelet("CIS-4.2.12", "only strong ciphers", "tls-cipher-suites", "tlsCipherSuites", validElements(KUBELET_STRONG_CIPHERS)),
  kubelet("CIS-4.2.13", "a pod PID limit is set", "pod-max-pids", "podPidsLimit", present),
  kubelet("CIS-4.2.14", "the seccomp default is set", "seccomp-default", "seccompDefault", present),
  { id: "CIS-4.3.1", title: "kube-proxy metrics bind to localhost", component: "kube-proxy", flag: "metrics-bind-address", configPath: "metricsBindAddress", expect: or(has("127.0.0.1"), absent) },
];

/** kube-bench renders config values as text; a list becomes its comma-joined elements. */
function configValue(config: Record<string, unknown> | undefined, path: string): string | undefined {
  let value: unknown = config;
  for (const key of path.split(".")) value = value && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined;
  if (value === undefined || value === null) return undefined;
  return Array.isArray(value) ? value.join(",") : String(value);
}

export interface CisFinding {
  readonly check: string;
  readonly component: Component;
  readonly detail: string;
}

/** Runs every check against the view: the flag if the component has it, else the config field. */
export function evaluateCis(view: ClusterView, checks = CIS_CHECKS): CisFinding[] {
  return checks.flatMap((check) => {
    const component = view[check.component];
    const fromFlag = check.flag ? component.flags.get(check.flag) : undefined;
    const value = fromFlag ?? (check.configPath ? configValue(component.config, check.configPath) : undefined);
    const source = fromFlag !== undefined ? `--${check.flag}` : (check.configPath ?? `--${check.flag}`);
    return check.expect.test(value)
      ? []
      : [{ check: check.id, component: check.component, detail: `${check.title}: ${source} = ${JSON.stringify(value ?? null)}, expected it ${check.expect.says}` }];
  });
}

/** File checks of sections 1.1 and 4.1: mode no wider than `maxMode`, owner root:root. Paths are kubeadm's. */
export const CIS_FILE_CHECKS: Array<{ id: string; paths: string[]; maxMode: number; directory?: boolean }> = [
  { id: "CIS-1.1.1/1.1.2", paths: ["etc/kubernetes/manifests/kube-apiserver.yaml"], maxMode: 0o600 },
  { id: "CIS-1.1.3/1.1.4", paths: ["etc/kubernetes/manifests/kube-controller-manager.yaml"], maxMode: 0o600 },
  { id: "CIS-1.1.5/1.1.6", paths: ["etc/kubernetes/manifests/kube-scheduler.yaml"], maxMode: 0o600 },
  { id: "CIS-1.1.7/1.1.8", paths: ["etc/kubernetes/manifests/etcd.yaml"], maxMode: 0o600 },
  { id: "CIS-1.1.11", paths: ["var/lib/etcd"], maxMode: 0o700, directory: true },
  { id: "CIS-1.1.13/1.1.14", paths: ["etc/kubernetes/admin.conf", "etc/kubernetes/super-admin.conf"], maxMode: 0o600 },
  { id: "CIS-1.1.15/1.1.16", paths: ["etc/kubernetes/scheduler.conf"], maxMode: 0o600 },
  { id: "CIS-1.1.17/1.1.18", paths: ["etc/kubernetes/controller-manager.conf"], maxMode: 0o600 },
  { id: "CIS-1.1.20", paths: ["etc/kubernetes/pki/*.crt", "etc/kubernetes/pki/etcd/*.crt"], maxMode: 0o644 },
  { id: "CIS-1.1.21", paths: ["etc/kubernetes/pki/*.key", "etc/kubernetes/pki/etcd/*.key"], maxMode: 0o600 },
  { id: "CIS-4.1.1/4.1.2", paths: ["usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf", "etc/systemd/system/kubelet.service.d/10-kubeadm.conf"], maxMode: 0o600 },
  { id: "CIS-4.1.5/4.1.6", paths: ["etc/kubernetes/kubelet.conf"], maxMode: 0o600 },
  { id: "CIS-4.1.7/4.1.8", paths: ["etc/kubernetes/pki/ca.crt"], maxMode: 0o644 },
  { id: "CIS-4.1.9/4.1.10", paths: ["var/lib/kubelet/config.yaml"], maxMode: 0o600 },
];

/**
 * The file items on a node's root directory, with kube-bench's semantics: a
 * mode passes when it has no bit beyond the allowed one; the owner must be
 * root:root. Paths that do not exist on this node are skipped.
 */
export function evaluateFiles(root: string): Array<{ check: string; path: string; detail: string }> {
  return CIS_FILE_CHECKS.flatMap(({ id, paths, maxMode }) =>
    paths.flatMap(expandGlob(root)).flatMap((path) => {
      const stat = statSync(join(root, path));
      const mode = stat.mode & 0o777;
      const problems = [
        ...((mode & ~maxMode) !== 0 ? [`mode ${mode.toString(8)} is wider than ${maxMode.toString(8)}`] : []),
        ...(stat.uid !== 0 || stat.gid !== 0 ? [`owner ${stat.uid}:${stat.gid} is not root:root`] : []),
      ];
      return problems.map((detail) => ({ check: id, path, detail }));
    }),
  );
}

/** `dir/*.ext` to the matching files under root; a plain path to itself if it exists. */
function expandGlob(root: string): (pattern: string) => string[] {
  return (pattern) => {
    const star = pattern.lastIndexOf("/*");
    if (star < 0) return existsSync(join(root, pattern)) ? [pattern] : [];
    const dir = pattern.slice(0, star);
    const suffix = pattern.slice(star + 2);
    if (!existsSync(join(root, dir))) return [];
    return readdirSync(join(root, dir))
      .filter((name) => name.endsWith(suffix))
      .map((name) => `${dir}/${name}`);
  };
}

/** CIS 1.2.28: the first provider for Secrets is aescbc, kms or secretbox, never identity or aesgcm. */
export function firstEncryptionProvider(encryptionConfigYaml: string): string | undefined {
  const config = parseAllDocuments(encryptionConfigYaml)[0]?.toJS() as { resources?: Array<{ resources: string[]; providers: Array<Record<string, unknown>> }> };
  const forSecrets = config?.resources?.find((r) => r.resources.includes("secrets"));
  return forSecrets ? Object.keys(forSecrets.providers[0] ?? {})[0] : undefined;
}
export const STRONG_ENCRYPTION_PROVIDERS = ["aescbc", "kms", "secretbox"];
