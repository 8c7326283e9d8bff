import { readdirSync } from "node:fs";
import { join } from "node:path";
import { sha256 } from "../../lib/bootstrap/tar";
import { ADDON_SPEC_KEY } from "../../lib/control-plane/control-plane-user-data";
import { KUBERNETES_RELEASES } from "../../lib/versions";
import { controlPlaneImage } from "../helpers/control-plane-fixture";
import { waitFor } from "../helpers/kubernetes/lab";
import { CALICO_STAND_IN, OfflineCluster, OfflineNode } from "../helpers/kubernetes/offline-cluster";
import { NodeImage } from "../helpers/sandbox";

/**
 * Drill "minor upgrade": `kubernetesVersion` goes from 1.35 to 1.36 on a
 * running cluster, and nothing but its nodes' own timers moves it. The node
 * of 1.35 takes the snapshot, moves the stored configuration and has its
 * group launch a successor; the harness launches it from the 1.36 user data,
 * as the Auto Scaling group would, with the real 1.36 kubeadm, kubelet,
 * apiserver and etcd. The successor joins the 1.35 control plane, the old node
 * leaves and terminates itself, and the successor finishes the upgrade
 * (kube-proxy and CoreDNS) and records the version the add-on timer waits for.
 *
 * One control-plane node (count 1): the lab's time budget. Three nodes taking
 * turns are drilled in the sandbox (__tests__/bootstrap/rollout-sandbox.test.ts).
 */

const FROM = "1.35";
const TO = "1.36";
const OLD_IP = "10.77.0.10";
const SUCCESSOR_IP = "10.77.0.11";
const GROUP = "prod-control-plane-0";
const ROLLOUT = "/k8s/prod/control-plane/rollout";
const patch = (minor: string) => `v${KUBERNETES_RELEASES[minor].testedPatch}`;

describe("offline cluster drill: a minor upgrade replaces the control plane's node, from our user data", () => {
  let cluster: OfflineCluster;
  let old: OfflineNode;
  let successor: OfflineNode;
  let next: NodeImage;
  /** The old node's add-on timer log, kept before the instance goes. */
  let oldAddonLog = "";
  const addonLog = (node: OfflineNode) => node.runtime.written("/var/log/lab-units/kubeadm-aws-addons.service.log") ?? "";

  /** The image Terraform would render for each minor; the add-on specification's Calico checksum is the stand-in's. */
  const imageOf = (minor: string) => controlPlaneImage({ kubernetesVersion: minor, count: 1 }, { calicoSha256: sha256(CALICO_STAND_IN) });
  /**
   * Inside the fresh-machine test (the lab nested in an overlay of /), etcdctl in a running etcd container cannot open
   * files written under their host path after the container started (cause not established; see
   * ETCD_HOST_TOOLS_IF_NESTED in __tests__/kubernetes/cluster-suite.ts), such as the client certificate a node signs
   * to check the members' health or remove its own. There, and only there, the node's scripts run the host's etcdctl
   * against its member (the timers read node.env at each run).
   */
  async function useHostEtcdctlIfNested(node: OfflineNode): Promise<void> {
    if (process.env.KUBEADM_AWS_FRESH_MACHINE !== "inner") return;
    const env = (await node.exec(["cat", "/etc/kubeadm-aws/node.env"])).output;
    const tls = "--cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key";
    await node.node.write("/etc/kubeadm-aws/node.env", `${env.trimEnd()}\nETCD_EXEC='local'\nETCD_ENDPOINTS='https://127.0.0.1:2379'\nETCD_TLS_ARGS='${tls}'\n`, "0644");
  }

  /** kubectl against the node's own apiserver: through the load balancer, any node's may answer. */
  const kubectlAt = (node: OfflineNode, args: string[]) => node.kubectl([`--server=https://${node.node.ip}:6443`, ...args]);
  const serverVersion = async (node: OfflineNode) => JSON.parse((await kubectlAt(node, ["version", "-o", "json"])).output).serverVersion.gitVersion as string;

  beforeAll(async () => {
    cluster = await OfflineCluster.create(FROM, [OLD_IP, SUCCESSOR_IP]);
    old = await cluster.launch("cp1", 0, imageOf(FROM), "control-plane");
    await old.bootstrapped(8 * 60_000);
    await useHostEtcdctlIfNested(old);
    await cluster.initializeNode(old, old);
    cluster.aws.setGroup(old, GROUP);
    // Something the cluster holds, which must outlive its only etcd member.
    const created = await old.kubectl(["-n", "default", "create", "configmap", "before-the-upgrade", "--from-literal=minor=1.35"]);
    if (created.code !== 0) throw new Error(created.output);
  }, 10 * 60_000);

  afterAll(async () => {
    await cluster?.destroy();
  }, 60_000);

  it("on the deploy, the node takes a snapshot, moves the stored configuration to 1.36, and has its group launch a successor", async () => {
    expect(await serverVersion(old)).toBe(patch(FROM));
    // What `cdktf deploy` writes: the new bundle and the parameter that names it, the add-on specification and its checksum.
    next = imageOf(TO);
    for (const [key, content] of Object.entries({ [next.bundle.key]: next.bundle.archive, ...next.objects })) cluster.aws.putObject(key, content);
    for (const [name, value] of Object.entries(next.parameters ?? {})) cluster.aws.putParameter(name, value);
    cluster.aws.putParameter(`${ROLLOUT}/bundle`, `${next.bundle.key} ${next.bundle.sha256}`);

    // The rollout timer (every 2 minutes) does the rest.
    await waitFor("the node to have its group launch a successor", async () => (cluster.aws.desiredCapacity(GROUP) === 2 ? true : undefined), 6 * 60_000, 3_000);
    const stored = await old.kubectl(["-n", "kube-system", "get", "configmap", "kubeadm-config", "-o", "jsonpath={.data.ClusterConfiguration}"]);
    expect(stored.output).toMatch(new RegExp(`^kubernetesVersion: ${patch(TO).replace(/\./g, "\\.")}$`, "m"));
    expect(cluster.aws.ssmValue("/k8s/prod/join/control-plane-version")).toBe(patch(TO));
    expect(cluster.aws.ssmValue("/k8s/prod/join/kubernetes-version")).toBe(patch(FROM));
    const snapshots = readdirSync(join(cluster.aws.state, "s3"), { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith("-before-rollout.db"));
    expect(snapshots).toHaveLength(1);
    expect(JSON.parse(cluster.aws.ssmValue(`${ROLLOUT}/status`)!)).toMatchObject({ state: "rolling", message: `${old.instanceId} waits for its successor on Kubernetes ${TO} in ${GROUP}` });
  }, 8 * 60_000);

  it("launches the successor from the 1.36 user data: it joins the 1.35 control plane with 1.36 components", async () => {
    successor = await cluster.launch("cp2", 1, next, "control-plane", TO);
    cluster.aws.setGroup(successor, GROUP);
    await successor.bootstrapped(8 * 60_000);
    await useHostEtcdctlIfNested(successor);
    // Pods (kubeadm's upgrade health check among them) schedule on it once the cloud controller has initialized it.
    await cluster.initializeNode(successor, successor);
    const manifest = (await successor.exec(["cat", "/etc/kubernetes/manifests/kube-apiserver.yaml"])).output;
    expect(manifest).toContain(`kube-apiserver:${patch(TO)}`);
    expect(await serverVersion(successor)).toBe(patch(TO));
  }, 10 * 60_000);

  it("then the old node leaves: its etcd member and Node go, and it terminates itself; the data stays", async () => {
    await waitFor("the old node to terminate itself", async () => (/^terminated /.test(cluster.aws.file(`instances/${old.instanceId}`)) ? true : undefined), 8 * 60_000, 3_000);
    expect(cluster.aws.desiredCapacity(GROUP)).toBe(1);
    expect(cluster.aws.calls(/terminate-instance-in-auto-scaling-group/)).toEqual([expect.stringContaining(`--instance-id ${old.instanceId} --should-decrement-desired-capacity`)]);
    oldAddonLog = addonLog(old);
    await cluster.terminate(old);
    const members = await successor.exec(["bash", "-c", "etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key member list -w json"]);
    expect(JSON.parse(members.output).members.map((m: { name: string }) => m.name)).toEqual([successor.node.hostname]);
    // Its kubeadm static pods went with it, not when the Pod garbage collector got to them.
    const apiservers = await kubectlAt(successor, ["-n", "kube-system", "get", "pods", "-l", "component=kube-apiserver", "-o", "jsonpath={.items[*].spec.nodeName}"]);
    expect(apiservers.output.trim()).toBe(successor.node.hostname);
    const nodes = await kubectlAt(successor, ["get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"]);
    expect(nodes.output.trim()).toBe(successor.node.hostname);
    expect((await kubectlAt(successor, ["-n", "default", "get", "configmap", "before-the-upgrade", "-o", "jsonpath={.data.minor}"])).output).toBe("1.35");
    // The load balancer's health checks take a few seconds to drop the old node.
    await waitFor("the API ready through the load balancer", async () => ((await cluster.loadBalancerReadyz()).output === "200" ? true : undefined), 60_000, 2_000);
  }, 10 * 60_000);

  it("finishes on the successor: kube-proxy and CoreDNS of 1.36, then the cluster's version; the add-ons of 1.36 follow", async () => {
    await waitFor("the cluster's recorded version to move", async () => (cluster.aws.ssmValue("/k8s/prod/join/kubernetes-version") === patch(TO) ? true : undefined), 10 * 60_000, 5_000);
    expect(JSON.parse(cluster.aws.ssmValue(`${ROLLOUT}/status`)!)).toMatchObject({ state: "rolled" });
    const image = (kind: string, name: string) => successor.kubectl(["-n", "kube-system", "get", kind, name, "-o", "jsonpath={.spec.template.spec.containers[0].image}"]);
    expect((await image("daemonset", "kube-proxy")).output).toBe(`registry.k8s.io/kube-proxy:${patch(TO)}`);
    const coredns = (await successor.exec(["kubeadm", "config", "images", "list", "--kubernetes-version", patch(TO)])).output.split("\n").find((l) => l.includes("/coredns"));
    expect((await image("deployment", "coredns")).output).toBe(coredns);
    // The add-on timer held the 1.36 specification until now, then applies it.
    const specSha256 = sha256(next.objects![ADDON_SPEC_KEY]);
    const recorded = () => successor.kubectl(["-n", "kube-system", "get", "configmap", "kubeadm-aws-addons", "-o", "jsonpath={.data.specSha256}"]);
    await waitFor("the add-on timer to apply the 1.36 specification", async () => ((await recorded()).output === specSha256 ? true : undefined), 6 * 60_000, 5_000);
    const held = `${oldAddonLog}\n${addonLog(successor)}`;
    expect(held).toContain(`holding the add-on specification for Kubernetes ${TO} until every control-plane node runs it (the cluster runs ${patch(FROM)})`);
  }, 18 * 60_000);
});
