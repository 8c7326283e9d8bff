import { PodSecurityDefaults } from "./apiserver-config";
import { NODE_FILES, placeholder } from "./node-files";
import { toYamlDocuments } from "./yaml";
import {
  Arg,
  ClusterConfiguration,
  HostPathMount,
  InitConfiguration,
  JoinConfiguration,
  KubeletConfiguration,
  KubeProxyConfiguration,
  NodeRegistrationOptions,
  Taint,
  Timeouts,
} from "./kubeadm-types";

/** Everything the control-plane kubeadm configs depend on, resolved from props. */
export interface KubeadmClusterSettings {
  readonly clusterName: string;
  /** host:port every node uses for the API (the internal load balancer's stable name). */
  readonly controlPlaneEndpoint: string;
  readonly podCidr: string;
  readonly serviceCidr: string;
  readonly clusterDomain: string;
  readonly apiServer: {
    readonly extraArgs: Record<string, string>;
    readonly certSANs: string[];
    /** Adds the public load balancer's name, known only on the node, to the certificate. */
    readonly publicEndpoint: boolean;
    readonly audit: { readonly maxAgeDays: number; readonly maxBackups: number; readonly maxSizeMiB: number };
    readonly encryptionAtRest: boolean;
    readonly podSecurity: PodSecurityDefaults;
    /** Service-account token issuers, the first signing, and the public keys' URL; kubeadm's in-cluster issuer when absent. */
    readonly serviceAccountIssuers?: { readonly issuers: string[]; readonly jwksUri: string };
  };
  readonly controllerManager: { readonly extraArgs: Record<string, string>; readonly controllers: string[] };
  readonly scheduler: { readonly extraArgs: Record<string, string> };
  readonly etcd: { readonly extraArgs: Record<string, string> };
  /** Lifetime of the init token and of every token the rotation timer makes. */
  readonly joinTokenTtlMinutes: number;
}

/** TLS 1.2 suites with forward secrecy and AEAD only (CIS 1.2.x and 4.2.x "strong cryptographic ciphers"). */
export const STRONG_TLS_CIPHER_SUITES = [
  "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
  "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
  "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
  "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
  "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
  "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
];

/**
 * Loopback names for the local apiserver, which kubeadm leaves out of its
 * certificate: the cloud controller manager reaches the API at 127.0.0.1
 * before kube-proxy and the CNI exist, and an operator on the node may too.
 */
export const LOOPBACK_API_NAMES = ["127.0.0.1", "localhost"] as const;

export const CONTAINERD_SOCKET = "unix:///run/containerd/containerd.sock";

/** Our bootstrap tokens, the init token and rotated ones alike: rotate-join-token.sh revokes only tokens with this description. */
export const JOIN_TOKEN_DESCRIPTION = "kubeadm-aws join token, rotated into SSM";

/** A number of minutes as Go prints a time.Duration, the form kubeadm writes back: 1440 is "24h0m0s". */
export function goDuration(minutes: number): string {
  const hours = Math.floor(minutes / 60);
  return `${hours ? `${hours}h` : ""}${minutes % 60}m0s`;
}

/** Our flags merged with the user's, the user winning by name; sorted so output is stable. */
export function mergeArgs(defaults: Record<string, string>, overrides: Record<string, string>): Arg[] {
  const merged = { ...defaults, ...overrides };
  return Object.keys(merged)
    .sort()
    .map((name) => ({ name, value: merged[name] }));
}

/** Flags kubelets get on every node: the AWS cloud controller manager initializes nodes. */
export function kubeletExtraArgs(): Arg[] {
  return [{ name: "cloud-provider", value: "external" }];
}

/**
 * Admission plugins on top of kube-apiserver's default set: NodeRestriction
 * (kubeadm's choice; kubelets edit only their own Node and pods),
 * EventRateLimit and DenyServiceExternalIPs (CIS 1.2.9, 1.2.3). PodSecurity is
 * on by default and configured through the admission configuration file.
 */
const ADMISSION_PLUGINS = ["NodeRestriction", "EventRateLimit", "DenyServiceExternalIPs"] as const;

/**
 * The kube-apiserver flags we set on top of kubeadm's defaults. SECURITY.md
 * maps them to the CIS Kubernetes Benchmark items they satisfy.
 */
function apiServerArgs(s: KubeadmClusterSettings): Record<string, string> {
  const audit = s.apiServer.audit;
  return {
    "admission-control-config-file": NODE_FILES.admissionConfig,
    "audit-log-path": `${NODE_FILES.auditLogDir}/audit.log`,
    "audit-policy-file": NODE_FILES.auditPolicy,
    "audit-log-maxage": String(audit.maxAgeDays),
    "audit-log-maxbackup": String(audit.maxBackups),
    "audit-log-maxsize": String(audit.maxSizeMiB),
    // Anonymous requests only on the health paths; replaces --anonymous-auth, which cannot be combined with it.
    "authentication-config": NODE_FILES.authenticationConfig,
    "enable-admission-plugins": ADMISSION_PLUGINS.join(","),
    // Kubelet serving certificates are signed by the cluster CA (serverTLSBootstrap), so the apiserver verifies them.
    "kubelet-certificate-authority": NODE_FILES.clusterCa,
    profiling: "false",
    "service-account-extend-token-expiration": "false",
    "tls-cipher-suites": STRONG_TLS_CIPHER_SUITES.join(","),
    "tls-min-version": "VersionTLS12",
    ...(s.apiServer.encryptionAtRest ? { "encryption-provider-config": NODE_FILES.encryptionConfig } : {}),
  };
}

/**
 * kube-apiserver takes --service-account-issuer once per issuer and signs with the first. kubeadm keeps every
 * instance of a flag given in extraArgs, in order, and drops its own default issuer, which the caller lists too.
 */
function serviceAccountIssuerArgs(issuers: KubeadmClusterSettings["apiServer"]["serviceAccountIssuers"]): Arg[] {
  if (!issuers) return [];
  return [...issuers.issuers.map((value) => ({ name: "service-account-issuer", value })), { name: "service-account-jwks-uri", value: issuers.jwksUri }];
}

export function clusterConfiguration(s: KubeadmClusterSettings): ClusterConfiguration {
  const readOnlyDir = (name: string, file: string): HostPathMount => ({
    name,
    hostPath: dirname(file),
    mountPath: dirname(file),
    readOnly: true,
    pathType: "DirectoryOrCreate",
  });
  const volumes: HostPathMount[] = [
    readOnlyDir("audit-policy", NODE_FILES.auditPolicy),
    { name: "audit-log", hostPath: NODE_FILES.auditLogDir, mountPath: NODE_FILES.auditLogDir, readOnly: false, pathType: "DirectoryOrCreate" },
    readOnlyDir("apiserver-config", NODE_FILES.authenticationConfig),
  ];
  if (s.apiServer.encryptionAtRest) volumes.push(readOnlyDir("encryption-config", NODE_FILES.encryptionConfig));
  const certSANs = [
    hostOf(s.controlPlaneEndpoint),
    ...LOOPBACK_API_NAMES,
    ...s.apiServer.certSANs,
    ...(s.apiServer.publicEndpoint ? [placeholder("PUBLIC_API_HOST")] : []),
  ];
  return {
    apiVersion: "kubeadm.k8s.io/v1beta4",
    kind: "ClusterConfiguration",
    clusterName: s.clusterName,
    kubernetesVersion: placeholder("KUBERNETES_VERSION"),
    controlPlaneEndpoint: s.controlPlaneEndpoint,
    networking: { podSubnet: s.podCidr, serviceSubnet: s.serviceCidr, dnsDomain: s.clusterDomain },
    apiServer: {
      certSANs: [...new Set(certSANs)],
      extraArgs: [...mergeArgs(apiServerArgs(s), s.apiServer.extraArgs), ...serviceAccountIssuerArgs(s.apiServer.serviceAccountIssuers)],
      extraVolumes: volumes,
    },
    controllerManager: {
      extraArgs: mergeArgs(
        {
          "cloud-provider": "external",
          controllers: s.controllerManager.controllers.join(","),
          profiling: "false",
          "terminated-pod-gc-threshold": "12500",
          "tls-cipher-suites": STRONG_TLS_CIPHER_SUITES.join(","),
        },
        s.controllerManager.extraArgs,
      ),
    },
    scheduler: { extraArgs: mergeArgs({ profiling: "false", "tls-cipher-suites": STRONG_TLS_CIPHER_SUITES.join(",") }, s.scheduler.extraArgs) },
    etcd: { local: { extraArgs: mergeArgs({ "cipher-suites": STRONG_TLS_CIPHER_SUITES.join(",") }, s.etcd.extraArgs) } },
  };
}

/** Kubelet settings shared by every node through kubeadm's kubelet-config ConfigMap. */
export function kubeletConfiguration(s: Pick<KubeadmClusterSettings, "clusterDomain">): KubeletConfiguration {
  return {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    cgroupDriver: "systemd",
    clusterDomain: s.clusterDomain,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: NODE_FILES.clusterCa } },
    authorization: { mode: "Webhook" },
    readOnlyPort: 0,
    rotateCertificates: true,
    // Serving certificates signed by the cluster CA (approved by the control plane), so kubelets can be verified.
    serverTLSBootstrap: true,
    protectKernelDefaults: true,
    seccompDefault: true,
    podPidsLimit: 4096,
    tlsMinVersion: "VersionTLS12",
    tlsCipherSuites: STRONG_TLS_CIPHER_SUITES,
    // Graceful node shutdown: pods get time to stop when a node is terminated or reclaimed.
    shutdownGracePeriod: "60s",
    shutdownGracePeriodCriticalPods: "20s",
  };
}

export function kubeProxyConfiguration(): KubeProxyConfiguration {
  // Metrics only on loopback (CIS 4.3.1), said explicitly rather than left to a default.
  return { apiVersion: "kubeproxy.config.k8s.io/v1alpha1", kind: "KubeProxyConfiguration", mode: "iptables", metricsBindAddress: "127.0.0.1:10249" };
}

/**
 * Generous timeouts: the first node may wait for its load balancer, and a
 * joining node for the cluster, longer than kubeadm's defaults assume.
 */
const TIMEOUTS: Timeouts = { controlPlaneComponentHealthCheck: "5m0s", kubernetesAPICall: "2m0s", discovery: "10m0s", tlsBootstrap: "10m0s" };

function nodeRegistration(taints?: Taint[], labels?: Record<string, string>): NodeRegistrationOptions {
  const nodeLabels = Object.entries(labels ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}=${value}`);
  const args = [...kubeletExtraArgs(), ...(nodeLabels.length ? [{ name: "node-labels", value: nodeLabels.join(",") }] : [])];
  return { criSocket: CONTAINERD_SOCKET, imagePullPolicy: "IfNotPresent", kubeletExtraArgs: args, ...(taints ? { taints } : {}) };
}

/** The config `kubeadm init` reads: init, cluster, kubelet and kube-proxy documents. */
export function renderInitConfig(s: KubeadmClusterSettings): string {
  const init: InitConfiguration = {
    apiVersion: "kubeadm.k8s.io/v1beta4",
    kind: "InitConfiguration",
    // The first join token: generated on the node, then kept fresh in SSM by the rotation timer.
    bootstrapTokens: [
      {
        token: placeholder("JOIN_TOKEN"),
        description: JOIN_TOKEN_DESCRIPTION,
        ttl: goDuration(s.joinTokenTtlMinutes),
        usages: ["signing", "authentication"],
        groups: ["system:bootstrappers:kubeadm:default-node-token"],
      },
    ],
    nodeRegistration: nodeRegistration(),
    timeouts: TIMEOUTS,
  };
  return toYamlDocuments([init, clusterConfiguration(s), kubeletConfiguration(s), kubeProxyConfiguration()]);
}

/** A JoinConfiguration that discovers the cluster through a bootstrap token, always pinning the CA hash. */
export function joinConfiguration(
  controlPlaneEndpoint: string,
  options: { controlPlane: boolean; taints?: Taint[]; labels?: Record<string, string>; patchesDirectory?: string },
): JoinConfiguration {
  return {
    apiVersion: "kubeadm.k8s.io/v1beta4",
    kind: "JoinConfiguration",
    discovery: {
      bootstrapToken: { apiServerEndpoint: controlPlaneEndpoint, token: placeholder("JOIN_TOKEN"), caCertHashes: [placeholder("CA_CERT_HASH")] },
    },
    nodeRegistration: nodeRegistration(options.taints, options.labels),
    ...(options.controlPlane ? { controlPlane: { localAPIEndpoint: {} } } : {}),
    ...(options.patchesDirectory ? { patches: { directory: options.patchesDirectory } } : {}),
    timeouts: TIMEOUTS,
  };
}

/** A worker's join: its labels and taints at registration, its kubelet settings as a kubeadm patch. */
export function renderWorkerJoinConfig(
  controlPlaneEndpoint: string,
  options: { labels: Record<string, string>; taints: Taint[]; patchesDirectory: string },
): string {
  return toYamlDocuments([joinConfiguration(controlPlaneEndpoint, { controlPlane: false, ...options })]);
}

/** A merge patch over the cluster's KubeletConfiguration, which kubeadm applies when the node joins. */
export function renderKubeletPatch(kubelet: {
  systemReserved: Record<string, string>;
  kubeReserved: Record<string, string>;
  evictionHard: Record<string, string>;
  maxPods: number;
}): string {
  return toYamlDocuments([{ apiVersion: "kubelet.config.k8s.io/v1beta1", kind: "KubeletConfiguration", ...kubelet }]);
}

export function renderControlPlaneJoinConfig(s: Pick<KubeadmClusterSettings, "controlPlaneEndpoint">): string {
  return toYamlDocuments([joinConfiguration(s.controlPlaneEndpoint, { controlPlane: true })]);
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

function hostOf(endpoint: string): string {
  return endpoint.replace(/:\d+$/, "");
}
