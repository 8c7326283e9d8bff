import { parseAllDocuments } from "yaml";
import { KubeadmClusterSettings, mergeArgs, renderControlPlaneJoinConfig, renderInitConfig } from "../../lib/bootstrap/kubeadm-config";
import { RUNTIME_PLACEHOLDERS } from "../../lib/bootstrap/node-files";
import { validateKubernetesConfig } from "../helpers/kube-schema";

const SETTINGS: KubeadmClusterSettings = {
  clusterName: "prod",
  controlPlaneEndpoint: "api.prod.k8s.internal:6443",
  podCidr: "192.168.0.0/16",
  serviceCidr: "10.96.0.0/12",
  clusterDomain: "cluster.local",
  apiServer: {
    extraArgs: { "audit-log-maxage": "7", "event-ttl": "2h" },
    certSANs: ["k8s.example.com"],
    publicEndpoint: true,
    audit: { maxAgeDays: 30, maxBackups: 10, maxSizeMiB: 100 },
    encryptionAtRest: true,
    podSecurity: { enforce: "baseline", audit: "restricted", warn: "restricted", exemptNamespaces: ["kube-system"] },
  },
  controllerManager: { extraArgs: { "node-monitor-grace-period": "50s" }, controllers: ["*", "bootstrapsigner", "tokencleaner", "-ttl"] },
  scheduler: { extraArgs: { v: "3" } },
  etcd: { extraArgs: { "quota-backend-bytes": "8589934592" } },
  joinTokenTtlMinutes: 24 * 60,
};

/** What the node's envsubst produces, so documents can be read as the node's kubeadm reads them. */
function filled(yaml: string): string {
  const values: Record<string, string> = {
    KUBERNETES_VERSION: "v1.35.2",
    JOIN_TOKEN: "abcdef.0123456789abcdef",
    CA_CERT_HASH: "sha256:" + "a".repeat(64),
    PUBLIC_API_HOST: "prod-api-public-0123.elb.eu-west-1.amazonaws.com",
  };
  return yaml.replace(/\$\{([A-Z_]+)\}/g, (_, name) => values[name]);
}

function documents(yaml: string): Record<string, any> {
  return Object.fromEntries(parseAllDocuments(filled(yaml)).map((d) => [d.toJS().kind, d.toJS()]));
}

const arg = (args: Array<{ name: string; value: string }>, name: string) => args.filter((a) => a.name === name).map((a) => a.value);

describe("kubeadm configs", () => {
  const init = documents(renderInitConfig(SETTINGS));
  const cluster = init.ClusterConfiguration;

  it("use only fields of the upstream kubeadm v1beta4, kubelet v1beta1 and kube-proxy v1alpha1 types", () => {
    expect(validateKubernetesConfig(filled(renderInitConfig(SETTINGS)))).toEqual([]);
    expect(validateKubernetesConfig(filled(renderControlPlaneJoinConfig(SETTINGS)))).toEqual([]);
  });

  it("the schema check catches an unknown field and a v1beta3-style extraArgs map", () => {
    const broken = filled(renderInitConfig(SETTINGS))
      .replace("clusterName: prod", "clusterName: prod\nmasterEndpoint: x")
      .replace(/scheduler:\n  extraArgs:\n(    - .*\n      .*\n)+/, "scheduler:\n  extraArgs:\n    v: \"3\"\n");
    expect(validateKubernetesConfig(broken)).toEqual([
      "ClusterConfiguration.masterEndpoint: unknown field of ClusterConfiguration",
      'ClusterConfiguration.scheduler.extraArgs: expected a list, got {"v":"3"}',
    ]);
  });

  it("render the init, cluster, kubelet and kube-proxy documents in that order", () => {
    const kinds = parseAllDocuments(renderInitConfig(SETTINGS)).map((d) => d.toJS().kind);
    expect(kinds).toEqual(["InitConfiguration", "ClusterConfiguration", "KubeletConfiguration", "KubeProxyConfiguration"]);
  });

  it("pass extraArgs as name/value lists, the user's value winning by name, sorted", () => {
    expect(mergeArgs({ b: "1", a: "2" }, { b: "3", c: "4" })).toEqual([
      { name: "a", value: "2" },
      { name: "b", value: "3" },
      { name: "c", value: "4" },
    ]);
    expect(arg(cluster.apiServer.extraArgs, "audit-log-maxage")).toEqual(["7"]);
    expect(arg(cluster.apiServer.extraArgs, "event-ttl")).toEqual(["2h"]);
    expect(arg(cluster.controllerManager.extraArgs, "node-monitor-grace-period")).toEqual(["50s"]);
    expect(arg(cluster.scheduler.extraArgs, "v")).toEqual(["3"]);
    expect(arg(cluster.etcd.local.extraArgs, "quota-backend-bytes")).toEqual(["8589934592"]);
  });

  it("carry the component settings: controllers, endpoint, networks, SANs", () => {
    expect(arg(cluster.controllerManager.extraArgs, "controllers")).toEqual(["*,bootstrapsigner,tokencleaner,-ttl"]);
    expect(arg(cluster.controllerManager.extraArgs, "cloud-provider")).toEqual(["external"]);
    expect(cluster.controlPlaneEndpoint).toBe("api.prod.k8s.internal:6443");
    expect(cluster.networking).toEqual({ podSubnet: "192.168.0.0/16", serviceSubnet: "10.96.0.0/12", dnsDomain: "cluster.local" });
    // Loopback too: the cloud controller manager calls the local apiserver at 127.0.0.1 (proven with real TLS in __tests__/kubernetes).
    expect(cluster.apiServer.certSANs).toEqual(["api.prod.k8s.internal", "127.0.0.1", "localhost", "k8s.example.com", "prod-api-public-0123.elb.eu-west-1.amazonaws.com"]);
    expect(cluster.kubernetesVersion).toBe("v1.35.2");
  });

  it("audit every request and encrypt Secrets at rest, with the files mounted into the apiserver", () => {
    const args = cluster.apiServer.extraArgs;
    expect(arg(args, "audit-policy-file")).toEqual(["/etc/kubernetes/audit/policy.yaml"]);
    expect(arg(args, "audit-log-path")).toEqual(["/var/log/kubernetes/audit/audit.log"]);
    expect(arg(args, "encryption-provider-config")).toEqual(["/etc/kubernetes/encryption/config.yaml"]);
    expect(cluster.apiServer.extraVolumes.map((v: any) => v.hostPath)).toEqual([
      "/etc/kubernetes/audit",
      "/var/log/kubernetes/audit",
      "/etc/kubernetes/apiserver",
      "/etc/kubernetes/encryption",
    ]);
    expect(cluster.apiServer.extraVolumes.filter((v: any) => v.readOnly).map((v: any) => v.name)).toEqual(["audit-policy", "apiserver-config", "encryption-config"]);
  });

  it("leave the encryption config out when encryption at rest is off", () => {
    const off = documents(renderInitConfig({ ...SETTINGS, apiServer: { ...SETTINGS.apiServer, encryptionAtRest: false } })).ClusterConfiguration;
    expect(arg(off.apiServer.extraArgs, "encryption-provider-config")).toEqual([]);
    expect(off.apiServer.extraVolumes).toHaveLength(3);
  });

  it("never pass --cloud-provider to the apiserver, which no longer has the flag", () => {
    expect(arg(cluster.apiServer.extraArgs, "cloud-provider")).toEqual([]);
  });

  it("register every kubelet for the external cloud provider", () => {
    expect(init.InitConfiguration.nodeRegistration.kubeletExtraArgs).toEqual([{ name: "cloud-provider", value: "external" }]);
  });

  it("join control-plane nodes through a bootstrap token with the CA hash pinned", () => {
    const join = documents(renderControlPlaneJoinConfig(SETTINGS)).JoinConfiguration;
    expect(join.discovery.bootstrapToken).toEqual({
      apiServerEndpoint: "api.prod.k8s.internal:6443",
      token: "abcdef.0123456789abcdef",
      caCertHashes: ["sha256:" + "a".repeat(64)],
    });
    expect(join.controlPlane).toEqual({ localAPIEndpoint: {} });
    expect(renderControlPlaneJoinConfig(SETTINGS)).not.toContain("unsafeSkipCAVerification");
  });

  it("use only the runtime placeholders the scripts fill", () => {
    const used = [...(renderInitConfig(SETTINGS) + renderControlPlaneJoinConfig(SETTINGS)).matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1]);
    for (const name of used) expect(RUNTIME_PLACEHOLDERS).toContain(name);
  });
});
