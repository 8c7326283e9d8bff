import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { controlPlaneImage } from "../helpers/control-plane-fixture";
import { EtcdMember, LocalEtcdCluster } from "../helpers/etcd-cluster";
import { Sandbox, SandboxNode } from "../helpers/sandbox";

const IMAGE = controlPlaneImage();
const BUCKET = "prod-etcd-111122223333-eu-west-1";
const TIMEOUT = 90_000;

let cluster: LocalEtcdCluster;
let box: Sandbox;
let node: SandboxNode;

/** A control-plane node root with the real scripts, whose etcd tools are the host's (Debian etcd 3.4). */
beforeEach(async () => {
  cluster = await LocalEtcdCluster.start(3);
  box = new Sandbox();
  node = box.addNode(0, IMAGE);
  box.unpackBundle(node, IMAGE);
  cluster.members.forEach((m) => box.setInstance({ instanceId: `i-${m.name}`, hostname: m.name, ip: m.ip }, "running"));
}, TIMEOUT);

afterEach(async () => {
  await cluster.stop();
  rmSync(box.dir, { recursive: true, force: true });
});

/**
 * The host's etcdctl against the test cluster. A member that is down costs etcdctl a whole timeout: nodes keep the
 * scripts' timeouts (etcd-members.sh: 5 s to dial, 15 s a command), these short ones keep the drills quick.
 */
const local = (members: EtcdMember[] | EtcdMember) => ({
  ETCD_EXEC: "local",
  ETCD_ENDPOINTS: cluster.endpoints([members].flat()),
  ETCD_DIAL_TIMEOUT: "1s",
  ETCD_COMMAND_TIMEOUT: "3s",
});
/** The same for etcdctl_here (etcd.sh), which leaves etcdctl its defaults (2 s, 5 s): etcdctl refuses both a flag and its variable. */
const localHere = (member: EtcdMember) => ({ ETCD_EXEC: "local", ETCD_ENDPOINTS: member.clientUrl, ETCDCTL_DIAL_TIMEOUT: "1s", ETCDCTL_COMMAND_TIMEOUT: "3s" });
const backups = (kind: "frequent" | "daily") => {
  const dir = join(box.state, "s3", BUCKET, "etcd", kind);
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
};
const snapshotStatus = (file: string) => JSON.parse(spawnSync("etcdctl", ["snapshot", "status", file, "-w", "json"], { encoding: "utf8", env: { ...process.env, ETCDCTL_API: "3" } }).stdout);

describe("etcd backups", () => {
  it("store the snapshot a rollout takes first, from any member, as a checked daily snapshot", async () => {
    for (let i = 0; i < 5; i++) cluster.put(`/registry/before-rollout-${i}`, "v");
    // Unlike the backup timer, which leaves snapshots to the leader's node, any node's member serves.
    const leader = await leaderMember();
    const follower = cluster.members.find((m) => m !== leader)!;
    const result = await box.shell(node, ["etcd.sh", "etcd-backup.sh"], "store_snapshot before-rollout", local(follower));
    expect(result).toMatchObject({ code: 0, output: expect.stringMatching(/snapshot at revision \d+ stored as s3:\/\/prod-etcd-111122223333-eu-west-1\/etcd\/daily\/\d{8}T\d{6}Z-rev\d+-before-rollout\.db/) });
    const [stored] = backups("daily");
    expect(stored).toMatch(/-before-rollout\.db$/);
    expect(snapshotStatus(join(box.state, "s3", BUCKET, "etcd", "daily", stored)).totalKey).toBeGreaterThanOrEqual(5);
  }, TIMEOUT);

  it("store a valid snapshot under a name that sorts by time, never over another, and publish its age", async () => {
    for (let i = 0; i < 20; i++) cluster.put(`/registry/key-${i}`, `value-${i}`);
    const leader = await leaderMember();
    expect(await box.run(node, "etcd-backup.sh", local(leader))).toMatchObject({ code: 0 });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    cluster.put("/registry/later", "x");
    expect(await box.run(node, "etcd-backup.sh", local(leader))).toMatchObject({ code: 0 });

    const frequent = backups("frequent");
    expect(frequent).toHaveLength(2);
    for (const name of frequent) expect(name).toMatch(/^\d{8}T\d{6}Z-rev\d+\.db$/);
    expect([...frequent].sort()).toEqual(frequent);
    const [first, second] = frequent.map((name) => Number(/rev(\d+)/.exec(name)![1]));
    expect(second).toBeGreaterThan(first);
    const status = snapshotStatus(join(box.state, "s3", BUCKET, "etcd", "frequent", frequent[0]));
    expect(status.totalKey).toBeGreaterThanOrEqual(20);
    expect(status.revision).toBe(first);
    // One daily snapshot per day, whatever the number of runs.
    expect(backups("daily")).toHaveLength(1);
    // Conditional writes to the bucket of this account, encrypted by its default (the cluster key).
    const uploads = box.calls(/aws s3api put-object /);
    expect(uploads).toHaveLength(3);
    for (const upload of uploads) {
      expect(upload).toContain(`--expected-bucket-owner 111122223333 --bucket ${BUCKET} `);
      expect(upload).toMatch(/ --if-none-match \*$/);
      expect(upload).not.toMatch(/--server-side-encryption|--ssekms-key-id/);
    }
    expect(box.file("metrics/data")).toMatch(/^KubeadmAws\/Etcd MetricName=EtcdSnapshotAgeSeconds,Value=\d+,Unit=Seconds,Dimensions=\[\{Name=ClusterName,Value=prod\}\]$/m);
  }, TIMEOUT);

  it("keep a stored snapshot when an upload to its key is attempted again", async () => {
    cluster.put("/registry/a", "1");
    expect(await box.run(node, "etcd-backup.sh", local(await leaderMember()))).toMatchObject({ code: 0 });
    const [stored] = backups("frequent");
    const file = join(box.state, "s3", BUCKET, "etcd", "frequent", stored);
    const before = readFileSync(file);
    // A second upload to the same key, as a retry after a lost response would make.
    const other = join(node.root, "other.db");
    writeFileSync(other, "other");
    const again = await box.shell(node, ["etcd-backup.sh"], `BUCKET=${BUCKET}; OWNER=(); upload ${other} etcd/frequent/${stored}`);
    expect(again).toMatchObject({ code: 0 });
    expect(again.output).toContain(`s3://${BUCKET}/etcd/frequent/${stored} exists already; keeping it`);
    expect(readFileSync(file)).toEqual(before);
  }, TIMEOUT);

  it("are taken by the leader's node only: one snapshot when every member's timer runs", async () => {
    cluster.put("/registry/a", "1");
    const runs = await Promise.all(cluster.members.map((m) => box.run(node, "etcd-backup.sh", local(m))));
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0]);
    expect(backups("frequent")).toHaveLength(1);
    expect(runs.filter((r) => r.output.includes("is not the leader")).length).toBe(2);
  }, TIMEOUT);
});

describe("etcd restore", () => {
  it("brings back every key written before the snapshot into a wiped cluster", async () => {
    for (let i = 0; i < 50; i++) cluster.put(`/registry/before-${i}`, `v${i}`);
    expect(await box.run(node, "etcd-backup.sh", local(await leaderMember()))).toMatchObject({ code: 0 });
    cluster.put("/registry/after-snapshot", "lost");
    const snapshot = join(box.state, "s3", BUCKET, "etcd", "frequent", backups("frequent")[0]);

    // Lose the whole cluster.
    await Promise.all(cluster.members.map((m) => cluster.kill(m)));
    for (const m of cluster.members) rmSync(m.dataDir, { recursive: true, force: true });

    const initialCluster = cluster.members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
    for (const m of cluster.members) {
      const result = await box.run(node, "etcd-restore.sh", { ETCD_EXEC: "local" }, ["restore-data", snapshot, m.name, m.peerUrl, initialCluster, "restored", m.dataDir]);
      expect(result).toMatchObject({ code: 0 });
    }
    for (const m of cluster.members) cluster.launch(m, initialCluster, "new", "restored");
    await cluster.waitHealthy(cluster.members);

    const keys = cluster.keys("/registry/");
    expect(keys.filter((k) => k.startsWith("/registry/before-"))).toHaveLength(50);
    expect(keys).not.toContain("/registry/after-snapshot");
  }, TIMEOUT);

  it("restores in place on a control-plane node: etcd and the apiserver stopped, old data kept aside, all nodes as members", async () => {
    cluster.put("/registry/kept", "1");
    expect(await box.run(node, "etcd-backup.sh", local(await leaderMember()))).toMatchObject({ code: 0 });
    const key = backups("frequent")[0];
    const { mkdirSync, writeFileSync, existsSync, readdirSync: list } = require("node:fs");
    for (const dir of ["etc/kubernetes/manifests", "var/lib/etcd/member"]) mkdirSync(join(node.root, dir), { recursive: true });
    for (const pod of ["etcd", "kube-apiserver", "kube-scheduler"]) writeFileSync(join(node.root, `etc/kubernetes/manifests/${pod}.yaml`), pod);
    // This node and two other running control-plane instances.
    box.setInstance({ instanceId: node.instanceId, hostname: node.hostname, ip: node.ip }, "running");

    const result = await box.run(node, "etcd-restore.sh", { ETCD_EXEC: "local" }, ["in-place", `s3://${BUCKET}/etcd/frequent/${key}`]);
    expect(result).toMatchObject({ code: 0 });
    const members = [...cluster.members.map((m) => `${m.name}=https://${m.ip}:2380`), `${node.hostname}=https://${node.ip}:2380`].sort().join(",");
    expect(result.output).toContain(`as member ${node.hostname} of ${members}`);
    expect(existsSync(join(node.root, "var/lib/etcd/member/snap/db"))).toBe(true);
    expect(list(join(node.root, "var/lib")).filter((d: string) => d.startsWith("etcd.before-restore-"))).toHaveLength(1);
    expect(list(join(node.root, "etc/kubernetes/manifests")).sort()).toEqual(["etcd.yaml", "kube-apiserver.yaml", "kube-scheduler.yaml"]);
  }, TIMEOUT);

  it("refuses to restore over an existing data dir", async () => {
    const result = await box.run(node, "etcd-restore.sh", { ETCD_EXEC: "local" }, ["restore-data", "/nonexistent.db", "m0", "http://x:1", "m0=http://x:1", "t", cluster.members[0].dataDir]);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("exists; move it aside first");
  }, TIMEOUT);
});

describe("etcd member replacement", () => {
  const removeDeadMembers = (endpoints: EtcdMember[]) => box.shell(node, ["etcd.sh", "etcd-members.sh"], "etcd_remove_dead_members", local(endpoints));

  it("removes the member of a terminated instance, so a replacement joins as the third member with no data lost", async () => {
    for (let i = 0; i < 10; i++) cluster.put(`/registry/k${i}`, "v");
    const [m0, m1, m2] = cluster.members;
    await cluster.kill(m2);
    box.setInstance({ instanceId: `i-${m2.name}`, hostname: m2.name, ip: m2.ip }, "terminated");

    const result = await removeDeadMembers([m0, m1]);
    expect(result).toMatchObject({ code: 0 });
    expect(cluster.memberNames().sort()).toEqual(["m0", "m1"]);

    // What kubeadm join does for the replacement: add the member, start it into the existing cluster.
    const m3 = cluster.member("m3", 3);
    cluster.members.push(m3);
    await cluster.addMember(m3, cluster.endpoints([m0, m1]));
    cluster.launch(m3, [m0, m1, m3].map((m) => `${m.name}=${m.peerUrl}`).join(","), "existing");
    await cluster.waitHealthy([m0, m1, m3]);
    expect(cluster.memberNames().sort()).toEqual(["m0", "m1", "m3"]);
    expect(cluster.keys("/registry/", m3.clientUrl)).toHaveLength(10);
  }, TIMEOUT);

  it("never removes a member that still answers, even when EC2 says its instance is gone", async () => {
    const [m0, , m2] = cluster.members;
    box.setInstance({ instanceId: `i-${m2.name}`, hostname: m2.name, ip: m2.ip }, "terminated");
    const result = await removeDeadMembers([m0]);
    expect(result).toMatchObject({ code: 0 });
    expect(result.output).toContain("has no running instance but still answers; keeping it");
    expect(cluster.memberNames().sort()).toEqual(["m0", "m1", "m2"]);
  }, TIMEOUT);

  it("refuses to remove anything when 2 of 3 members are down, and says why", async () => {
    const [m0, m1, m2] = cluster.members;
    await Promise.all([cluster.kill(m1), cluster.kill(m2)]);
    for (const m of [m1, m2]) box.setInstance({ instanceId: `i-${m.name}`, hostname: m.name, ip: m.ip }, "terminated");
    const result = await removeDeadMembers([m0]);
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/only 1 of 3 etcd members are alive, below quorum \(2\); not removing any: restore from a backup instead|cannot list etcd members; the cluster may have lost quorum/);
  }, TIMEOUT);

  it("removes a member that was added but never started", async () => {
    const [m0, m1, m2] = cluster.members;
    const orphan = cluster.member("orphan", 88);
    await cluster.addMember(orphan);
    expect(cluster.etcdctl(["member", "list"]).stdout).toContain("unstarted");
    const result = await removeDeadMembers([m0, m1, m2]);
    expect(result).toMatchObject({ code: 0 });
    expect(cluster.etcdctl(["member", "list"]).stdout).not.toContain("unstarted");
    expect(cluster.memberNames().sort()).toEqual(["m0", "m1", "m2"]);
  }, TIMEOUT);
});

describe("the etcd health gate of rollouts and certificate renewals", () => {
  it("passes with every member healthy and one leader, and stops a rollout while one member is down though quorum holds", async () => {
    const [m0, m1, m2] = cluster.members;
    expect(await box.shell(node, ["etcd.sh"], "etcd_all_healthy", localHere(m0))).toMatchObject({ code: 0 });
    await cluster.kill(m2);
    // Two of three still serve, so the cluster works; losing another member to a restart would stop it.
    await cluster.waitHealthy([m0, m1]);
    const gate = await box.shell(node, ["etcd.sh"], "etcd_all_healthy", localHere(m0));
    expect(gate.code).not.toBe(0);
    const reason = await box.shell(node, ["roll-control-plane.sh"], "unhealthy_reason", localHere(m0));
    expect(reason).toMatchObject({ code: 0, output: expect.stringContaining("etcd is not healthy (every member must answer, with one leader)") });
  }, TIMEOUT);
});

async function leaderMember(): Promise<EtcdMember> {
  for (const m of cluster.members) {
    const fields = cluster.etcdctl(["endpoint", "status", "-w", "fields"], m.clientUrl).stdout;
    const member = /"MemberID" : (\d+)/.exec(fields)?.[1];
    if (member && member === /"Leader" : (\d+)/.exec(fields)?.[1]) return m;
  }
  throw new Error("no leader");
}

