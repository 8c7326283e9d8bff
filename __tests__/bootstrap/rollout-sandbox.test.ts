import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sha256 } from "../../lib/bootstrap/tar";
import { ControlPlaneOptions } from "../../lib/control-plane/settings";
import { controlPlaneImage } from "../helpers/control-plane-fixture";
import { NodeBundle } from "../../lib/bootstrap/user-data";
import { Sandbox, SandboxNode, editedBundle, sandboxBundle } from "../helpers/sandbox";

/**
 * roll-control-plane.sh's orchestration on three booted control-plane nodes,
 * with the sandbox's fakes: turns under the lock, the first node's cluster-wide
 * step, a failure that stops the rollout where it happened, and a dead holder.
 * The gates and the snapshot are stubbed here: real etcd checks them
 * (__tests__/etcd/etcd.test.ts), and the real-binary suite runs the whole
 * script with real kubeadm, etcd and apiservers.
 */

const ROLLOUT = "/k8s/prod/control-plane/rollout";
const openssl = (args: string[]) => {
  const result = spawnSync("openssl", args, { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
};
const CALICO_MANIFEST = "# calico manifest stand-in\n";
const image = (options: ControlPlaneOptions = {}) => controlPlaneImage(options, { calicoSha256: sha256(CALICO_MANIFEST) });
/** Gates that pass and a snapshot that is recorded: what real etcd and a real API decide elsewhere. */
const STUBS = [
  "etcd_all_healthy() { return 0; }",
  "api_ready_through_load_balancer() { return 0; }",
  "api_ready_here() { return 0; }",
  'store_snapshot() { echo "$INSTANCE_ID snapshot $1" >>"$FAKE_STATE/calls.log"; }',
].join("; ");

async function bootThreeNodes(): Promise<{ box: Sandbox; nodes: SandboxNode[] }> {
  const box = new Sandbox();
  writeFileSync(join(box.downloads, "calico.yaml"), CALICO_MANIFEST);
  const nodes = [0, 1, 2].map((i) => box.addNode(i, image()));
  for (const node of nodes) {
    const booted = await box.boot(node);
    if (booted.code !== 0) throw new Error(booted.output);
  }
  return { box, nodes };
}

let booted: Promise<{ box: Sandbox; nodes: SandboxNode[] }> | undefined;

/** Three booted control-plane nodes of the default image: booted once per file, each test rolling its own copy. */
async function bootedCluster(): Promise<{ box: Sandbox; nodes: SandboxNode[] }> {
  booted ??= bootThreeNodes();
  const template = await booted;
  const box = new Sandbox({ from: template.box });
  return { box, nodes: template.nodes.map((node) => box.sameNode(node)) };
}

/** Publishes a bundle as Terraform does: the object, then the parameter that names it. */
function publish(box: Sandbox, options: ControlPlaneOptions, edit: (bundle: NodeBundle) => NodeBundle = (b) => b): string {
  const bundle = edit(sandboxBundle(image(options).bundle));
  box.putObject(bundle.key, bundle.archive);
  box.putParameter(`${ROLLOUT}/bundle`, `${bundle.key} ${bundle.sha256}`);
  return bundle.key;
}

const roll = (box: Sandbox, node: SandboxNode, env: Record<string, string> = {}) =>
  box.shell(node, ["roll-control-plane.sh"], `${STUBS}; main`, { FAKE_KUBE_VERSION: "v1.35.4", ...env });
const status = (box: Sandbox) => JSON.parse(box.ssmValue(`${ROLLOUT}/status`)!);
const lockHolder = (box: Sandbox) => box.ssmValue(`${ROLLOUT}/lock`)?.split(" ")[0];
/** Each node's last bundle annotation, as its Node object would hold it. */
const bundleAnnotations = (box: Sandbox) => {
  const last: Record<string, string> = {};
  for (const line of box.exists("cluster/node-annotations") ? box.file("cluster/node-annotations").trim().split("\n") : []) {
    const [node, annotation] = line.split(" ");
    if (annotation.startsWith("kubeadm-aws.io/bundle=")) last[node] = annotation.slice("kubeadm-aws.io/bundle=".length);
  }
  return last;
};

describe("control-plane rollout in a sandbox", () => {
  it("rolls one node at a time; a failed node stops the rollout and keeps the lock, and it goes on once the node succeeds", async () => {
    const { box, nodes } = await bootedCluster();
    const [n0, n1, n2] = nodes;
    expect((await roll(box, n0)).code).toBe(0);
    expect(box.calls(/kubeadm upgrade|snapshot/)).toEqual([]);
    const booted = image().bundle.key;
    expect(bundleAnnotations(box)).toEqual({});

    const bundle = publish(box, { scheduler: { extraArgs: { v: "2" } } });
    const failed = await roll(box, n0, { FAKE_KUBEADM_UPGRADE_FAIL: "1" });
    expect(failed.code).not.toBe(0);
    expect(status(box)).toMatchObject({ state: "failed", instance: n0.instanceId, bundle, message: expect.stringContaining("stopped at step kubeadm-upgrade-apply") });
    expect(lockHolder(box)).toBe(n0.instanceId);
    // It still runs the bundle it booted with, and its Node says so.
    expect(bundleAnnotations(box)).toEqual({ [n0.hostname]: booted });

    // The others wait their turn, changing nothing, while the failed node holds the lock.
    const waiting = await roll(box, n1);
    expect(waiting).toMatchObject({ code: 0, output: expect.stringContaining(`instance ${n0.instanceId} holds the rollout lock`) });
    expect(box.calls(new RegExp(`^${n1.instanceId} .*(kubeadm upgrade|snapshot)`))).toEqual([]);

    // Fixed: the node retries, and the rollout goes on, one node at a time.
    for (const node of [n0, n1, n2]) expect(await roll(box, node)).toMatchObject({ code: 0 });
    expect(box.calls(/kubeadm upgrade|snapshot/).map((c) => c.split(" ").slice(0, 4).join(" "))).toEqual([
      `${n0.instanceId} snapshot before-rollout`,
      `${n0.instanceId} kubeadm upgrade apply`,
      `${n0.instanceId} snapshot before-rollout`,
      `${n0.instanceId} kubeadm upgrade apply`,
      `${n1.instanceId} kubeadm upgrade node`,
      `${n2.instanceId} kubeadm upgrade node`,
    ]);
    expect(box.calls(/kubeadm upgrade apply/)[1]).toContain("upgrade apply v1.35.4 --yes");
    expect(status(box)).toMatchObject({ state: "rolled", instance: n2.instanceId, bundle });
    expect(lockHolder(box)).toBeUndefined();
    // Each Node names the bundle it runs, for operators (lib/operator).
    expect(bundleAnnotations(box)).toEqual(Object.fromEntries(nodes.map((n) => [n.hostname, bundle])));
    // kubeadm-config holds the new ClusterConfiguration, with the node's values filled in.
    const stored = JSON.parse(box.file("cluster/objects/ConfigMap_kubeadm-config")).data.ClusterConfiguration as string;
    expect(stored).toMatch(/kind: ClusterConfiguration\n/);
    expect(stored).toMatch(/kubernetesVersion: v1\.35\.4\n/);
    expect(stored).toMatch(/- name: v\n\s+value: "2"\n/);
    expect(stored).not.toMatch(/kind: (InitConfiguration|KubeletConfiguration)|\$\{/);
    // Rolled: nothing more to do on any node.
    const before = box.calls().length;
    for (const node of nodes) expect((await roll(box, node)).code).toBe(0);
    expect(box.calls().slice(before).filter((c) => /kubeadm upgrade|put-parameter|snapshot/.test(c))).toEqual([]);
  }, 120_000);

  it("turns workload identity on in a running cluster: the stored configuration gets the issuer, and the rolled node publishes what its apiserver then serves", async () => {
    const box = new Sandbox();
    writeFileSync(join(box.downloads, "calico.yaml"), CALICO_MANIFEST);
    const node = box.addNode(0, image({ workloadIdentity: false }));
    expect((await box.boot(node)).code).toBe(0);
    const issuerCalls = () => box.calls(/--bucket prod-oidc-/).map((c) => c.replace(/^\S+ /, "").replace(/ --body \S+/, ""));
    expect(issuerCalls()).toEqual([]);

    publish(box, {});
    const rolled = await roll(box, node);
    expect({ code: rolled.code, output: rolled.code ? rolled.output : "" }).toEqual({ code: 0, output: "" });
    const issuer = "https://prod-oidc-111122223333-eu-west-1.s3.eu-west-1.amazonaws.com";
    const stored = JSON.parse(box.file("cluster/objects/ConfigMap_kubeadm-config")).data.ClusterConfiguration as string;
    expect([...stored.matchAll(/- name: service-account-issuer\n\s+value: (\S+)/g)].map((m) => m[1])).toEqual([issuer, "https://kubernetes.default.svc.cluster.local"]);
    expect(issuerCalls()).toEqual([
      "aws s3api put-object --expected-bucket-owner 111122223333 --bucket prod-oidc-111122223333-eu-west-1 --key .well-known/openid-configuration --content-type application/json",
      "aws s3api put-object --expected-bucket-owner 111122223333 --bucket prod-oidc-111122223333-eu-west-1 --key openid/v1/jwks --content-type application/json",
    ]);
    // Published after kubeadm rendered the apiserver from the new configuration, and only then.
    const order = box.calls(/kubeadm upgrade apply|--bucket prod-oidc-.*openid-configuration/).map((c) => (/ kubeadm upgrade apply/.test(c) ? "upgrade" : "publish"));
    expect(order).toEqual(["upgrade", "publish"]);
    const published = JSON.parse(readFileSync(join(box.state, "s3", "prod-oidc-111122223333-eu-west-1", ".well-known/openid-configuration"), "utf8"));
    expect(published).toMatchObject({ issuer, jwks_uri: `${issuer}/openid/v1/jwks` });
    expect(status(box)).toMatchObject({ state: "rolled" });
  }, 120_000);

  it("passes the lock of a holder whose instance is gone to the next node, which does the cluster-wide step", async () => {
    const { box, nodes } = await bootedCluster();
    const [n0, n1] = nodes;
    publish(box, { scheduler: { extraArgs: { v: "2" } } });
    expect((await roll(box, n0, { FAKE_KUBEADM_UPGRADE_FAIL: "1" })).code).not.toBe(0);
    box.setInstance(n0, "terminated");
    expect(await roll(box, n1)).toMatchObject({ code: 0 });
    expect(box.calls(/kubeadm upgrade apply/).map((c) => c.split(" ")[0])).toEqual([n0.instanceId, n1.instanceId]);
    expect(status(box)).toMatchObject({ state: "rolled", instance: n1.instanceId });
  }, 120_000);

  it("upgrades a patch: the bundle's kubelet, kubeadm and kubectl first, then kubeadm upgrade apply to that patch, then the kubelet restarts", async () => {
    const { box, nodes } = await bootedCluster();
    publish(box, { kubernetesVersion: "1.35.5" });
    const booted = box.calls().length;
    const rolled = await roll(box, nodes[0], { FAKE_KUBE_VERSION: "v1.35.4" });
    expect({ code: rolled.code, output: rolled.code ? rolled.output : "" }).toEqual({ code: 0, output: "" });
    const steps = box.calls().slice(booted).filter((c) => /^\S+ (apt-get .*install .*kubeadm|kubeadm upgrade|systemctl restart kubelet)/.test(c));
    expect(steps.map((c) => c.split(" ").slice(1).join(" "))).toEqual([
      expect.stringMatching(/^apt-get .*install .*kubelet=1\.35\.5-\* kubeadm=1\.35\.5-\* kubectl=1\.35\.5-\*/),
      expect.stringMatching(/^kubeadm upgrade apply v1\.35\.5 --yes/),
      "systemctl restart kubelet",
    ]);
    expect(readFileSync(join(nodes[0].root, "etc/kubeadm-aws/node.env"), "utf8")).toContain("KUBERNETES_PATCH_VERSION='1.35.5'");
  }, 120_000);

  it("issues the apiserver certificate again when the bundle changes its names (apiServer.certSANs), and only then", async () => {
    const { box, nodes } = await bootedCluster();
    const certificate = (node: SandboxNode) => join(node.root, "etc/kubernetes/pki/apiserver.crt");
    const names = (node: SandboxNode) =>
      openssl(["x509", "-noout", "-ext", "subjectAltName", "-in", certificate(node)]).split("\n")[1].trim().split(", ").sort();
    const publicKey = (args: string[]) => openssl([...args, "-pubout"]);
    const booted = nodes.map(names);
    expect(booted[0]).not.toContain("DNS:api.example.com");

    publish(box, { apiServer: { certSANs: ["api.example.com", "203.0.113.10"] } });
    for (const node of nodes) expect(await roll(box, node)).toMatchObject({ code: 0 });
    nodes.forEach((node, i) => {
      // The new names, and every name the node's certificate had (its own name and address among them).
      expect(names(node)).toEqual([...booted[i], "DNS:api.example.com", "IP Address:203.0.113.10"].sort());
      expect(names(node)).toContain(`DNS:${node.hostname}`);
      const key = join(node.root, "etc/kubernetes/pki/apiserver.key");
      expect(statSync(key).mode & 0o777).toBe(0o600);
      expect(publicKey(["pkey", "-in", key])).toBe(publicKey(["x509", "-noout", "-pubkey", "-in", certificate(node)]));
    });
    expect(box.calls(/kubeadm init phase certs apiserver/)).toHaveLength(3);

    // Another change, the same names: the certificate stays as it is.
    const issued = readFileSync(certificate(nodes[0]), "utf8");
    publish(box, { apiServer: { certSANs: ["api.example.com", "203.0.113.10"] }, scheduler: { extraArgs: { v: "2" } } });
    const again = await roll(box, nodes[0]);
    expect(again).toMatchObject({ code: 0 });
    expect(again.output).not.toContain("the apiserver certificate gets");
    expect(readFileSync(certificate(nodes[0]), "utf8")).toBe(issued);
    const scratch = join(nodes[0].root, "var/lib/kubeadm-aws/run/apiserver-certificate");
    // Nothing of the scratch directory is left: it held a copy of the CA key.
    expect(existsSync(scratch)).toBe(false);

    // Nor when kubeadm fails to issue the candidate: the rollout stops there, and the CA key's copy is gone.
    publish(box, { apiServer: { certSANs: ["api.example.com"] } });
    const failed = await roll(box, nodes[0], { FAKE_KUBEADM_CERTS_FAIL: "1" });
    expect(failed.code).not.toBe(0);
    expect(status(box)).toMatchObject({ state: "failed", message: expect.stringContaining("stopped at step apiserver-certificate") });
    expect(box.calls(/kubeadm init phase certs apiserver/)).toHaveLength(5);
    expect(existsSync(scratch)).toBe(false);
    expect(readFileSync(certificate(nodes[0]), "utf8")).toBe(issued);
  }, 120_000);

  it("stores a new kubelet and kube-proxy configuration in the cluster before and after kubeadm upgrade apply, and restarts kube-proxy only when its own changed", async () => {
    const { box, nodes } = await bootedCluster();
    const [n0, n1, n2] = nodes;
    const configMap = (name: string, key: string) => JSON.parse(box.file(`cluster/objects/ConfigMap_${name}`)).data[key] as string;
    expect(configMap("kubelet-config", "kubelet")).toMatch(/^podPidsLimit: 4096$/m);
    // What a later version of this library might render: a lower PID limit, and a kube-proxy setting.
    const laterKubeletAndProxy = (b: NodeBundle) =>
      editedBundle(b, "/etc/kubeadm-aws/kubeadm/init.yaml", (c) =>
        c.replace("podPidsLimit: 4096", "podPidsLimit: 2048").replace("mode: iptables\n", "mode: iptables\niptables:\n  syncPeriod: 45s\n"),
      );
    const bundle = publish(box, {}, laterKubeletAndProxy);
    const before = box.calls().length;
    for (const node of nodes) expect(await roll(box, node)).toMatchObject({ code: 0 });
    const steps = box.calls().slice(before).filter((c) => /kubeadm (init phase|upgrade)|rollout restart/.test(c));
    expect(steps.map((c) => c.replace(/ --(kubeconfig|config) \S+/g, ""))).toEqual([
      `${n0.instanceId} kubeadm init phase upload-config kubelet`,
      `${n0.instanceId} kubeadm upgrade apply v1.35.4 --yes`,
      `${n0.instanceId} kubeadm init phase addon kube-proxy`,
      `${n0.instanceId} kubectl -n kube-system rollout restart daemonset kube-proxy`,
      `${n0.instanceId} kubeadm init phase certs apiserver`,
      `${n1.instanceId} kubeadm upgrade node`,
      `${n1.instanceId} kubeadm init phase certs apiserver`,
      `${n2.instanceId} kubeadm upgrade node`,
      `${n2.instanceId} kubeadm init phase certs apiserver`,
    ]);
    expect(configMap("kubelet-config", "kubelet")).toMatch(/^podPidsLimit: 2048$/m);
    expect(configMap("kubelet-config", "kubelet")).not.toMatch(/\$\{/);
    expect(configMap("kube-proxy", "config.conf")).toMatch(/^iptables:\n {2}syncPeriod: 45s$/m);
    expect(status(box)).toMatchObject({ state: "rolled", bundle });

    // Another change that leaves kube-proxy's configuration as it is: its pods stay.
    const next = box.calls().length;
    publish(box, { scheduler: { extraArgs: { v: "2" } } }, laterKubeletAndProxy);
    expect(await roll(box, n0)).toMatchObject({ code: 0 });
    expect(box.calls().slice(next).filter((c) => /phase addon kube-proxy|rollout restart/.test(c))).toEqual([expect.stringContaining("kubeadm init phase addon kube-proxy")]);
  }, 120_000);

  it("refuses a bundle of another minor before it changes anything: a minor changes by replacing nodes", async () => {
    const { box, nodes } = await bootedCluster();
    const envFile = join(nodes[0].root, "etc/kubeadm-aws/node.env");
    const env = readFileSync(envFile, "utf8");
    publish(box, { kubernetesVersion: "1.36" });
    const refused = await roll(box, nodes[0]);
    expect(refused.code).not.toBe(0);
    expect(refused.output).toContain("the new bundle is for Kubernetes 1.36, this node runs 1.35: a minor changes by replacing nodes, not in place");
    expect(status(box)).toMatchObject({ state: "failed", message: expect.stringContaining("stopped at step install-bundle") });
    expect(readFileSync(envFile, "utf8")).toBe(env);
    expect(box.calls(/kubeadm upgrade|snapshot/)).toEqual([]);
  }, 120_000);
});
