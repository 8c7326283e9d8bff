import { sha256 } from "../../lib/bootstrap/tar";
import { controlPlaneImage } from "../helpers/control-plane-fixture";
import { waitFor } from "../helpers/kubernetes/lab";
import { CALICO_STAND_IN, OfflineCluster, OfflineNode } from "../helpers/kubernetes/offline-cluster";
import { workerImage } from "../helpers/worker-fixture";

/**
 * Drill "boot together": three control-plane instances launch at the same
 * moment from one launch template's user data, and our node scripts alone,
 * unmodified, form the cluster with the real kubeadm, kubelet, etcd and
 * apiserver. What stands in for EC2, AWS and systemd is listed, with reasons,
 * in OFFLINE_STAND_INS (__tests__/helpers/kubernetes/offline-cluster.ts).
 */

const MINOR = "1.35";
const NAMES = ["cp1", "cp2", "cp3"];
/** Lab node i has the address 10.77.0.(10 + i). */
const IPS = NAMES.map((_, i) => `10.77.0.${10 + i}`);
const ETCD_CLIENT = "--cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key";

describe("offline cluster: three control-plane nodes boot together from our user data", () => {
  let cluster: OfflineCluster;
  let nodes: OfflineNode[];
  let addonSpecSha256: string;

  beforeAll(async () => {
    cluster = await OfflineCluster.create(MINOR, IPS);
    // The add-on specification as Terraform stores it, but for Calico's checksum: the lab serves a stand-in manifest.
    const image = controlPlaneImage({ kubernetesVersion: MINOR }, { calicoSha256: sha256(CALICO_STAND_IN) });
    addonSpecSha256 = sha256(image.objects![Object.keys(image.objects!)[0]]);
    nodes = await Promise.all(NAMES.map((name, i) => cluster.launch(name, i, image, "control-plane")));
    const results = await Promise.allSettled(nodes.map((n) => n.bootstrapped(9 * 60_000)));
    const failed = results.flatMap((r, i) => (r.status === "rejected" ? [`${NAMES[i]}: ${r.reason}`] : []));
    if (failed.length) throw new Error(failed.join("\n\n"));
  }, 11 * 60_000);

  afterAll(async () => {
    await cluster?.destroy();
  }, 60_000);

  it("elects exactly one node to run kubeadm init; the two others join as control-plane members", async () => {
    const roles = await Promise.all(nodes.map(async (n) => (await n.exec(["cat", "/var/lib/kubeadm-aws/role"])).output.trim()));
    expect([...roles].sort()).toEqual(["init", "join", "join"]);
    const init = nodes[roles.indexOf("init")];
    expect(cluster.aws.ssmValue("/k8s/prod/control-plane/init-lock")).toMatch(new RegExp(`^${init.instanceId} `));
    expect(JSON.parse(cluster.aws.secret("k8s/prod/pki")!).initializedBy).toBe(init.instanceId);
    // One CA: the joining nodes serve the one the init node made.
    const cas = await Promise.all(nodes.map((n) => n.exec(["cat", "/etc/kubernetes/pki/ca.crt"])));
    expect(new Set(cas.map((c) => c.output)).size).toBe(1);
    const nodeList = JSON.parse((await nodes[0].kubectl(["get", "nodes", "-o", "json"])).output).items;
    expect(nodeList.map((n: any) => n.metadata.name).sort()).toEqual(nodes.map((n) => n.node.hostname).sort());
    for (const node of nodeList) expect(Object.keys(node.metadata.labels)).toContain("node-role.kubernetes.io/control-plane");
  });

  it("ends with three voting etcd members, one per node", async () => {
    const list = await nodes[0].exec(["bash", "-c", `etcdctl --endpoints=https://${IPS[0]}:2379 ${ETCD_CLIENT} member list -w json`]);
    expect(list.code).toBe(0);
    const members = JSON.parse(list.output).members.map((m: any) => ({ name: m.name, learner: Boolean(m.isLearner) }));
    expect(members.sort((a: any, b: any) => a.name.localeCompare(b.name))).toEqual(
      nodes.map((n) => ({ name: n.node.hostname, learner: false })).sort((a, b) => a.name.localeCompare(b.name)),
    );
  });

  it("serves the API from every node's apiserver, and through the load balancer", async () => {
    for (const ip of IPS) {
      const direct = await cluster.lab.gateway(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", `https://${ip}:6443/readyz`]);
      expect({ ip, status: direct.output }).toEqual({ ip, status: "200" });
    }
    expect((await cluster.loadBalancerReadyz()).output).toBe("200");
  });

  it("stores the PKI before it publishes any join credential, and the CA hash last", () => {
    const calls = cluster.aws.calls();
    const pkiStored = calls.findIndex((l) => / secretsmanager put-secret-value --secret-id k8s\/prod\/pki /.test(l));
    const published = calls.flatMap((l, i) => (/ ssm put-parameter --name \/k8s\/prod\/join\//.test(l) ? [{ i, name: / --name (\S+)/.exec(l)![1] }] : []));
    expect(pkiStored).toBeGreaterThanOrEqual(0);
    expect(published.map((p) => p.name)).toEqual(["/k8s/prod/join/token", "/k8s/prod/join/kubernetes-version", "/k8s/prod/join/ca-cert-hash"]);
    expect(published.every((p) => p.i > pkiStored)).toBe(true);
  });

  it("applies the add-on specification from the node that ran init, on the real API server", async () => {
    const recorded = await nodes[0].kubectl(["-n", "kube-system", "get", "configmap", "kubeadm-aws-addons", "-o", "jsonpath={.data.specSha256}"]);
    expect(recorded).toEqual({ code: 0, output: addonSpecSha256 });
  });

  it("joins two workers of a node group, whose Nodes become Ready with the group's labels and taints", async () => {
    const options = { labels: { "example.com/tier": "batch" }, taints: [{ key: "example.com/dedicated", value: "batch", effect: "NoSchedule" as const }] };
    const image = workerImage(options, MINOR);
    const workers = await Promise.all(["worker1", "worker2"].map((name, i) => cluster.launch(name, 3 + i, image, "worker")));
    await Promise.all(workers.map((w) => w.bootstrapped(6 * 60_000)));
    for (const worker of workers) {
      const node = JSON.parse((await nodes[0].kubectl(["get", "node", worker.node.hostname, "-o", "json"])).output);
      expect(node.status.conditions.find((c: any) => c.type === "Ready").status).toBe("True");
      expect(node.metadata.labels["example.com/tier"]).toBe("batch");
      expect(node.spec.taints).toContainEqual({ key: "example.com/dedicated", value: "batch", effect: "NoSchedule" });
      // Both of its certificates, approved through kubectl by our approver on the control plane (the controller manager
      // approves neither any more: kubeadm's blanket approval is gone, and it never approves serving certificates).
      // The kubelet asks for its serving certificate once its Node has addresses, which the cloud controller manager sets.
      await cluster.setNodeAddresses(worker, nodes[0]);
      const approvals = async (signer: string, user: RegExp): Promise<string[]> =>
        JSON.parse((await nodes[0].kubectl(["get", "csr", "-o", "json"])).output)
          .items.filter((c: any) => c.spec.signerName === signer && user.test(c.spec.username))
          .flatMap((c: any) => (c.status.conditions ?? []).filter((k: any) => k.type === "Approved").map((k: any) => k.reason));
      const serving = await waitFor(
        `an approved serving certificate for ${worker.node.name}`,
        async () => {
          const reasons = await approvals("kubernetes.io/kubelet-serving", new RegExp(`^system:node:${worker.node.hostname}$`));
          return reasons.length ? reasons : undefined;
        },
        90_000,
        2_000,
      );
      expect(serving).toEqual(["KubectlApprove"]);
      const clients = await approvals("kubernetes.io/kube-apiserver-client-kubelet", /^system:bootstrap:/);
      expect(clients.length).toBeGreaterThan(0);
      expect(clients.every((reason) => reason === "KubectlApprove")).toBe(true);
    }
    // The lifecycle hook answered CONTINUE once each was Ready.
    expect(cluster.aws.calls(/ autoscaling complete-lifecycle-action .*--lifecycle-action-result CONTINUE/)).toHaveLength(2);
  }, 8 * 60_000);
});
