import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sha256 } from "../../lib/bootstrap/tar";
import { ControlPlaneOptions } from "../../lib/control-plane/settings";
import { controlPlaneImage } from "../helpers/control-plane-fixture";
import { NodeBundle } from "../../lib/bootstrap/user-data";
import { Sandbox, SandboxNode, editedBundle, sandboxBundle } from "../helpers/sandbox";
import { workerImage } from "../helpers/worker-fixture";

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
  // FAKE_ETCD_UNHEALTHY: a member does not answer.
  'etcd_all_healthy() { [[ -z ${FAKE_ETCD_UNHEALTHY:-} ]]; }',
  "api_ready_through_load_balancer() { return 0; }",
  "api_ready_here() { return 0; }",
  'store_snapshot() { echo "$INSTANCE_ID snapshot $1" >>"$FAKE_STATE/calls.log"; }',
  // The started members, as the sandbox's etcd membership (fakes/ctr) holds them.
  "etcd_member_names() { awk 'NF == 3 && $2 != \"-\" { print $2 }' \"$FAKE_STATE/cluster/etcd-members\"; }",
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

  it("refuses a bundle that skips a minor before it changes anything", async () => {
    const { box, nodes } = await bootedCluster();
    const envFile = join(nodes[0].root, "etc/kubeadm-aws/node.env");
    const env = readFileSync(envFile, "utf8");
    publish(box, {}, (b) => editedBundle(b, "/etc/kubeadm-aws/bundle.env", (c) => c.replace("KUBERNETES_MINOR='1.35'", "KUBERNETES_MINOR='1.37'")));
    const refused = await roll(box, nodes[0]);
    expect(refused.code).not.toBe(0);
    expect(refused.output).toContain("the new bundle is for Kubernetes 1.37, this node runs 1.35: a minor changes one at a time, and never down");
    expect(status(box)).toMatchObject({ state: "failed", message: expect.stringContaining("stopped at step fetch-bundle") });
    expect(readFileSync(envFile, "utf8")).toBe(env);
    expect(box.calls(/kubeadm upgrade|snapshot|set-desired-capacity/)).toEqual([]);
  }, 120_000);

  it("stops a minor upgrade while etcd is unhealthy, and while a successor does not serve; it goes on once the cause is fixed", async () => {
    const { box, nodes } = await bootedCluster();
    const [n0, n1] = nodes;
    nodes.forEach((node, i) => {
      box.setGroup(node, `prod-control-plane-${i}`);
      box.registerNode(node, "v1.35.2");
    });
    const next = image({ kubernetesVersion: "1.36" });
    box.putObject(next.bundle.key, next.bundle.archive);
    box.putParameter(`${ROLLOUT}/bundle`, `${next.bundle.key} ${next.bundle.sha256}`);
    const rollOld = (node: SandboxNode, env: Record<string, string> = {}) => roll(box, node, { FAKE_KUBE_VERSION: "v1.35.2", ...env });

    // An unhealthy member: nothing starts, and the lock is free.
    expect(await rollOld(n0, { FAKE_ETCD_UNHEALTHY: "1" })).toMatchObject({ code: 0 });
    expect(status(box)).toMatchObject({ state: "waiting", message: expect.stringContaining("etcd is not healthy") });
    expect(box.calls(/snapshot before|set-desired-capacity/)).toEqual([]);
    expect(lockHolder(box)).toBeUndefined();

    // Healthy: the successor is launched, and never arrives in time; the rollout stops there, n0 keeping the lock.
    expect(await rollOld(n0)).toMatchObject({ code: 0 });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const envFile = join(n0.root, "etc/kubeadm-aws/node.env");
    const timeout = (seconds: number) => writeFileSync(envFile, readFileSync(envFile, "utf8").replace(/^REPLACEMENT_TIMEOUT_SECONDS=.*$/m, `REPLACEMENT_TIMEOUT_SECONDS='${seconds}'`));
    timeout(1);
    const late = await rollOld(n0);
    expect(late.code).not.toBe(0);
    expect(status(box)).toMatchObject({ state: "failed", message: expect.stringContaining(`${n0.instanceId} stopped at step wait-for-successor`) });
    expect(late.output).toContain("its successor (none launched) in prod-control-plane-0 has not joined on Kubernetes 1.36 within 1s");
    expect(lockHolder(box)).toBe(n0.instanceId);
    expect((await rollOld(n1)).output).toContain(`instance ${n0.instanceId} holds the rollout lock`);

    // The group launches a successor (an operator terminated a broken one, say): its wait starts again. It joins, but
    // while a member does not answer, n0 stays.
    const successor = box.addNode(3, next, "control-plane", { CONTAINERD_SOURCE: "ubuntu" });
    box.setGroup(successor, "prod-control-plane-0");
    expect(await box.boot(successor, { FAKE_KUBE_VERSION: "v1.36.3" })).toMatchObject({ code: 0 });
    box.registerNode(successor, "v1.36.3");
    timeout(600);
    expect(await rollOld(n0, { FAKE_ETCD_UNHEALTHY: "1" })).toMatchObject({ code: 0 });
    expect(box.calls(/terminate-instance|member remove/)).toEqual([]);
    expect(await rollOld(n0)).toMatchObject({ code: 0 });
    expect(box.calls(/terminate-instance/)).toEqual([expect.stringContaining(`--instance-id ${n0.instanceId} --should-decrement-desired-capacity`)]);
    expect(status(box)).toMatchObject({ state: "rolling", message: `${n0.instanceId} left the cluster to its successor in prod-control-plane-0` });
    // Only one snapshot and one cluster-wide step for the whole upgrade.
    expect(box.calls(/snapshot before|patch configmap kubeadm-config/)).toHaveLength(2);

    // Another deploy before the upgrade has finished: the successor rolls nothing in place until then.
    publish(box, { kubernetesVersion: "1.36", scheduler: { extraArgs: { v: "2" } } });
    const early = await roll(box, successor, { FAKE_KUBE_VERSION: "v1.36.3" });
    expect(early).toMatchObject({ code: 0, output: expect.stringContaining("the cluster runs v1.35.2; this 1.36 node waits for the minor upgrade to finish") });
    expect(box.calls(new RegExp(`^${successor.instanceId} .*(kubeadm upgrade|kubeadm init phase)`))).toEqual([]);
  }, 180_000);

  it("upgrades the minor by replacing control-plane nodes one at a time: snapshot first, each successor serving before its node leaves, then kube-proxy and the cluster's version; add-ons and workers after", async () => {
    const { box, nodes } = await bootedCluster();
    const [n0, n1, n2] = nodes;
    const group = (i: number) => `prod-control-plane-${i}`;
    nodes.forEach((node, i) => {
      box.setGroup(node, group(i));
      box.registerNode(node, "v1.35.2");
    });
    // The 1.36 nodes' containerd 2 comes from its release archive, which the sandbox cannot serve with its pinned sha256.
    const next = image({ kubernetesVersion: "1.36" });
    box.putObject(next.bundle.key, next.bundle.archive);
    box.putParameter(`${ROLLOUT}/bundle`, `${next.bundle.key} ${next.bundle.sha256}`);
    const successorEnv = { CONTAINERD_SOURCE: "ubuntu" };
    const at1_36 = { FAKE_KUBE_VERSION: "v1.36.3" };
    const rollOld = (node: SandboxNode) => roll(box, node, { FAKE_KUBE_VERSION: "v1.35.2" });
    const start = box.calls().length;
    const since = (filter: RegExp) => box.calls().slice(start).filter((c) => filter.test(c));
    const ok = (r: { code: number | null; output: string }) => expect({ code: r.code, output: r.code ? r.output : "" }).toEqual({ code: 0, output: "" });

    // A worker of 1.36 launched by its group's instance refresh waits for the control plane.
    const worker = box.addNode(9, workerImage({}, "1.36"), "worker", { ...successorEnv, MINOR_UPGRADE_WAIT_SECONDS: "600" });
    const workerBoot = box.boot(worker, at1_36);

    // Each old node in turn: it launches its successor, waits for it to serve, then leaves.
    const successors: SandboxNode[] = [];
    for (const [i, old] of [n0, n1, n2].entries()) {
      ok(await rollOld(old));
      expect(box.desiredCapacity(group(i))).toBe(2);
      expect(status(box)).toMatchObject({ state: "rolling", message: `${old.instanceId} waits for its successor on Kubernetes 1.36 in ${group(i)}` });
      // The next old node waits its turn.
      if (nodes[i + 1]) expect((await rollOld(nodes[i + 1])).output).toContain(`instance ${old.instanceId} holds the rollout lock`);
      // Not launched yet: it waits, keeping the lock.
      ok(await rollOld(old));
      expect(lockHolder(box)).toBe(old.instanceId);
      const successor = box.addNode(3 + i, next, "control-plane", successorEnv);
      box.setGroup(successor, group(i));
      ok(await box.boot(successor, at1_36));
      box.registerNode(successor, "v1.36.3");
      successors.push(successor);
      // A successor changes nothing while old nodes remain.
      expect((await roll(box, successor, at1_36)).output).toContain("waiting for every control-plane node to run 1.36");
      ok(await rollOld(old));
      expect(box.file(`instances/${old.instanceId}`)).toMatch(/^terminated /);
      expect(box.desiredCapacity(group(i))).toBe(1);
      expect(lockHolder(box)).toBeUndefined();
    }

    // Before the last step, the add-on specification of 1.36 waits, and so does the worker.
    const addons = await box.run(successors[0], "apply-addons.sh", at1_36);
    ok(addons);
    expect(addons.output).toContain("holding the add-on specification for Kubernetes 1.36 until every control-plane node runs it (the cluster runs v1.35.2)");
    expect(since(/kubectl apply .*-k /)).toEqual([]);
    expect(since(new RegExp(`^${worker.instanceId} kubeadm join`))).toEqual([]);

    ok(await roll(box, successors[1], at1_36));
    expect(box.ssmValue("/k8s/prod/join/kubernetes-version")).toBe("v1.36.3");
    expect(status(box)).toMatchObject({ state: "rolled", message: expect.stringContaining("every control-plane node runs v1.36.3") });
    ok(await workerBoot);
    // The add-on Lease of the first node, which is gone, has expired by now (5 minutes).
    const lease = join(box.state, "cluster/objects/Lease_kubeadm-aws-addons");
    writeFileSync(lease, JSON.stringify({ ...JSON.parse(readFileSync(lease, "utf8")), spec: { holderIdentity: n0.hostname, renewTime: "2026-01-01T00:00:00.000000Z" } }));
    ok(await box.run(successors[0], "apply-addons.sh", at1_36));

    const events = since(
      /snapshot before|patch configmap kubeadm-config|put-parameter .*control-plane-version|set-desired-capacity|kubeadm join|etcdctl .*member remove|terminate-instance|kubeadm upgrade|put-parameter .*join\/kubernetes-version|kubectl apply .*-k .*calico/,
    )
      .map((c) => {
        const [who] = c.split(" ");
        const name = [...nodes, ...successors, worker].findIndex((n) => n.instanceId === who);
        const label = name < 3 ? `n${name}` : name < 6 ? `s${name - 3}` : "worker";
        const what = /snapshot/.test(c) ? "snapshot" : /kubeadm-config/.test(c) ? "kubeadm-config" : /control-plane-version/.test(c) ? "control-plane-version"
          : /set-desired/.test(c) ? "launch successor" : /kubeadm join/.test(c) ? "join" : /member remove/.test(c) ? "leave etcd" : /terminate/.test(c) ? "terminate"
          : /upgrade apply/.test(c) ? "kubeadm upgrade apply" : /kubernetes-version/.test(c) ? "cluster version" : "add-ons";
        return `${label} ${what}`;
      });
    expect(events).toEqual([
      "n0 snapshot", "n0 kubeadm-config", "n0 control-plane-version", "n0 launch successor",
      "s0 join", "n0 leave etcd", "n0 terminate",
      "n1 launch successor", "s1 join", "n1 leave etcd", "n1 terminate",
      "n2 launch successor", "s2 join", "n2 leave etcd", "n2 terminate",
      "s1 kubeadm upgrade apply", "s1 cluster version",
      "worker join", "s0 add-ons",
    ]);
    // The cluster's configuration names the new minor, and the etcd members are the successors'.
    const stored = JSON.parse(box.file("cluster/objects/ConfigMap_kubeadm-config")).data.ClusterConfiguration as string;
    expect(stored).toMatch(/kubernetesVersion: v1\.36\.3\n/);
    expect(box.file("cluster/etcd-members").split("\n").filter((l) => l && l !== "REMOVED").map((l) => l.split(" ")[0])).toEqual(successors.map((n) => n.instanceId));
  }, 300_000);
});
