import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { controlPlaneImage } from "../helpers/control-plane-fixture";
import { tempDir } from "../helpers/plan";
import { Sandbox, SandboxNode } from "../helpers/sandbox";

const KEYS = tempDir("csr");

/** A PEM certificate signing request, made by openssl as a kubelet would make it. */
function csr(subject: string, altNames: string[]): string {
  const file = join(KEYS, `${Math.random().toString(36).slice(2)}.csr`);
  const args = ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "/dev/null", "-subj", subject, "-out", file];
  if (altNames.length) args.push("-addext", `subjectAltName=${altNames.join(",")}`);
  execFileSync("openssl", args, { stdio: "ignore" });
  return readFileSync(file, "utf8");
}

// The worker that asks, and another worker of the cluster.
const WORKER = { instanceId: "i-worker", hostname: "ip-10-0-1-20.eu-west-1.compute.internal", ip: "10.0.1.20" };
const OTHER = { instanceId: "i-other", hostname: "ip-10-0-2-30.eu-west-1.compute.internal", ip: "10.0.2.30" };
const nodeUser = (host: string) => `system:node:${host}`;
const nodeSubject = (host: string) => `/O=system:nodes/CN=system:node:${host}`;

async function setup(): Promise<{ box: Sandbox; node: SandboxNode }> {
  const box = new Sandbox();
  const image = controlPlaneImage();
  const node = box.addNode(0, image);
  box.unpackBundle(node, image);
  box.setInstance(WORKER, "running", "worker");
  box.setInstance(OTHER, "running", "worker");
  return { box, node };
}

async function verdict(box: Sandbox, node: SandboxNode, pem: string, user: string, of: "csr_verdict" | "node_client_verdict" = "csr_verdict", env: Record<string, string> = {}): Promise<string> {
  const file = join(box.dir, "request.csr");
  writeFileSync(file, pem);
  const result = await box.shell(node, ["approve-node-certificates.sh"], `${of} ${file} '${user}'`, env);
  if (result.code !== 0) throw new Error(result.output);
  return result.output.trim().split("\n").pop()!;
}

describe("the approver, for kubelet serving certificates", () => {
  let box: Sandbox;
  let node: SandboxNode;
  beforeAll(async () => ({ box, node } = await setup()));

  it("approves a request whose name and address are those of the instance that asks", async () => {
    const pem = csr(nodeSubject(WORKER.hostname), [`DNS:${WORKER.hostname}`, `IP:${WORKER.ip}`]);
    expect(await verdict(box, node, pem, nodeUser(WORKER.hostname))).toBe("approve");
  });

  it.each([
    ["another node's IP address", [`DNS:${WORKER.hostname}`, `IP:${OTHER.ip}`], `deny address ${OTHER.ip} is not an address of instance ${WORKER.hostname}`],
    ["another node's name", [`DNS:${OTHER.hostname}`, `IP:${WORKER.ip}`], `deny name ${OTHER.hostname} is not the node's (${WORKER.hostname})`],
    ["an extra name", [`DNS:${WORKER.hostname}`, "DNS:kubernetes.default.svc", `IP:${WORKER.ip}`], `deny name kubernetes.default.svc is not the node's (${WORKER.hostname})`],
    ["an address outside the VPC", [`DNS:${WORKER.hostname}`, `IP:${WORKER.ip}`, "IP:8.8.8.8"], `deny address 8.8.8.8 is not an address of instance ${WORKER.hostname}`],
    ["an e-mail address", [`DNS:${WORKER.hostname}`, "email:ops@example.com"], "deny unexpected subject alternative name email:ops@example.com"],
    ["no names at all", [], "deny no names or addresses requested"],
  ])("denies a request with %s", async (_, altNames, expected) => {
    const pem = csr(nodeSubject(WORKER.hostname), altNames);
    expect(await verdict(box, node, pem, nodeUser(WORKER.hostname))).toBe(expected);
  });

  it("denies a node asking for another node's certificate", async () => {
    const pem = csr(nodeSubject(OTHER.hostname), [`DNS:${OTHER.hostname}`, `IP:${OTHER.ip}`]);
    expect(await verdict(box, node, pem, nodeUser(WORKER.hostname))).toBe(`deny subject CN=system:node:${OTHER.hostname},O=system:nodes is not node ${WORKER.hostname}'s`);
  });

  it("denies a request that does not come from a node", async () => {
    const pem = csr(nodeSubject(WORKER.hostname), [`DNS:${WORKER.hostname}`, `IP:${WORKER.ip}`]);
    expect(await verdict(box, node, pem, "system:serviceaccount:default:builder")).toBe("deny requested by system:serviceaccount:default:builder, not by a node");
  });

  it("denies a node whose instance is gone or not this cluster's", async () => {
    const gone = "ip-10-0-3-40.eu-west-1.compute.internal";
    box.setInstance({ instanceId: "i-gone", hostname: gone, ip: "10.0.3.40" }, "terminated", "worker");
    const pem = csr(nodeSubject(gone), [`DNS:${gone}`, "IP:10.0.3.40"]);
    expect(await verdict(box, node, pem, nodeUser(gone))).toBe(`deny no running instance of this cluster is named ${gone}`);
    expect(box.calls(new RegExp(`describe-instances .*Name=private-dns-name,Values=${gone} Name=tag:kubernetes.io/cluster/prod,Values=owned`))).not.toEqual([]);
  });

  it("approves and denies the pending kubelet-serving requests of the cluster, and leaves other signers alone", async () => {
    const request = (name: string, signerName: string, username: string, pem: string, conditions?: object[]) => ({
      metadata: { name },
      spec: { signerName, username, request: Buffer.from(pem).toString("base64") },
      status: conditions ? { conditions } : {},
    });
    const good = csr(nodeSubject(WORKER.hostname), [`DNS:${WORKER.hostname}`, `IP:${WORKER.ip}`]);
    const bad = csr(nodeSubject(WORKER.hostname), [`DNS:${WORKER.hostname}`, `IP:${OTHER.ip}`]);
    const items = [
      request("csr-good", "kubernetes.io/kubelet-serving", nodeUser(WORKER.hostname), good),
      request("csr-bad", "kubernetes.io/kubelet-serving", nodeUser(WORKER.hostname), bad),
      request("csr-client", "kubernetes.io/kube-apiserver-client-kubelet", nodeUser(WORKER.hostname), bad),
      request("csr-done", "kubernetes.io/kubelet-serving", nodeUser(WORKER.hostname), bad, [{ type: "Approved" }]),
    ];
    require("node:fs").mkdirSync(join(box.state, "cluster"), { recursive: true });
    writeFileSync(join(box.state, "cluster/csrs.json"), JSON.stringify({ items }));
    const result = await box.run(node, "approve-node-certificates.sh", {}, ["--once"]);
    expect(result).toMatchObject({ code: 0 });
    expect(box.calls(/kubectl certificate/).map((l) => l.replace(/^\S+ kubectl /, ""))).toEqual(["certificate approve csr-good", "certificate deny csr-bad"]);
    expect(result.output).toContain(`denied csr-bad (kubernetes.io/kubelet-serving) for ${nodeUser(WORKER.hostname)}: address ${OTHER.ip} is not an address of instance ${WORKER.hostname}`);
  });
});

describe("the approver, for a kubelet's first client certificate (asked with the join token)", () => {
  const BOOTSTRAP = "system:bootstrap:abcdef";
  const NEW = { instanceId: "i-new", hostname: "ip-10-0-1-50.eu-west-1.compute.internal", ip: "10.0.1.50" };
  let box: Sandbox;
  let node: SandboxNode;
  beforeAll(async () => {
    ({ box, node } = await setup());
    box.setInstance(NEW, "pending", "worker");
    // WORKER runs and is registered; OTHER was launched two hours ago and never registered.
    mkdirSync(join(box.state, "cluster/objects"), { recursive: true });
    writeFileSync(join(box.state, `cluster/objects/Node_${WORKER.hostname}`), "{}");
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(join(box.state, "instances", OTHER.instanceId), twoHoursAgo, twoHoursAgo);
  });

  it("approves a new instance of this cluster that has no Node yet", async () => {
    expect(await verdict(box, node, csr(nodeSubject(NEW.hostname), []), BOOTSTRAP, "node_client_verdict")).toBe("approve");
  });

  it.each([
    // The attack: a foothold with the join token asks to become a node that exists, a control-plane node for one.
    ["a registered node's name", () => WORKER.hostname, [], `deny node ${WORKER.hostname} is registered already`],
    ["the name of an instance launched two hours ago", () => OTHER.hostname, [], `deny instance ${OTHER.hostname} was launched`],
    ["a name no instance of the cluster has", () => "ip-10-9-9-9.eu-west-1.compute.internal", [], "deny no running instance of this cluster is named ip-10-9-9-9.eu-west-1.compute.internal"],
    ["addresses in a client certificate", () => NEW.hostname, [`IP:${NEW.ip}`], "deny a client certificate names no hosts or addresses"],
  ])("denies %s", async (_, host, altNames, expected) => {
    expect(await verdict(box, node, csr(nodeSubject(host()), altNames), BOOTSTRAP, "node_client_verdict")).toContain(expected);
  });

  it("leaves a request pending, neither approved nor denied, while EC2 cannot be read", async () => {
    const unreachable = { FAKE_AWS_UNREACHABLE: "ec2 describe-instances" };
    expect(await verdict(box, node, csr(nodeSubject(NEW.hostname), []), BOOTSTRAP, "node_client_verdict", unreachable)).toBe(`wait cannot read EC2 for ${NEW.hostname}`);
    const serving = csr(nodeSubject(WORKER.hostname), [`DNS:${WORKER.hostname}`, `IP:${WORKER.ip}`]);
    expect(await verdict(box, node, serving, nodeUser(WORKER.hostname), "csr_verdict", unreachable)).toBe(`wait cannot read EC2 for ${WORKER.hostname}`);
  });

  it("denies a subject that is not a node's, and a request made without a bootstrap token", async () => {
    expect(await verdict(box, node, csr("/O=system:masters/CN=admin", []), BOOTSTRAP, "node_client_verdict")).toBe("deny subject CN=admin,O=system:masters is not a node's");
    expect(await verdict(box, node, csr(nodeSubject(NEW.hostname), []), "system:serviceaccount:kube-system:x", "node_client_verdict")).toBe(
      "deny requested by system:serviceaccount:kube-system:x, not with a bootstrap token",
    );
  });

  it("decides bootstrap client requests, leaves a node's own renewals to the controller manager, and removes kubeadm's blanket approval", async () => {
    const request = (name: string, username: string, pem: string) => ({
      metadata: { name },
      spec: { signerName: "kubernetes.io/kube-apiserver-client-kubelet", username, request: Buffer.from(pem).toString("base64") },
      status: {},
    });
    const items = [
      request("csr-new", BOOTSTRAP, csr(nodeSubject(NEW.hostname), [])),
      request("csr-takeover", BOOTSTRAP, csr(nodeSubject(WORKER.hostname), [])),
      request("csr-renewal", nodeUser(WORKER.hostname), csr(nodeSubject(WORKER.hostname), [])),
    ];
    writeFileSync(join(box.state, "cluster/csrs.json"), JSON.stringify({ items }));
    writeFileSync(join(box.state, "cluster/objects/ClusterRoleBinding_kubeadm:node-autoapprove-bootstrap"), "{}");
    const before = box.calls(/kubectl certificate/).length;
    const result = await box.run(node, "approve-node-certificates.sh", {}, ["--once"]);
    expect(result).toMatchObject({ code: 0 });
    expect(box.calls(/kubectl certificate/).slice(before).map((l) => l.replace(/^\S+ kubectl /, ""))).toEqual(["certificate approve csr-new", "certificate deny csr-takeover"]);
    expect(result.output).toContain("removed kubeadm:node-autoapprove-bootstrap");
    expect(existsSync(join(box.state, "cluster/objects/ClusterRoleBinding_kubeadm:node-autoapprove-bootstrap"))).toBe(false);
  });
});
