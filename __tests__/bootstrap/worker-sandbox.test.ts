import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Sandbox } from "../helpers/sandbox";
import { workerImage } from "../helpers/worker-fixture";
import { evaluateFiles } from "../security/cis-benchmark";

const IMAGE = workerImage({ labels: { team: "data" }, taints: [{ key: "dedicated", value: "data", effect: "NoSchedule" }] });
const TOKEN = "abcdef.0123456789abcdef";
const HASH = `sha256:${"b".repeat(64)}`;

/** Join credentials as the control plane publishes them, and the cluster that knows the token. */
function publishJoinCredentials(box: Sandbox, token = TOKEN): void {
  const put = (name: string, value: string, type = "String") => {
    const dir = join(box.state, "ssm", name.replace(/\//g, "%2F"));
    mkdirSync(dir, { recursive: true });
    const version = require("node:fs").readdirSync(dir).filter((f: string) => /^v\d+$/.test(f)).length + 1;
    writeFileSync(join(dir, `v${version}`), value);
    writeFileSync(join(dir, "type"), type);
  };
  put("/k8s/prod/join/token", token, "SecureString");
  put("/k8s/prod/join/ca-cert-hash", HASH);
  put("/k8s/prod/join/kubernetes-version", "v1.35.2");
  mkdirSync(join(box.state, "cluster"), { recursive: true });
  writeFileSync(join(box.state, "cluster/tokens"), `${TOKEN} 2099-01-01T00:00:00Z\nfedcba.fedcba9876543210 2099-01-01T00:00:00Z\n`);
}

function sandbox(): Sandbox {
  const box = new Sandbox();
  writeFileSync(join(box.downloads, "Release.key"), "fake key");
  return box;
}

describe("worker bootstrap in a sandbox", () => {
  it("waits while no join token exists, then joins once the control plane publishes one", async () => {
    const box = sandbox();
    const node = box.addNode(0, IMAGE, "worker");
    const running = box.boot(node);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(box.calls(/ kubeadm join /)).toEqual([]);
    publishJoinCredentials(box);
    const result = await running;
    expect(result).toMatchObject({ code: 0 });
    expect(result.output).toContain("no join credentials in SSM yet; waiting for the control plane");
    expect(box.calls(/ kubeadm join /)).toHaveLength(1);
  }, 60_000);

  it("joins with the current token, pins the CA hash, and registers its labels and taints", async () => {
    const box = sandbox();
    publishJoinCredentials(box, "fedcba.fedcba9876543210"); // the token rotated in most recently
    const node = box.addNode(0, IMAGE, "worker");
    expect(await box.boot(node)).toMatchObject({ code: 0 });
    const config = box.file("last-i-node0-join.yaml");
    expect(config).toContain("token: fedcba.fedcba9876543210");
    expect(config).toContain(`- ${HASH}`);
    expect(config).not.toContain("controlPlane:");
    expect(config).toContain("value: kubeadm-aws/node-group=general,team=data");
    expect(config).toMatch(/taints:\n\s+- key: dedicated\n\s+value: data\n\s+effect: NoSchedule/);
    expect(box.calls(/apt-get install .*kubelet=1\.35\.2-\*/)).toHaveLength(1);
  }, 60_000);

  it("completes the launch hook with CONTINUE once its Node is Ready", async () => {
    const box = sandbox();
    publishJoinCredentials(box);
    const node = box.addNode(0, IMAGE, "worker");
    expect(await box.boot(node)).toMatchObject({ code: 0 });
    expect(box.file("lifecycle/i-node0")).toBe("CONTINUE prod-general node-ready\n");
    const order = box.calls(/kubectl .*get node|complete-lifecycle-action/).map((l) => (l.includes("kubectl") ? "ready?" : "hook"));
    expect(order).toEqual(["ready?", "hook"]);
  }, 60_000);

  it("answers ABANDON when the join fails", async () => {
    const box = sandbox();
    publishJoinCredentials(box, "000000.0000000000000000"); // a token the cluster does not know
    const node = box.addNode(0, IMAGE, "worker");
    const result = await box.boot(node);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("bootstrap failed in step kubeadm-join");
    expect(box.file("lifecycle/i-node0")).toBe("ABANDON prod-general node-ready\n");
  }, 60_000);

  it("answers ABANDON when the node never becomes Ready", async () => {
    const box = sandbox();
    publishJoinCredentials(box);
    const node = box.addNode(0, IMAGE, "worker", { NODE_READY_TIMEOUT_SECONDS: "1" });
    const result = await box.boot(node, { FAKE_NODE_READY: "False" });
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/node ip-10-0-0-10\.eu-west-1\.compute\.internal was not Ready within 1s/);
    expect(box.file("lifecycle/i-node0")).toBe("ABANDON prod-general node-ready\n");
  }, 60_000);

  it("answers ABANDON when its bundle cannot be fetched", async () => {
    const box = sandbox();
    publishJoinCredentials(box);
    const node = box.addNode(0, IMAGE, "worker");
    require("node:fs").rmSync(join(box.state, "s3"), { recursive: true });
    const result = await box.boot(node);
    expect(result.code).not.toBe(0);
    expect(box.file("lifecycle/i-node0")).toBe("ABANDON prod-general node-ready\n");
  }, 60_000);

  it("leaves the kubelet's files root-owned and private (CIS 4.1.x)", async () => {
    const box = sandbox();
    publishJoinCredentials(box);
    const node = box.addNode(0, IMAGE, "worker");
    expect(await box.boot(node)).toMatchObject({ code: 0 });
    expect(existsSync(join(node.root, "usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"))).toBe(true);
    expect(existsSync(join(node.root, "etc/kubernetes/manifests"))).toBe(false);
    expect(evaluateFiles(node.root)).toEqual([]);
  }, 60_000);

  it("changes nothing when it runs a second time", async () => {
    const box = sandbox();
    publishJoinCredentials(box);
    const node = box.addNode(0, IMAGE, "worker");
    expect(await box.boot(node)).toMatchObject({ code: 0 });
    const before = box.calls().length;
    expect(await box.boot(node)).toMatchObject({ code: 0 });
    expect(box.calls().slice(before).filter((l) => /kubeadm join|complete-lifecycle-action|apt-get install/.test(l))).toEqual([]);
  }, 60_000);
});
