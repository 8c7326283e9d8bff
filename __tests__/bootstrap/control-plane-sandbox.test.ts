import { createHash, createPublicKey } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sha256 } from "../../lib/bootstrap/tar";
import { ADDON_SPEC_KEY } from "../../lib/control-plane/control-plane-user-data";
import { controlPlaneImage } from "../helpers/control-plane-fixture";
import { LocalEtcdCluster } from "../helpers/etcd-cluster";
import { SANDBOX_ARTIFACTS_BUCKET, Sandbox, SandboxNode } from "../helpers/sandbox";
import { evaluateFiles, firstEncryptionProvider, STRONG_ENCRYPTION_PROVIDERS } from "../security/cis-benchmark";
import { findSecrets } from "../security/secret-scan";

const CALICO_MANIFEST = "# calico manifest stand-in\n";
/** The control-plane image, its Calico checksum pointing at the stand-in manifest the sandbox serves. */
const IMAGE = controlPlaneImage({}, { calicoSha256: sha256(CALICO_MANIFEST) });

/** A sandbox whose download server has the Kubernetes apt key and a Calico manifest. */
function sandbox(calicoManifest = CALICO_MANIFEST): Sandbox {
  const box = new Sandbox();
  writeFileSync(join(box.downloads, "calico.yaml"), calicoManifest);
  return box;
}

let initialized: Promise<{ box: Sandbox; node: SandboxNode }> | undefined;

/** A first control-plane node booted with the default image: booted once per file, each test getting its own copy. */
async function initializedNode(): Promise<{ box: Sandbox; node: SandboxNode }> {
  initialized ??= (async () => {
    const box = sandbox();
    const node = box.addNode(0, IMAGE);
    const booted = await box.boot(node);
    if (booted.code !== 0) throw new Error(booted.output);
    return { box, node };
  })();
  const template = await initialized;
  const box = new Sandbox({ from: template.box });
  return { box, node: box.sameNode(template.node) };
}

const mutating = /kubeadm (init|join)|aws ssm put-parameter|secretsmanager put-secret-value|kubectl apply|apt-get install|set-instance-health/;

describe("control-plane bootstrap in a sandbox", () => {
  it("gives exactly one kubeadm init and two control-plane joins when 3 nodes boot at once", async () => {
    const box = sandbox();
    const nodes = [0, 1, 2].map((i) => box.addNode(i, IMAGE));
    const results = await Promise.all(nodes.map((n) => box.boot(n)));
    for (const r of results) expect({ node: r.node.instanceId, code: r.code, output: r.code ? r.output : "" }).toEqual({ node: r.node.instanceId, code: 0, output: "" });

    expect(box.calls(/ kubeadm init /)).toHaveLength(1);
    const joins = box.calls(/ kubeadm join /);
    expect(joins).toHaveLength(2);
    const initNode = box.calls(/ kubeadm init /)[0].split(" ")[0];
    expect(joins.map((j) => j.split(" ")[0]).sort()).toEqual(nodes.map((n) => n.instanceId).filter((id) => id !== initNode).sort());
    // Joiners ran with the control-plane join config, with the token and CA hash filled in.
    for (const join of joins) {
      const config = box.file(`last-${join.split(" ")[0]}-join.yaml`);
      expect(config).toContain("controlPlane:");
      expect(config).toMatch(/token: [0-9a-f]{6}\.[0-9a-f]{16}\n/);
      expect(config).toMatch(/- sha256:[0-9a-f]{64}\n/);
    }
    // Only the first node applies add-ons while booting; later changes are the timer's.
    expect([...new Set(box.calls(/kubectl apply .* -k /).map((l) => l.split(" ")[0]))]).toEqual([initNode]);
    expect(box.exists("unhealthy")).toBe(false);
    // What reaches the journal and the serial console: no token, key or kubeconfig credential.
    expect(results.flatMap((r) => findSecrets(r.output).map((f) => `${r.node.instanceId}: ${f}`))).toEqual([]);
    expect(results.map((r) => r.output).join("\n")).not.toContain(box.ssmValue("/k8s/prod/join/token")!.split(".")[1]);
  }, 60_000);

  it("publishes the join credentials and stores the PKI, encrypted, once initialized", async () => {
    const { box, node } = await initializedNode();

    expect(box.ssmValue("/k8s/prod/join/token")).toMatch(/^[0-9a-f]{6}\.[0-9a-f]{16}$/);
    expect(box.ssmValue("/k8s/prod/join/ca-cert-hash")).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(box.ssmValue("/k8s/prod/join/kubernetes-version")).toBe("v1.35.2");
    expect(box.calls(/put-parameter --name \/k8s\/prod\/join\/token --type SecureString --key-id alias\/k8s\/prod/)).toHaveLength(1);
    const pki = JSON.parse(box.secret("k8s/prod/pki")!);
    expect(Object.keys(pki).sort()).toEqual(
      ["ca.crt", "ca.key", "encryption-config.yaml", "etcd/ca.crt", "etcd/ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "initializedBy", "kubernetesVersion", "restoredFrom", "sa.key", "sa.pub"].sort(),
    );
    expect(pki["encryption-config.yaml"]).toMatch(/secretbox:\n\s+keys:\n\s+- name: key1\n\s+secret: [A-Za-z0-9+/]{43}=/);
    expect(box.secret("k8s/prod/admin-kubeconfig")).toContain("admin kubeconfig");
    // kubeadm's blanket approval of bootstrap requests gone and our approver running before anything else, then the PKI
    // (the cluster is then initialized and its CA final), then the join credentials, then every add-on.
    const addons = JSON.parse(IMAGE.objects![ADDON_SPEC_KEY]).addons.length;
    expect(addons).toBeGreaterThanOrEqual(7);
    const order = box
      .calls(/kubectl .*delete clusterrolebinding|systemctl enable --now kubeadm-aws-approve-node-certificates.service$|kubectl apply .* -k |put-secret-value --secret-id k8s\/prod\/pki|put-parameter --name \/k8s\/prod\/join\//)
      .map((l) => (l.includes("clusterrolebinding") ? l.split(" ").pop() : l.includes("systemctl") ? "approver" : l.includes("kubectl") ? "apply" : l.includes("pki") ? "pki" : l.split(" ")[5]));
    expect(order).toEqual([
      "--ignore-not-found",
      "approver",
      "pki",
      "/k8s/prod/join/token",
      "/k8s/prod/join/control-plane-version",
      "/k8s/prod/join/kubernetes-version",
      "/k8s/prod/join/ca-cert-hash",
      ...Array(addons).fill("apply"),
    ]);
    expect(box.calls(/delete clusterrolebinding/)).toEqual([expect.stringContaining("delete clusterrolebinding kubeadm:node-autoapprove-bootstrap --ignore-not-found")]);
    // Nothing that holds the token stays on the node, and kubeadm was told not to print it.
    expect(box.calls(/ kubeadm init /)).toEqual([expect.stringMatching(/ --skip-token-print/)]);
    for (const file of ["init.yaml", "join-token", "pki.json"]) expect(existsSync(join(node.root, "var/lib/kubeadm-aws/run", file))).toBe(false);
    // The endpoint pointed at this node only during kubeadm init.
    expect(require("node:fs").readFileSync(join(node.root, "etc/hosts"), "utf8")).not.toContain("kubeadm-aws-init");
  }, 60_000);

  it("takes over a stale init lock whose holder is gone", async () => {
    const box = sandbox();
    const node = box.addNode(0, IMAGE);
    // A lock left by an instance that no longer exists, before the cluster was initialized.
    const lock = join(box.state, "ssm", "%2Fk8s%2Fprod%2Fcontrol-plane%2Finit-lock");
    require("node:fs").mkdirSync(lock, { recursive: true });
    writeFileSync(join(lock, "v1"), `i-gone ${Math.floor(Date.now() / 1000)}`);
    writeFileSync(join(lock, "type"), "String");

    const result = await box.boot(node);
    expect(result.code).toBe(0);
    expect(result.output).toContain("init lock of i-gone (version 1) is stale; claiming it");
    expect(box.calls(/ kubeadm init /)).toHaveLength(1);
    expect(box.ssmValue("/k8s/prod/control-plane/init-lock")).toMatch(/^i-node0 \d+ 1$/);
  }, 60_000);

  it("lets exactly one of two nodes take over the same stale lock", async () => {
    const box = sandbox();
    const nodes = [0, 1].map((i) => box.addNode(i, IMAGE));
    const lock = join(box.state, "ssm", "%2Fk8s%2Fprod%2Fcontrol-plane%2Finit-lock");
    require("node:fs").mkdirSync(lock, { recursive: true });
    writeFileSync(join(lock, "v1"), "i-gone 0");
    writeFileSync(join(lock, "type"), "String");

    const results = await Promise.all(nodes.map((n) => box.boot(n)));
    expect(results.map((r) => r.code)).toEqual([0, 0]);
    expect(box.calls(/ kubeadm init /)).toHaveLength(1);
    expect(box.calls(/ kubeadm join /)).toHaveLength(1);
  }, 60_000);

  it.each([
    ["a terminated instance", "i-dead ip-10-0-0-99.eu-west-1.compute.internal https://10.0.0.99:2380"],
    ["a member added but never started", "i-orphan - https://10.0.0.98:2380"],
  ])("removes the etcd member of %s before a replacement joins", async (_, member) => {
    const box = sandbox();
    const [first, second, replacement] = [0, 1, 2].map((i) => box.addNode(i, IMAGE));
    for (const node of [first, second]) expect(await box.boot(node)).toMatchObject({ code: 0 });
    // The dead member first: checking it must not swallow the rest of the list (ctr forwards stdin).
    writeFileSync(join(box.state, "cluster/etcd-members"), `${member}\n${box.file("cluster/etcd-members")}`);
    box.setInstance({ instanceId: "i-dead", hostname: "ip-10-0-0-99.eu-west-1.compute.internal", ip: "10.0.0.99" }, "terminated");

    const result = await box.boot(replacement);
    expect({ code: result.code, output: result.code ? result.output : "" }).toEqual({ code: 0, output: "" });
    expect(box.calls(/etcdctl .*member remove/).map((l) => l.split(" ").pop())).toEqual(["0000000000000001"]);
    expect(box.file("cluster/etcd-members")).toMatch(/^REMOVED\ni-node0 .*\ni-node1 .*\ni-node2 /);
    // Straight to the live members, from the etcd image, with a client certificate the node signed itself.
    const list = box.calls(/^i-node2 ctr .*etcdctl .*member list/)[0];
    expect(list).toContain("registry.k8s.io/etcd:3.6.6-0 ");
    expect(list).toContain("--endpoints=https://10.0.0.10:2379,https://10.0.0.11:2379,https://10.0.0.12:2379 ");
    // Where etcdctl finds it both in the running etcd container and in a run from the etcd image.
    expect(list).toMatch(/ --cert=\/etc\/kubernetes\/pki\/etcd\/kubeadm-aws-member-care\/client\.crt /);
    expect(box.calls(/kubectl .*exec/)).toEqual([]);
    // The key and the certificate are gone once the step is done.
    expect(existsSync(join(replacement.root, "etc/kubernetes/pki/etcd/kubeadm-aws-member-care"))).toBe(false);
  }, 60_000);

  it("refuses to remove etcd members when the live ones lack quorum", async () => {
    const box = sandbox();
    const [first, replacement] = [0, 1].map((i) => box.addNode(i, IMAGE));
    expect((await box.boot(first)).code).toBe(0);
    const members = join(box.state, "cluster/etcd-members");
    writeFileSync(members, box.file("cluster/etcd-members") + "i-dead1 ip-a https://10.0.0.97:2380\ni-dead2 ip-b https://10.0.0.96:2380\n");

    const result = await box.boot(replacement);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("only 1 of 3 etcd members are alive, below quorum (2); not removing any: restore from a backup instead");
    expect(box.calls(/member remove/)).toEqual([]);
    expect(box.calls(/ kubeadm join /)).toEqual([]);
  }, 60_000);

  it("waits while a live node holds the lock, then joins once that node has initialized", async () => {
    const box = sandbox();
    const [first, second] = [0, 1].map((i) => box.addNode(i, IMAGE));
    const firstRun = await box.boot(first);
    expect(firstRun.code).toBe(0);
    const secondRun = await box.boot(second);
    expect(secondRun.code).toBe(0);
    expect(secondRun.output).toContain("role: join");
  }, 60_000);

  it("changes nothing when it runs a second time on the same node", async () => {
    const { box, node } = await initializedNode();
    const before = box.calls().length;
    const rerun = await box.boot(node);
    expect(rerun.code).toBe(0);
    const after = box.calls().slice(before);
    expect(after.filter((l) => mutating.test(l))).toEqual([]);
    expect(rerun.output).toContain("step=kubeadm-init status=skipped reason=done");
  }, 60_000);

  it("marks the instance unhealthy when kubeadm init fails", async () => {
    const box = sandbox();
    const node = box.addNode(0, IMAGE);
    const result = await box.boot(node, { FAKE_KUBEADM_INIT_FAIL: "1" });
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("bootstrap failed in step kubeadm-init");
    expect(box.calls(/autoscaling set-instance-health --instance-id i-node0 --health-status Unhealthy/)).toHaveLength(1);
    expect(box.secret("k8s/prod/pki")).toBeUndefined();
  }, 60_000);

  it("refuses a Calico manifest whose checksum differs, and still completes the bootstrap: the add-on timer retries", async () => {
    const box = sandbox("# tampered manifest\n");
    const node = box.addNode(0, IMAGE);
    const result = await box.boot(node);
    expect({ code: result.code, output: result.code ? result.output : "" }).toEqual({ code: 0, output: "" });
    expect(result.output).toMatch(/checksum mismatch for https:\/\/raw\.githubusercontent\.com\/projectcalico\/calico\/v3\.32\.1\/manifests\/calico\.yaml/);
    expect(result.output).toContain("the first add-on apply failed; the add-on timer (kubeadm-aws-addons.timer) applies them later");
    expect(box.calls(/kubectl apply .*20-calico/)).toEqual([]);
    // The cluster stays: its PKI is stored, nodes may join, and nothing marks the instance for replacement.
    expect(box.secret("k8s/prod/pki")).toBeDefined();
    expect(box.ssmValue("/k8s/prod/join/ca-cert-hash")).toMatch(/^sha256:/);
    expect(box.calls(/set-instance-health/)).toEqual([]);
    // The timer, run later on the same node, still refuses the tampered manifest.
    const timer = await box.run(node, "apply-addons.sh");
    expect(timer.code).not.toBe(0);
    expect(timer.output).toMatch(/checksum mismatch/);
  }, 60_000);

  it("fetches the CA material again when a reboot interrupts a control-plane join, because kubeadm reset deletes it", async () => {
    const box = sandbox();
    const [first, second] = [0, 1].map((i) => box.addNode(i, IMAGE));
    expect((await box.boot(first)).code).toBe(0);
    const crashed = await box.boot(second, { FAKE_KUBEADM_JOIN_FAIL: "1" });
    expect(crashed.code).not.toBe(0);
    // The reboot: the bootstrap runs again; the partial join is reset, which deletes /etc/kubernetes/pki.
    const rebooted = await box.boot(second);
    expect({ code: rebooted.code, output: rebooted.code ? rebooted.output : "" }).toEqual({ code: 0, output: "" });
    expect(rebooted.output).toContain("resetting a partial kubeadm run");
    expect(box.calls(/^i-node1 kubeadm (reset|join)/).map((l) => l.split(" ")[2])).toEqual(["join", "reset", "join"]);
    expect(existsSync(join(second.root, "var/lib/kubeadm-aws/run/join.yaml"))).toBe(false);
    // The etcd member the interrupted join added is removed before the join runs again: only the new one is left.
    expect(rebooted.output).toMatch(/removing etcd member 0+2 \(https:\/\/\S+:2380\): this node's own, left by an interrupted join/);
    const members = readFileSync(join(box.state, "cluster", "etcd-members"), "utf8").trim().split("\n");
    expect(members.map((m) => m.split(" ")[0])).toEqual(["i-node0", "REMOVED", "i-node1"]);
  }, 60_000);

  it("refuses a bundle whose checksum differs from the one in user data, and marks the instance unhealthy", async () => {
    const box = sandbox();
    const node = box.addNode(0, IMAGE);
    writeFileSync(join(box.state, "s3", SANDBOX_ARTIFACTS_BUCKET, IMAGE.bundle.key), Buffer.from("tampered"));
    const result = await box.boot(node);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain(`does not match sha256 ${IMAGE.bundle.sha256}; refusing to run it`);
    expect(box.calls(/ kubeadm /)).toEqual([]);
    expect(box.calls(/set-instance-health --instance-id i-node0 --health-status Unhealthy/)).toHaveLength(1);
  }, 60_000);

  it("leaves the files the CIS benchmark lists root-owned and private, and Secrets encrypted by a strong provider (CIS 1.1.x, 1.2.28)", async () => {
    const { node } = await initializedNode();
    // kubeadm (here its fake) left them readable by everyone; the bootstrap tightened them.
    expect(existsSync(join(node.root, "var/lib/kubelet/config.yaml"))).toBe(true);
    expect(evaluateFiles(node.root)).toEqual([]);
    expect(STRONG_ENCRYPTION_PROVIDERS).toContain(firstEncryptionProvider(readFileSync(join(node.root, "etc/kubernetes/encryption/config.yaml"), "utf8")));
    // The evaluator does fail a loose file.
    chmodSync(join(node.root, "etc/kubernetes/admin.conf"), 0o644);
    expect(evaluateFiles(node.root)).toEqual([{ check: "CIS-1.1.13/1.1.14", path: "etc/kubernetes/admin.conf", detail: "mode 644 is wider than 600" }]);
    expect(firstEncryptionProvider("resources:\n  - resources: [secrets]\n    providers:\n      - identity: {}\n")).toBe("identity");
  }, 60_000);

  it("keeps every secret it creates out of the user data, the bundle, the environment file and its journal and console", async () => {
    const box = sandbox();
    const [node, joiner] = [0, 1].map((i) => box.addNode(i, IMAGE));
    // What the bootstrap prints reaches the journal, the serial console and the CloudWatch bootstrap log.
    const journal: string[] = [];
    for (const n of [node, joiner]) {
      const run = await box.boot(n);
      expect(run.code).toBe(0);
      journal.push(run.output);
    }
    const pki = JSON.parse(box.secret("k8s/prod/pki")!);
    const firstKeyLine = (pem: string) => pem.split("\n")[1];
    const secrets = [
      box.ssmValue("/k8s/prod/join/token")!,
      firstKeyLine(pki["ca.key"]),
      firstKeyLine(pki["sa.key"]),
      firstKeyLine(pki["etcd/ca.key"]),
      /secret: (\S+)/.exec(pki["encryption-config.yaml"])![1],
    ];
    const envFile = require("node:fs").readFileSync(join(node.root, "etc/kubeadm-aws/node.env"), "utf8");
    const bundleText = IMAGE.bundle.files.map((f) => f.content).join("\n");
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(16);
      expect(IMAGE.userData).not.toContain(secret);
      expect(bundleText).not.toContain(secret);
      expect(envFile).not.toContain(secret);
      for (const output of journal) expect(output).not.toContain(secret);
    }
    expect(IMAGE.userData + bundleText).not.toMatch(/PRIVATE KEY|[0-9a-f]{6}\.[0-9a-f]{16}/);
  }, 60_000);
});

describe("restoring a lost control plane from a snapshot (etcd.restoreFrom)", () => {
  const SOURCE = "s3://prod-etcd-111122223333-eu-west-1/etcd/daily/20261127T000000Z-rev42.db";
  const RESTORE_IMAGE = controlPlaneImage({ etcd: { restoreFrom: SOURCE } }, { calicoSha256: sha256(CALICO_MANIFEST) });

  it("restores etcd on the first node with the surviving PKI, then lets the others join", async () => {
    // The cluster that was lost: its PKI survives in Secrets Manager, its snapshot in S3.
    const lost = sandbox();
    const old = lost.addNode(0, IMAGE);
    expect(await lost.boot(old)).toMatchObject({ code: 0 });
    const box = sandbox();
    require("node:fs").mkdirSync(join(box.state, "secrets"), { recursive: true });
    writeFileSync(join(box.state, "secrets", "k8s_prod_pki"), lost.secret("k8s/prod/pki")!);
    const oldPki = JSON.parse(lost.secret("k8s/prod/pki")!);
    const etcd = await LocalEtcdCluster.start(1);
    try {
      etcd.put("/registry/before-the-loss", "kept");
      const snapshot = join(box.state, "s3", SOURCE.replace("s3://", ""));
      require("node:fs").mkdirSync(require("node:path").dirname(snapshot), { recursive: true });
      expect(etcd.etcdctl(["snapshot", "save", snapshot]).status).toBe(0);
    } finally {
      await etcd.stop();
    }

    // The first node restores with the host's etcd tools (Debian etcd 3.4), in place of the etcd image's.
    const [first, second] = [0, 1].map((i) => box.addNode(i, RESTORE_IMAGE));
    expect(await box.boot(first, { ETCD_EXEC: "local" })).toMatchObject({ code: 0 });
    const joined = await box.boot(second);
    expect(joined).toMatchObject({ code: 0 });
    expect(joined.output).toContain("role: join");

    const init = box.calls(/ kubeadm init /);
    expect(init).toEqual([expect.stringMatching(/^i-node0 kubeadm init --config .* --ignore-preflight-errors=DirAvailable--var-lib-etcd$/)]);
    expect(box.calls(/ kubeadm join /)).toHaveLength(1);
    expect(require("node:fs").existsSync(join(first.root, "var/lib/etcd/member/snap/db"))).toBe(true);
    const pki = JSON.parse(box.secret("k8s/prod/pki")!);
    expect(pki.restoredFrom).toBe(SOURCE);
    for (const file of ["ca.crt", "ca.key", "sa.key", "etcd/ca.key", "encryption-config.yaml"]) expect(pki[file]).toBe(oldPki[file]);
  }, 90_000);
});

describe("the service-account issuer AWS IAM trusts, published by the control plane in a sandbox", () => {
  const ISSUER = "https://prod-oidc-111122223333-eu-west-1.s3.eu-west-1.amazonaws.com";
  const published = (box: Sandbox, key: string) => join(box.state, "s3", "prod-oidc-111122223333-eu-west-1", key);

  it("gives the apiserver the bucket's issuer first and kubeadm's in-cluster one after it, then publishes what the apiserver serves, before the join credentials", async () => {
    const { box, node } = await initializedNode();
    const init = box.file("last-i-node0-init.yaml");
    expect([...init.matchAll(/- name: service-account-issuer\n\s+value: (\S+)/g)].map((m) => m[1])).toEqual([ISSUER, "https://kubernetes.default.svc.cluster.local"]);
    expect(init).toMatch(new RegExp(`- name: service-account-jwks-uri\\n\\s+value: ${ISSUER}/openid/v1/jwks\\n`));
    const discovery = JSON.parse(readFileSync(published(box, ".well-known/openid-configuration"), "utf8"));
    expect(discovery).toMatchObject({ issuer: ISSUER, jwks_uri: `${ISSUER}/openid/v1/jwks` });
    // The key set names the node's own service-account key, as kube-apiserver derives its id.
    const der = createPublicKey(readFileSync(join(node.root, "etc/kubernetes/pki/sa.pub"))).export({ type: "spki", format: "der" });
    const keys = JSON.parse(readFileSync(published(box, "openid/v1/jwks"), "utf8")).keys;
    expect(keys.map((k: { kid: string }) => k.kid)).toEqual([createHash("sha256").update(der).digest("base64url")]);
    const calls = box.calls(/--bucket prod-oidc-|ca-cert-hash --type/).map((c) => c.replace(/^\S+ /, "").replace(/ --body \S+/, ""));
    expect(calls).toEqual([
      "aws s3api put-object --expected-bucket-owner 111122223333 --bucket prod-oidc-111122223333-eu-west-1 --key .well-known/openid-configuration --content-type application/json",
      "aws s3api put-object --expected-bucket-owner 111122223333 --bucket prod-oidc-111122223333-eu-west-1 --key openid/v1/jwks --content-type application/json",
      expect.stringContaining("--name /k8s/prod/join/ca-cert-hash --type"),
    ]);
  }, 60_000);

  it("refuses to publish when the apiserver signs as another issuer, and says which", async () => {
    const { box, node } = await initializedNode();
    writeFileSync(join(box.state, "cluster", "service-account-issuers"), "https://kubernetes.default.svc.cluster.local\n");
    const result = await box.shell(node, ["control-plane.sh"], "publish_service_account_issuer");
    expect(result.code).not.toBe(0);
    expect(result.output).toContain(`the apiserver's discovery document names issuer ["https://kubernetes.default.svc.cluster.local","${ISSUER}/openid/v1/jwks"], not ${ISSUER}`);
  }, 60_000);

  it("leaves kubeadm's issuer alone and publishes nothing with workloadIdentity off", async () => {
    const box = sandbox();
    const node = box.addNode(0, controlPlaneImage({ workloadIdentity: false }, { calicoSha256: sha256(CALICO_MANIFEST) }));
    expect((await box.boot(node)).code).toBe(0);
    expect(box.file("last-i-node0-init.yaml")).not.toMatch(/service-account-(issuer|jwks-uri)/);
    expect(box.calls(/prod-oidc-/)).toEqual([]);
  }, 60_000);
});

describe("join token rotation in a sandbox", () => {
  it("does nothing while the token in SSM has more than half its life left", async () => {
    const { box, node } = await initializedNode();
    const token = box.ssmValue("/k8s/prod/join/token");
    const result = await box.run(node, "rotate-join-token.sh");
    expect(result.code).toBe(0);
    expect(result.output).toMatch(/join token valid for \d+s more; nothing to do/);
    expect(box.ssmValue("/k8s/prod/join/token")).toBe(token);
  }, 60_000);

  it("puts a new token into SSM before the current one expires", async () => {
    const { box, node } = await initializedNode();
    const token = box.ssmValue("/k8s/prod/join/token")!;
    // The cluster says the token expires in one hour.
    const tokens = join(box.state, "cluster/tokens");
    const soon = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, "Z");
    writeFileSync(tokens, box.file("cluster/tokens").replace(new RegExp(`^${token} \\S+`, "m"), `${token} ${soon}`));
    const result = await box.run(node, "rotate-join-token.sh");
    expect(result.code).toBe(0);
    const rotated = box.ssmValue("/k8s/prod/join/token")!;
    expect(rotated).not.toBe(token);
    expect(box.file("cluster/tokens")).toContain(`${rotated} `);
    // The old token stays valid for joins in flight, also on a run right after the rotation.
    expect(box.file("cluster/tokens")).toContain(`${token} `);
    expect((await box.run(node, "rotate-join-token.sh")).output).not.toContain("revoked");
    expect(box.file("cluster/tokens")).toContain(`${token} `);
    // Once its successor in SSM is an hour old (it has 22 of its 24 hours left), a run revokes it.
    const later = new Date(Date.now() + 22 * 3600_000).toISOString().replace(/\.\d+Z$/, "Z");
    writeFileSync(tokens, box.file("cluster/tokens").replace(new RegExp(`^${rotated} \\S+`, "m"), `${rotated} ${later}`));
    const next = await box.run(node, "rotate-join-token.sh");
    expect(next.output).toContain(`revoked join token ${token.split(".")[0]}: the one in SSM replaced it over an hour ago`);
    expect(box.file("cluster/tokens")).not.toContain(`${token} `);
    expect(box.file("cluster/tokens")).toContain(`${rotated} `);
    expect(box.calls(/ kubeadm token delete /)).toEqual([`i-node0 kubeadm token delete ${token}`]);
  }, 60_000);

  it("leaves a valid token in SSM when rotators on several nodes race", async () => {
    const { box, node } = await initializedNode();
    writeFileSync(join(box.state, "cluster/tokens"), ""); // the cluster no longer knows the token in SSM
    const results = await Promise.all([box.run(node, "rotate-join-token.sh"), box.run(node, "rotate-join-token.sh")]);
    expect(results.map((r) => r.code)).toEqual([0, 0]);
    const current = box.ssmValue("/k8s/prod/join/token")!;
    expect(box.file("cluster/tokens").split("\n").map((l) => l.split(" ")[0])).toContain(current);
  }, 60_000);
});
