import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UNSET_PARAMETER_VALUE } from "../../lib/control-plane/join-parameters";
import { Sandbox, testReleaseKey } from "../helpers/sandbox";
import { workerImage } from "../helpers/worker-fixture";
import { findSecrets } from "../security/secret-scan";
import { evaluateFiles } from "../security/cis-benchmark";

const IMAGE = workerImage({ labels: { team: "data" }, taints: [{ key: "dedicated", value: "data", effect: "NoSchedule" }] });
const TOKEN = "abcdef.0123456789abcdef";
const HASH = `sha256:${"b".repeat(64)}`;

/** Join credentials as the control plane publishes them, and the cluster that knows the token. */
function publishJoinCredentials(box: Sandbox, token = TOKEN, version = "v1.35.2"): void {
  const put = (name: string, value: string, type = "String") => {
    const dir = join(box.state, "ssm", name.replace(/\//g, "%2F"));
    mkdirSync(dir, { recursive: true });
    const version = require("node:fs").readdirSync(dir).filter((f: string) => /^v\d+$/.test(f)).length + 1;
    writeFileSync(join(dir, `v${version}`), value);
    writeFileSync(join(dir, "type"), type);
  };
  put("/k8s/prod/join/token", token, "SecureString");
  put("/k8s/prod/join/ca-cert-hash", HASH);
  put("/k8s/prod/join/kubernetes-version", version);
  mkdirSync(join(box.state, "cluster"), { recursive: true });
  writeFileSync(join(box.state, "cluster/tokens"), `${TOKEN} 2099-01-01T00:00:00Z\nfedcba.fedcba9876543210 2099-01-01T00:00:00Z\n`);
}

function sandbox(options: { awsCli?: boolean } = {}): Sandbox {
  const box = new Sandbox(options);
  return box;
}

describe("worker bootstrap in a sandbox", () => {
  it.each([
    ["another key", () => testReleaseKey("attacker").armored],
    ["the pinned key with another beside it", () => testReleaseKey().armored + testReleaseKey("attacker").armored],
  ])("refuses a pkgs.k8s.io Release.key that is %s, before apt trusts it", async (_, served) => {
    const box = sandbox();
    publishJoinCredentials(box);
    writeFileSync(join(box.downloads, "Release.key"), served());
    const node = box.addNode(0, IMAGE, "worker");
    const result = await box.boot(node);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain(`is not the pinned pkgs.k8s.io key ${testReleaseKey().fingerprint}`);
    expect(box.calls(/ gpg .*--dearmor/)).toEqual([]);
    expect(box.calls(/apt-get .*install .*kubelet/)).toEqual([]);
  }, 60_000);

  it("waits while no join token exists, then joins once the control plane publishes one", async () => {
    const box = sandbox();
    const node = box.addNode(0, IMAGE, "worker");
    const running = box.boot(node);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(box.calls(/ kubeadm join /)).toEqual([]);
    publishJoinCredentials(box);
    const result = await running;
    expect(result).toMatchObject({ code: 0 });
    expect(result.output).toContain("no join credentials in SSM yet; waiting for the first control-plane node");
    expect(box.calls(/ kubeadm join /)).toHaveLength(1);
  }, 60_000);

  it("joins with the current token, pins the CA hash, and registers its labels and taints", async () => {
    const box = sandbox();
    publishJoinCredentials(box, "fedcba.fedcba9876543210"); // the token rotated in most recently
    const node = box.addNode(0, IMAGE, "worker");
    const booted = await box.boot(node);
    expect(booted).toMatchObject({ code: 0 });
    // Nothing of the token reaches the journal or the serial console.
    expect(findSecrets(booted.output)).toEqual([]);
    expect(booted.output).not.toContain("fedcba9876543210");
    const config = box.file("last-i-node0-join.yaml");
    expect(config).toContain("token: fedcba.fedcba9876543210");
    expect(config).toContain(`- ${HASH}`);
    expect(config).not.toContain("controlPlane:");
    expect(config).toContain("value: kubeadm-aws/node-group=general,team=data");
    expect(config).toMatch(/taints:\n\s+- key: dedicated\n\s+value: data\n\s+effect: NoSchedule/);
    // The patch the node is configured for (the minor's tested one), whatever patch the cluster was created with.
    expect(box.calls(/apt-get .*install .*kubelet=1\.35\.4-\*/)).toHaveLength(1);
  }, 60_000);

  it("takes the join parameters Terraform created, still unset, for not published yet", async () => {
    const box = sandbox();
    for (const name of ["token", "ca-cert-hash", "kubernetes-version"]) {
      const dir = join(box.state, "ssm", `%2Fk8s%2Fprod%2Fjoin%2F${name}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "v1"), UNSET_PARAMETER_VALUE);
      writeFileSync(join(dir, "type"), "SecureString");
    }
    const node = box.addNode(0, IMAGE, "worker");
    const running = box.boot(node);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(box.calls(/ kubeadm join /)).toEqual([]);
    publishJoinCredentials(box);
    expect(await running).toMatchObject({ code: 0 });
    expect(box.file("last-i-node0-join.yaml")).toContain(`token: ${TOKEN}`);
  }, 60_000);

  it("refuses to join a cluster that runs another minor, before installing anything, and abandons its launch", async () => {
    const box = sandbox();
    publishJoinCredentials(box, TOKEN, "v1.36.3");
    const node = box.addNode(0, IMAGE, "worker");
    const result = await box.boot(node);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("this node is configured for Kubernetes 1.35, but the cluster runs v1.36.3; set kubernetesVersion to 1.36");
    expect(box.calls(/ apt-get | apt-mark | snap install | containerd/)).toEqual([]);
    expect(box.file("lifecycle/i-node0")).toBe("ABANDON prod-general node-ready\n");
  }, 60_000);

  it("of the next minor, waits until every control-plane node runs it (a minor upgrade), then joins", async () => {
    const box = sandbox();
    publishJoinCredentials(box, TOKEN, "v1.35.2");
    // The sandbox cannot serve containerd 2's release archive with its pinned sha256; the wait comes before it anyway.
    const node = box.addNode(0, workerImage({}, "1.36"), "worker", { CONTAINERD_SOURCE: "ubuntu", HEARTBEAT_SECONDS: "1" });
    const running = box.boot(node, { FAKE_KUBE_VERSION: "v1.36.3" });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(box.calls(/ apt-get | kubeadm join /)).toEqual([]);
    publishJoinCredentials(box, TOKEN, "v1.36.3");
    const result = await running;
    expect(result).toMatchObject({ code: 0 });
    expect(result.output).toContain("waiting until every control-plane node runs Kubernetes 1.36 (the cluster's recorded version is v1.35.2)");
    expect(box.calls(/ kubeadm join /)).toHaveLength(1);
    // Its launch hook (an hour without news) is kept alive while it waits.
    expect(box.calls(/record-lifecycle-action-heartbeat --auto-scaling-group-name prod-general --lifecycle-hook-name node-ready --instance-id i-node0/).length).toBeGreaterThan(0);
    expect(box.file("lifecycle/i-node0")).toBe("CONTINUE prod-general node-ready\n");
  }, 60_000);

  it("of the next minor, gives up and abandons its launch when the control plane does not get there in time", async () => {
    const box = sandbox();
    publishJoinCredentials(box, TOKEN, "v1.35.2");
    const node = box.addNode(0, workerImage({}, "1.36"), "worker", { CONTAINERD_SOURCE: "ubuntu", MINOR_UPGRADE_WAIT_SECONDS: "1" });
    const result = await box.boot(node);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("the control plane still runs v1.35.2 1s after this 1.36 node started; its upgrade is stuck");
    expect(box.calls(/ apt-get | kubeadm join /)).toEqual([]);
    expect(box.file("lifecycle/i-node0")).toBe("ABANDON prod-general node-ready\n");
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

  it("waits for the package locks and snapd's seeding at first boot, and holds containerd at the version it installed", async () => {
    const box = sandbox({ awsCli: false });
    publishJoinCredentials(box);
    const node = box.addNode(0, IMAGE, "worker");
    expect(await box.boot(node)).toMatchObject({ code: 0 });
    const apt = box.calls(/ apt-get /);
    expect(apt.length).toBeGreaterThanOrEqual(4);
    for (const call of apt) expect(call).toContain("apt-get -o DPkg::Lock::Timeout=600 ");
    const snap = box.calls(/ snap /).map((l) => l.split(" ").slice(2, 4).join(" "));
    expect(snap).toEqual(["wait system", "install aws-cli"]);
    expect(box.calls(/apt-get .*install .* containerd$/)).toHaveLength(1);
    expect(box.calls(/apt-mark hold containerd$/)).toHaveLength(1);
  }, 60_000);

  it("keeps trying to reach the internet for as long as a NAT gateway may take, then powers off when it cannot report itself", async () => {
    const box = sandbox({ awsCli: false });
    publishJoinCredentials(box);
    // No route to the internet yet: the snap store never answers, and neither does the Auto Scaling API.
    const node = box.addNode(0, IMAGE, "worker", { INTERNET_WAIT_SECONDS: "2", RETRY_DELAY_SECONDS: "1" });
    const started = Date.now();
    const result = await box.boot(node, { FAKE_FAIL: "^snap install" });
    expect(result.code).not.toBe(0);
    // retry_for counts bash's SECONDS, in whole seconds since the shell started: a 2 s deadline can pass just over 1 s
    // later (the fresh-machine run saw 1060 ms). Production waits 15 minutes, where that second does not matter.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(result.output).toMatch(/giving up after \d+ attempts in 2s: snap/);
    expect(box.calls(/ snap install /).length).toBeGreaterThan(1);
    // Without the AWS CLI it can neither abandon its launch hook nor mark itself unhealthy: it powers off, and its launch template terminates it.
    expect(result.output).toContain("cannot tell the Auto Scaling group; powering off");
    expect(box.calls(/ systemctl poweroff --no-block$/)).toHaveLength(1);
  }, 60_000);

  it("installs containerd 2 and runc from their releases, checked by sha256, for Kubernetes 1.36; a tampered archive stops it", async () => {
    const image = workerImage({}, "1.36");
    const tarball = (dir: string) => {
      require("node:fs").mkdirSync(join(dir, "bin"), { recursive: true });
      writeFileSync(join(dir, "bin/containerd"), "#!/bin/sh\n");
      return require("node:child_process").execFileSync("tar", ["-czf", "-", "-C", dir, "bin"]) as Buffer;
    };
    const sha = (data: Buffer | string) => require("node:crypto").createHash("sha256").update(data).digest("hex");
    for (const tampered of [false, true]) {
      const box = sandbox();
      publishJoinCredentials(box, TOKEN, "v1.36.3");
      const archive = tarball(join(box.dir, "containerd-src"));
      writeFileSync(join(box.downloads, "containerd-2.3.4-linux-amd64.tar.gz"), tampered ? Buffer.concat([archive, Buffer.from("x")]) : archive);
      writeFileSync(join(box.downloads, "runc.amd64"), "runc binary");
      // The image pins the real releases' checksums; the sandbox serves stand-ins, so it pins theirs.
      const node = box.addNode(0, image, "worker", { CONTAINERD_SHA256_AMD64: sha(archive), RUNC_SHA256_AMD64: sha("runc binary") });
      const result = await box.boot(node);
      if (tampered) {
        expect(result.code).not.toBe(0);
        expect(result.output).toMatch(/checksum mismatch for https:\/\/github\.com\/containerd\/containerd\/releases\/download\/v2\.3\.4\/containerd-2\.3\.4-linux-amd64\.tar\.gz/);
        expect(existsSync(join(node.root, "usr/local/bin/containerd"))).toBe(false);
      } else {
        expect({ code: result.code, output: result.code ? result.output : "" }).toEqual({ code: 0, output: "" });
        expect(existsSync(join(node.root, "usr/local/bin/containerd"))).toBe(true);
        expect(require("node:fs").statSync(join(node.root, "usr/local/sbin/runc")).mode & 0o777).toBe(0o755);
        expect(existsSync(join(node.root, "etc/systemd/system/containerd.service"))).toBe(true);
        expect(box.calls(/apt-get .*install .*containerd/)).toEqual([]);
      }
    }
  }, 90_000);

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
    expect(box.calls().slice(before).filter((l) => /kubeadm join|complete-lifecycle-action|apt-get .*install/.test(l))).toEqual([]);
  }, 60_000);
});
