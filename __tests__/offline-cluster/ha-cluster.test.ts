import { sha256 } from "../../lib/bootstrap/tar";
import { controlPlaneImage } from "../helpers/control-plane-fixture";
import { waitFor } from "../helpers/kubernetes/lab";
import { CALICO_STAND_IN, OfflineCluster, OfflineNode } from "../helpers/kubernetes/offline-cluster";
import { NodeImage } from "../helpers/sandbox";
import { workerImage } from "../helpers/worker-fixture";

/**
 * Drills of an HA cluster whose nodes run our rendered user data and bundle,
 * unmodified, with the real kubeadm, kubelet, containerd, etcd and apiserver.
 * They run in order on one cluster, as its life goes: three control-plane
 * instances boot together, workers join, the first node is replaced, a
 * replacement reboots in the middle of its join, and a worker joins after the
 * first join token has expired. What stands in for EC2, AWS and systemd is
 * listed, with reasons, in OFFLINE_STAND_INS (__tests__/helpers/kubernetes/offline-cluster.ts).
 */

const MINOR = "1.35";
const NAMES = ["cp1", "cp2", "cp3"];
/** Lab node i has the address 10.77.0.(10 + i): cp1 to cp3 are 0 to 2, the workers 3, 4 and 7, the replacements cp4 and cp5 5 and 6. */
const ip = (index: number) => `10.77.0.${10 + index}`;
const IPS = [0, 1, 2].map(ip);
const REPLACEMENT_IPS = [5, 6].map(ip);
const ETCD_CLIENT = "--cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key";
/** The shortest lifetime allowed, so the token drill need not wait a day. */
const JOIN_TOKEN_TTL_MINUTES = 6;
const WORKER_OPTIONS = { labels: { "example.com/tier": "batch" }, taints: [{ key: "example.com/dedicated", value: "batch", effect: "NoSchedule" as const }] };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface JoinToken {
  readonly id: string;
  readonly token: string;
  readonly expires: number;
}

/** Our join tokens as the cluster keeps them (bootstrap token Secrets), the soonest to expire first. */
async function joinTokens(through: OfflineNode): Promise<JoinToken[]> {
  const secrets = JSON.parse((await through.kubectl(["-n", "kube-system", "get", "secrets", "--field-selector=type=bootstrap.kubernetes.io/token", "-o", "json"])).output).items;
  const field = (secret: any, key: string) => Buffer.from(secret.data[key] ?? "", "base64").toString();
  return secrets
    .map((secret: any) => ({ id: field(secret, "token-id"), token: `${field(secret, "token-id")}.${field(secret, "token-secret")}`, expires: Date.parse(field(secret, "expiration")) }))
    .sort((a: JoinToken, b: JoinToken) => a.expires - b.expires);
}

/** etcd members by name, and whether each votes. */
async function etcdMembers(through: OfflineNode, endpoint: string): Promise<Array<{ name: string; learner: boolean }>> {
  const list = await through.exec(["bash", "-c", `etcdctl --endpoints=https://${endpoint}:2379 ${ETCD_CLIENT} member list -w json`]);
  if (list.code !== 0) throw new Error(`etcd member list failed: ${list.output}`);
  return JSON.parse(list.output)
    .members.map((m: any) => ({ name: m.name, learner: Boolean(m.isLearner) }))
    .sort((a: any, b: any) => a.name.localeCompare(b.name));
}

const voters = (nodes: OfflineNode[]) => nodes.map((n) => ({ name: n.node.hostname, learner: false })).sort((a, b) => a.name.localeCompare(b.name));

/**
 * Runs `action` while reading from etcd every second through `through` to
 * `endpoints`: linearizable reads, which only a quorum can answer. Each failed
 * read is kept.
 */
async function watchingQuorum<T>(through: OfflineNode, endpoints: string[], action: () => Promise<T>): Promise<{ result: T; reads: number; failures: string[] }> {
  let running = true;
  let reads = 0;
  const failures: string[] = [];
  const command = `etcdctl --endpoints=${endpoints.map((e) => `https://${e}:2379`).join(",")} ${ETCD_CLIENT} --command-timeout=10s get --consistency=l --keys-only /registry/namespaces/default`;
  const watch = (async () => {
    while (running) {
      const read = await through.exec(["bash", "-c", command]);
      reads += 1;
      if (read.code !== 0 || !read.output.includes("/registry/namespaces/default")) failures.push(`${new Date().toISOString()}: ${read.output}`);
      await sleep(1_000);
    }
  })();
  try {
    return { result: await action(), reads, failures };
  } finally {
    running = false;
    await watch;
  }
}

describe("offline HA cluster drills, from our user data", () => {
  let cluster: OfflineCluster;
  let nodes: OfflineNode[];
  let image: NodeImage;
  let addonSpecSha256: string;
  let firstToken: JoinToken;

  beforeAll(async () => {
    cluster = await OfflineCluster.create(MINOR, [...IPS, ...REPLACEMENT_IPS]);
    // The add-on specification as Terraform stores it, but for Calico's checksum: the lab serves a stand-in manifest.
    image = controlPlaneImage({ kubernetesVersion: MINOR, joinTokenTtlMinutes: JOIN_TOKEN_TTL_MINUTES }, { calicoSha256: sha256(CALICO_STAND_IN) });
    addonSpecSha256 = sha256(image.objects![Object.keys(image.objects!)[0]]);
    nodes = await Promise.all(NAMES.map((name, i) => cluster.launch(name, i, image, "control-plane")));
    const results = await Promise.allSettled(nodes.map((n) => n.bootstrapped(9 * 60_000)));
    const failed = results.flatMap((r, i) => (r.status === "rejected" ? [`${NAMES[i]}: ${r.reason}`] : []));
    if (failed.length) throw new Error(failed.join("\n\n"));
    // The init token expires first: later ones are made by the rotation timer.
    firstToken = (await joinTokens(nodes[0]))[0];
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
    expect(await etcdMembers(nodes[0], IPS[0])).toEqual(voters(nodes));
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
    expect(published.map((p) => p.name)).toEqual(["/k8s/prod/join/token", "/k8s/prod/join/control-plane-version", "/k8s/prod/join/kubernetes-version", "/k8s/prod/join/ca-cert-hash"]);
    expect(published.every((p) => p.i > pkiStored)).toBe(true);
  });

  it("applies the add-on specification from the node that ran init, on the real API server", async () => {
    const recorded = await nodes[0].kubectl(["-n", "kube-system", "get", "configmap", "kubeadm-aws-addons", "-o", "jsonpath={.data.specSha256}"]);
    expect(recorded).toEqual({ code: 0, output: addonSpecSha256 });
  });

  it("joins two workers of a node group, whose Nodes become Ready with the group's labels and taints", async () => {
    const workers = await Promise.all(["worker1", "worker2"].map((name, i) => cluster.launch(name, 3 + i, workerImage(WORKER_OPTIONS, MINOR), "worker")));
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

  it("replaces the node that ran init: its successor removes the dead etcd member and joins, and quorum holds throughout", async () => {
    const roles = await Promise.all(nodes.map(async (n) => (await n.exec(["cat", "/var/lib/kubeadm-aws/role"])).output.trim()));
    const first = nodes[roles.indexOf("init")];
    const survivors = nodes.filter((n) => n !== first);
    const { result: replacement, reads, failures } = await watchingQuorum(survivors[0], survivors.map((n) => n.node.ip), async () => {
      await cluster.terminate(first);
      await cluster.forgetTerminated(first, survivors[0]);
      const launched = await cluster.launch("cp4", 5, image, "control-plane");
      await launched.bootstrapped(8 * 60_000);
      return launched;
    });
    const log = await replacement.bootstrapLog();

    expect(failures).toEqual([]);
    expect(reads).toBeGreaterThan(20);
    expect(log).toMatch(new RegExp(`etcd member [0-9a-f]+ \\(${first.node.hostname.replace(/\./g, "\\.")}, https://${first.node.ip}:2380\\) belongs to no running control-plane instance`));
    expect(await etcdMembers(survivors[0], survivors[0].node.ip)).toEqual(voters([...survivors, replacement]));
    expect((await replacement.exec(["cat", "/var/lib/kubeadm-aws/role"])).output.trim()).toBe("join");
    // The same cluster: the CA it serves is the one the first node made, and the stored PKI still names that node.
    expect((await replacement.exec(["cat", "/etc/kubernetes/pki/ca.crt"])).output).toBe((await survivors[0].exec(["cat", "/etc/kubernetes/pki/ca.crt"])).output);
    expect(JSON.parse(cluster.aws.secret("k8s/prod/pki")!).initializedBy).toBe(first.instanceId);
    expect((await cluster.loadBalancerReadyz()).output).toBe("200");
    nodes = [...survivors, replacement];
  }, 10 * 60_000);

  it("completes the join of a replacement that reboots in the middle of kubeadm join", async () => {
    // cp2's instance fails too; its replacement loses power once its etcd member runs, before kubeadm join is done.
    const [lost, ...staying] = nodes;
    const { result: replacement, failures } = await watchingQuorum(staying[0], staying.map((n) => n.node.ip), async () => {
      await cluster.terminate(lost);
      await cluster.forgetTerminated(lost, staying[0]);
      const launched = await cluster.launch("cp5", 6, image, "control-plane");
      await waitFor("cp5's etcd member to run, mid-join", async () => ((await launched.runtime.runningContainer("etcd")) ? true : undefined), 6 * 60_000, 500);
      expect(await launched.bootstrapLog()).not.toMatch(/control-plane node is ready/);
      await cluster.reboot(launched);
      await launched.bootstrapped(8 * 60_000);
      return launched;
    });
    const log = await replacement.bootstrapLog();

    expect(failures).toEqual([]);
    expect(log).toMatch(/resetting a partial kubeadm run/);
    expect(await etcdMembers(staying[0], staying[0].node.ip)).toEqual(voters([...staying, replacement]));
    for (const node of [...staying, replacement]) {
      const ready = await cluster.lab.gateway(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", `https://${node.node.ip}:6443/readyz`]);
      expect({ node: node.node.name, status: ready.output }).toEqual({ node: node.node.name, status: "200" });
    }
    nodes = [...staying, replacement];
  }, 12 * 60_000);

  it("joins a worker that boots after the first join token has expired, with the token the timer rotated into SSM", async () => {
    const left = firstToken.expires - Date.now();
    if (left > 0) await sleep(left + 5_000);
    // The first token no longer authenticates anyone, and SSM holds another.
    const probe = await cluster.lab.gateway(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "-H", `Authorization: Bearer ${firstToken.token}`, "https://10.77.0.1:6443/api"]);
    expect(probe.output).toBe("401");
    expect(cluster.aws.ssmValue("/k8s/prod/join/token")).not.toBe(firstToken.token);

    const launched = Math.floor(Date.now() / 1000) * 1000;
    const worker = await cluster.launch("worker3", 7, workerImage(WORKER_OPTIONS, MINOR), "worker");
    await worker.bootstrapped(6 * 60_000);
    const through = [...cluster.nodes.values()].find((n) => n.role === "control-plane")!;
    const node = JSON.parse((await through.kubectl(["get", "node", worker.node.hostname, "-o", "json"])).output);
    expect(node.status.conditions.find((c: any) => c.type === "Ready").status).toBe("True");
    // Its kubelet asked for its client certificate with a token the timer made.
    const requesters = JSON.parse((await through.kubectl(["get", "csr", "-o", "json"])).output)
      .items.filter((c: any) => c.spec.signerName === "kubernetes.io/kube-apiserver-client-kubelet" && Date.parse(c.metadata.creationTimestamp) >= launched)
      .map((c: any) => c.spec.username as string);
    expect(requesters).toHaveLength(1);
    expect(requesters[0]).toMatch(/^system:bootstrap:[a-z0-9]{6}$/);
    expect(requesters[0]).not.toBe(`system:bootstrap:${firstToken.id}`);
  }, 10 * 60_000);
});
