import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { renderKubeletPatch } from "../../lib/bootstrap/kubeadm-config";
import { controlPlaneNode } from "../../lib/control-plane/control-plane-user-data";
import { ControlPlaneOptions } from "../../lib/control-plane/settings";
import { resolveNodeGroupSettings } from "../../lib/node-group/settings";
import { controlPlaneBootstrap } from "../helpers/control-plane-fixture";
import { CIS_CHECKS, clusterView, CisFinding, evaluateCis, initDocuments } from "./cis-benchmark";
import { applyExceptions, readExceptions, SECURITY_MD } from "./exceptions";
import { MAXIMAL_CONTROL_PLANE } from "./plan-under-review";

/** The documents `kubeadm init` reads on a control-plane node rendered for these options. */
function initDocs(options: ControlPlaneOptions): Record<string, any> {
  const node = controlPlaneNode(controlPlaneBootstrap(options));
  const init = node.files.find((f) => f.path.endsWith("/init.yaml"))!;
  return initDocuments(init.content);
}

/** The kubelet patch a worker group with tuned kubelet settings joins with. */
function workerKubeletPatch(): Record<string, unknown> {
  const group = resolveNodeGroupSettings({
    name: "batch",
    instanceTypes: ["c7i.2xlarge"],
    minSize: 0,
    maxSize: 10,
    kubelet: { maxPods: 58, systemReserved: { cpu: "250m", memory: "512Mi" } },
  });
  return parse(renderKubeletPatch(group.kubelet));
}

const exceptions = readExceptions().filter((e) => e.check.startsWith("CIS-"));
const open = (findings: CisFinding[]) => applyExceptions(findings, exceptions, (f) => f.component).open;

describe("CIS Kubernetes Benchmark (cis-1.12) on the rendered kubeadm, kubelet and kube-proxy configuration", () => {
  it.each([
    ["default", {}],
    ["maximal", MAXIMAL_CONTROL_PLANE],
  ])("passes every flag and config check on the %s configuration, but for the exceptions in SECURITY.md", (_, options) => {
    expect(open(evaluateCis(clusterView(initDocs(options as ControlPlaneOptions))))).toEqual([]);
  });

  it("passes on a worker whose group tunes its kubelet", () => {
    expect(open(evaluateCis(clusterView(initDocs({}), workerKubeletPatch())))).toEqual([]);
  });

  it("has no stale CIS exception: each one excuses a finding of the default configuration", () => {
    const { used } = applyExceptions(evaluateCis(clusterView(initDocs({}))), exceptions, (f) => f.component);
    // File items are evaluated on a sandboxed node (control-plane-sandbox.test.ts).
    const fileExceptions = ["CIS-1.1.9", "CIS-1.1.10", "CIS-1.1.12"];
    expect(exceptions.filter((e) => !used.has(e) && !fileExceptions.includes(e.check))).toEqual([]);
  });

  it("lists every evaluated item in SECURITY.md", () => {
    const doc = readFileSync(SECURITY_MD, "utf8");
    for (const id of new Set(CIS_CHECKS.map((c) => c.id))) expect({ id, listed: doc.includes(`\`${id}\``) }).toEqual({ id, listed: true });
  });

  describe("fails the named item when a hardening setting is removed", () => {
    type Mutation = [setting: string, expected: string | string[], change: (docs: Record<string, any>) => void];
    const dropArg = (component: "apiServer" | "controllerManager" | "scheduler", name: string) => (docs: Record<string, any>) => {
      const holder = docs.ClusterConfiguration[component];
      holder.extraArgs = holder.extraArgs.filter((a: { name: string }) => a.name !== name);
    };
    const setArg = (component: "apiServer" | "controllerManager" | "scheduler", name: string, value: string) => (docs: Record<string, any>) => {
      dropArg(component, name)(docs);
      docs.ClusterConfiguration[component].extraArgs.push({ name, value });
    };
    const kubeletField = (edit: (k: Record<string, any>) => void) => (docs: Record<string, any>) => edit(docs.KubeletConfiguration);
    const mutations: Mutation[] = [
      ["apiserver profiling", "CIS-1.2.15", dropArg("apiServer", "profiling")],
      ["apiserver audit log path", "CIS-1.2.16", dropArg("apiServer", "audit-log-path")],
      ["apiserver audit policy", "CIS-3.2.1", dropArg("apiServer", "audit-policy-file")],
      ["apiserver audit max age", "CIS-1.2.17", setArg("apiServer", "audit-log-maxage", "7")],
      ["apiserver audit backups", "CIS-1.2.18", dropArg("apiServer", "audit-log-maxbackup")],
      ["apiserver audit size", "CIS-1.2.19", dropArg("apiServer", "audit-log-maxsize")],
      ["apiserver cipher suites", "CIS-1.2.29", dropArg("apiServer", "tls-cipher-suites")],
      ["apiserver weak cipher", "CIS-1.2.29", setArg("apiServer", "tls-cipher-suites", "TLS_RSA_WITH_AES_128_CBC_SHA")],
      ["encryption at rest", "CIS-1.2.27", dropArg("apiServer", "encryption-provider-config")],
      ["kubelet certificate authority", "CIS-1.2.5", dropArg("apiServer", "kubelet-certificate-authority")],
      ["admission plugins (back to kubeadm's)", ["CIS-1.2.3", "CIS-1.2.9"], dropArg("apiServer", "enable-admission-plugins")],
      ["DenyServiceExternalIPs", "CIS-1.2.3", setArg("apiServer", "enable-admission-plugins", "NodeRestriction,EventRateLimit")],
      ["NodeRestriction", "CIS-1.2.14", setArg("apiServer", "enable-admission-plugins", "EventRateLimit,DenyServiceExternalIPs")],
      ["token expiry extension", "CIS-1.2.30", dropArg("apiServer", "service-account-extend-token-expiration")],
      ["AlwaysAllow authorization", "CIS-1.2.6", setArg("apiServer", "authorization-mode", "Node,RBAC,AlwaysAllow")],
      ["a token file", "CIS-1.2.2", setArg("apiServer", "token-auth-file", "/etc/kubernetes/tokens.csv")],
      ["controller-manager profiling", "CIS-1.3.2", dropArg("controllerManager", "profiling")],
      ["terminated-pod GC threshold", "CIS-1.3.1", dropArg("controllerManager", "terminated-pod-gc-threshold")],
      ["controller-manager bind address", "CIS-1.3.7", setArg("controllerManager", "bind-address", "0.0.0.0")],
      ["scheduler profiling", "CIS-1.4.1", dropArg("scheduler", "profiling")],
      ["kubelet anonymous auth", "CIS-4.2.1", kubeletField((k) => (k.authentication.anonymous.enabled = true))],
      ["kubelet webhook authorization", "CIS-4.2.2", kubeletField((k) => (k.authorization.mode = "AlwaysAllow"))],
      ["kubelet client CA", "CIS-4.2.3", kubeletField((k) => delete k.authentication.x509.clientCAFile)],
      ["kubelet read-only port", "CIS-4.2.4", kubeletField((k) => (k.readOnlyPort = 10255))],
      ["kubelet certificate rotation", "CIS-4.2.10", kubeletField((k) => (k.rotateCertificates = false))],
      ["kubelet cipher suites", "CIS-4.2.12", kubeletField((k) => delete k.tlsCipherSuites)],
      ["kubelet PID limit", "CIS-4.2.13", kubeletField((k) => delete k.podPidsLimit)],
      ["kubelet seccomp default", "CIS-4.2.14", kubeletField((k) => delete k.seccompDefault)],
      ["kube-proxy metrics address", "CIS-4.3.1", (docs) => (docs.KubeProxyConfiguration.metricsBindAddress = "0.0.0.0:10249")],
    ];

    it.each(mutations)("%s → %s", (_, expected, change) => {
      const ids = [expected].flat();
      const docs = initDocs({});
      expect(evaluateCis(clusterView(docs)).filter((f) => ids.includes(f.check))).toEqual([]);
      change(docs);
      expect(open(evaluateCis(clusterView(docs))).map((f) => f.check)).toEqual(ids);
    });

    it("kubelet settings a worker group's patch could weaken are still checked after the patch", () => {
      expect(open(evaluateCis(clusterView(initDocs({}), { readOnlyPort: 10255 })))).toEqual([expect.objectContaining({ check: "CIS-4.2.4" })]);
    });
  });
});
