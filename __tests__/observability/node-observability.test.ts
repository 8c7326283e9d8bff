import { spawnSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { controlPlaneImage } from "../helpers/control-plane-fixture";
import { LocalEtcdCluster } from "../helpers/etcd-cluster";
import { Sandbox, SandboxNode } from "../helpers/sandbox";

const IMAGE = controlPlaneImage();
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function nodeWithBundle(envOverrides: Record<string, string> = {}): { box: Sandbox; node: SandboxNode } {
  const box = new Sandbox();
  const node = box.addNode(0, IMAGE, "control-plane", envOverrides);
  box.unpackBundle(node, IMAGE);
  mkdirSync(join(node.root, "var/lib/cloud/data"), { recursive: true });
  writeFileSync(join(node.root, "var/lib/cloud/data/instance-id"), node.instanceId);
  // The groups Terraform creates.
  for (const group of ["bootstrap", "system", "control-plane", "audit"]) mkdirSync(join(box.state, "logs", `_k8s_prod_${group}`), { recursive: true });
  return { box, node };
}

describe("log shipper on a control-plane node", () => {
  it("ships journal units and followed files to the cluster's log groups, one stream per instance and source, resuming after a restart", async () => {
    const { box, node } = nodeWithBundle();
    const journal = join(box.dir, "journal.json");
    writeFileSync(
      journal,
      [
        { __REALTIME_TIMESTAMP: "1764300000000000", _SYSTEMD_UNIT: "kubeadm-aws-bootstrap.service", MESSAGE: "step=install-packages status=started" },
        { __REALTIME_TIMESTAMP: "1764300001000000", _SYSTEMD_UNIT: "cloud-final.service", MESSAGE: [104, 105] },
      ]
        .map((e) => JSON.stringify(e))
        .join("\n") + "\n",
    );
    const audit = join(node.root, "var/log/kubernetes/audit/audit.log");
    mkdirSync(join(node.root, "var/log/kubernetes/audit"), { recursive: true });
    writeFileSync(audit, '{"kind":"Event","verb":"create"}\n{"kind":"Event","verb":"get"}\n');
    const config = join(node.root, "etc/kubeadm-aws/log-sources.json");
    const env = { FAKE_JOURNAL: journal, LOG_FLUSH_SECONDS: "0.3", LOG_POLL_SECONDS: "0.1" };

    const shipper = box.runDetached(node, ["/usr/bin/python3", join(node.root, "opt/kubeadm-aws/bin/log-shipper.py"), config], env);
    await wait(1500);
    appendFileSync(audit, '{"kind":"Event","verb":"patch"}\n');
    // Rotation, as the apiserver does it: the shipper finishes the old file, then follows the new one.
    renameSync(audit, audit.replace("audit.log", "audit-2026-11-28T00-00-00.000.log"));
    writeFileSync(audit, '{"kind":"Event","verb":"delete"}\n');
    await wait(1500);
    shipper.kill();
    await wait(300);

    const stream = (group: string, source: string) => readFileSync(join(box.state, "logs", `_k8s_prod_${group}`, `${node.instanceId}_${source}`), "utf8");
    expect(stream("bootstrap", "bootstrap")).toBe("1764300000000 kubeadm-aws-bootstrap.service: step=install-packages status=started\n1764300001000 cloud-final.service: hi\n");
    expect(stream("audit", "audit").split("\n").filter(Boolean).map((l) => JSON.parse(l.slice(l.indexOf(" ") + 1)).verb)).toEqual(["create", "get", "patch", "delete"]);
    // One follower per journal source, each resuming from its own cursor (the whole list shows on failure).
    expect(box.calls(/ journalctl /).sort()).toEqual([
      expect.stringMatching(/journalctl --follow --output=json --cursor-file=\S*\/bootstrap\.cursor --unit kubeadm-aws-bootstrap\.service /),
      expect.stringMatching(/journalctl --follow --output=json --cursor-file=\S*\/system\.cursor --unit kubelet\.service /),
    ]);

    // After a restart, file offsets hold: nothing is sent twice.
    const again = box.runDetached(node, ["/usr/bin/python3", join(node.root, "opt/kubeadm-aws/bin/log-shipper.py"), config], { ...env, FAKE_JOURNAL: "" });
    await wait(1200);
    again.kill();
    expect(stream("audit", "audit").split("\n").filter(Boolean)).toHaveLength(4);
  }, 30_000);

  it("sends what it holds when systemd stops it, before its next batch is due", async () => {
    const { box, node } = nodeWithBundle();
    const audit = join(node.root, "var/log/kubernetes/audit/audit.log");
    mkdirSync(join(node.root, "var/log/kubernetes/audit"), { recursive: true });
    writeFileSync(audit, '{"kind":"Event","verb":"list"}\n');
    const config = join(node.root, "etc/kubeadm-aws/log-sources.json");
    const shipper = box.runDetached(node, ["/usr/bin/python3", join(node.root, "opt/kubeadm-aws/bin/log-shipper.py"), config], { FAKE_JOURNAL: "", LOG_FLUSH_SECONDS: "600", LOG_POLL_SECONDS: "0.1" });
    const streamFile = join(box.state, "logs", "_k8s_prod_audit", `${node.instanceId}_audit`);
    const offsets = join(node.root, "var/lib/kubeadm-aws/logs/audit.offsets");
    for (let i = 0; i < 100 && !existsSync(offsets); i++) await wait(100); // read, not yet sent
    expect(existsSync(streamFile)).toBe(false);
    const exited = new Promise((resolve) => shipper.on("exit", resolve));
    shipper.kill("SIGTERM");
    await exited;
    expect(readFileSync(streamFile, "utf8")).toMatch(/^\d+ \{"kind":"Event","verb":"list"\}\n$/);
  }, 30_000);

  it("starts before kubeadm runs, so a node that never joins still ships its bootstrap log", async () => {
    const box = new Sandbox();
    const node = box.addNode(0, IMAGE);
    await box.boot(node, { FAKE_KUBEADM_INIT_FAIL: "1" });
    const order = box.calls(/systemctl enable --now kubeadm-aws-logs\.service| kubeadm init /).map((l) => (l.includes("logs") ? "logs" : "kubeadm init"));
    expect(order).toEqual(["logs", "kubeadm init"]);
  }, 60_000);
});

describe("metrics publisher on a control-plane node", () => {
  it("publishes the days left of the certificate that expires first (the stored admin kubeconfig's included), memory, and etcd's size and leader changes", async () => {
    const etcd = await LocalEtcdCluster.start(1);
    const { box, node } = nodeWithBundle({ ETCD_METRICS_URL: etcd.members[0].metricsUrl });
    const pki = join(node.root, "etc/kubernetes/pki");
    mkdirSync(join(pki, "etcd"), { recursive: true });
    const cert = (path: string, days: number) =>
      spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", String(days), "-subj", "/CN=t", "-keyout", "/dev/null", "-out", path]);
    cert(join(pki, "ca.crt"), 3650);
    cert(join(pki, "apiserver.crt"), 200);
    cert(join(pki, "etcd/peer.crt"), 90);
    // A client certificate inside a kubeconfig expires first.
    cert(join(box.dir, "admin.pem"), 12);
    writeFileSync(join(node.root, "etc/kubernetes/admin.conf"), `users:\n- user:\n    client-certificate-data: ${readFileSync(join(box.dir, "admin.pem")).toString("base64")}\n`);
    mkdirSync(join(node.root, "proc"), { recursive: true });
    writeFileSync(join(node.root, "proc/meminfo"), "MemTotal:        8000000 kB\nMemFree:          100000 kB\nMemAvailable:    2000000 kB\n");

    try {
      for (let i = 0; i < 100; i++) etcd.put(`/registry/k${i}`, "x".repeat(1000));
      const env = { ETCD_EXEC: "local", ETCD_ENDPOINTS: etcd.endpoints() };
      expect(await box.run(node, "publish-metrics.sh", env)).toMatchObject({ code: 0 });
      // Then the admin kubeconfig kept in Secrets Manager is the first to expire: it counts too.
      cert(join(box.dir, "stored-admin.pem"), 5);
      mkdirSync(join(box.state, "secrets"), { recursive: true });
      writeFileSync(join(box.state, "secrets", "k8s_prod_admin-kubeconfig"), `users:\n- user:\n    client-certificate-data: ${readFileSync(join(box.dir, "stored-admin.pem")).toString("base64")}\n`);
      expect(await box.run(node, "publish-metrics.sh", env)).toMatchObject({ code: 0 });
    } finally {
      await etcd.stop();
    }
    const data = box.file("metrics/data").split("\n").filter(Boolean);
    const value = (name: string) => data.filter((d) => d.includes(`MetricName=${name},`)).map((d) => Number(/Value=([\d.]+)/.exec(d)![1]));
    // Whole days left, rounded down: 11 for the 12-day certificate; 4 or 5 for the 5-day one, made within the same second.
    const [before, after] = value("CertificateDaysLeft");
    expect(before).toBe(11);
    expect([4, 5]).toContain(after);
    expect(value("MemoryUsedPercent")).toEqual([75, 75]);
    const [size] = value("EtcdDbSizeBytes");
    expect(size).toBeGreaterThan(100_000);
    // The first run has no earlier count to compare with; nothing changed between the runs.
    expect(value("EtcdLeaderChanges")).toEqual([0, 0]);
    expect(data.find((d) => d.includes("MemoryUsedPercent"))).toContain("{Name=InstanceId,Value=i-node0}");
    expect(data.find((d) => d.includes("CertificateDaysLeft"))!.startsWith("KubeadmAws/ControlPlane ")).toBe(true);
    expect(data.find((d) => d.includes("EtcdDbSizeBytes"))!.startsWith("KubeadmAws/Etcd ")).toBe(true);
  }, 60_000);
});
