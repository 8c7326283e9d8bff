import { execFileSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ControlPlaneOptions } from "../../lib/control-plane/settings";
import { ADDON_SPEC_KEY } from "../../lib/control-plane/control-plane-user-data";
import { SANDBOX_ARTIFACTS_BUCKET } from "../helpers/sandbox";
import { sha256 } from "../../lib/bootstrap/tar";
import { CALICO, CILIUM, HELM } from "../../lib/versions";
import { addonSpec, controlPlaneImage } from "../helpers/control-plane-fixture";
import { tempDir } from "../helpers/plan";
import { Sandbox, SandboxNode } from "../helpers/sandbox";

const FAKES = join(__dirname, "../bootstrap/fakes");
const CALICO_MANIFEST = "# calico manifest stand-in\n";
const CHART = "cilium chart stand-in";

/** A Helm release archive (linux-amd64/helm) whose helm is the recording fake. */
function helmArchive(): Buffer {
  const dir = tempDir("helm");
  mkdirSync(join(dir, "linux-amd64"));
  copyFileSync(join(FAKES, "helm"), join(dir, "linux-amd64/helm"));
  execFileSync("tar", ["-czf", join(dir, "helm.tar.gz"), "-C", dir, "linux-amd64/helm"]);
  return readFileSync(join(dir, "helm.tar.gz"));
}
const HELM_ARCHIVE = helmArchive();

/** The add-on specification for these options, its pinned checksums pointing at the stand-ins the sandbox serves. */
function sandboxSpec(options: ControlPlaneOptions = {}): string {
  return addonSpec(options)
    .split(CALICO.manifestSha256)
    .join(sha256(CALICO_MANIFEST))
    .split(CILIUM.chartSha256)
    .join(sha256(CHART))
    .split(HELM.sha256.amd64)
    .join(sha256(HELM_ARCHIVE));
}

/** Control-plane nodes, unpacked but not booted: apply-addons.sh runs on its own, as its timer does. */
function setup(nodes = 1): { box: Sandbox; nodes: SandboxNode[] } {
  const box = new Sandbox();
  writeFileSync(join(box.downloads, "calico.yaml"), CALICO_MANIFEST);
  writeFileSync(join(box.downloads, `cilium-${CILIUM.version}.tgz`), CHART);
  writeFileSync(join(box.downloads, `helm-${HELM.version}-linux-amd64.tar.gz`), HELM_ARCHIVE);
  const image = controlPlaneImage();
  const created = [...Array(nodes).keys()].map((i) => {
    const node = box.addNode(i, image);
    box.unpackBundle(node, image);
    return node;
  });
  box.publishAddonSpec(sandboxSpec());
  return { box, nodes: created };
}

const applied = (box: Sandbox) => box.calls(/ kubectl apply .* -k /).map((l) => l.replace(/^(\S+) .*\/folders\/(\S+)$/, "$1 $2"));
const recordedSha = (box: Sandbox) => JSON.parse(box.file("cluster/objects/ConfigMap_kubeadm-aws-addons")).data.specSha256;
const lease = (box: Sandbox) => JSON.parse(box.file("cluster/objects/Lease_kubeadm-aws-addons"));

describe("apply-addons.sh on a fake cluster", () => {
  it("applies the specification once, then only when its sha256 changes", async () => {
    const { box, nodes } = setup();
    const first = await box.run(nodes[0], "apply-addons.sh");
    expect(first).toMatchObject({ code: 0 });
    const names = JSON.parse(sandboxSpec()).addons.map((a: { order: number; name: string }) => `i-node0 ${a.order}-${a.name}`);
    expect(applied(box)).toEqual(names);
    expect(recordedSha(box)).toBe(sha256(sandboxSpec()));

    const again = await box.run(nodes[0], "apply-addons.sh");
    expect(again).toMatchObject({ code: 0 });
    expect(again.output).toMatch(/add-on specification [0-9a-f]{12} is applied; nothing to do/);
    expect(applied(box)).toHaveLength(names.length);

    const changed = sandboxSpec({ addons: { metricsServer: { enabled: false } } });
    box.publishAddonSpec(changed);
    expect(await box.run(nodes[0], "apply-addons.sh")).toMatchObject({ code: 0 });
    expect(applied(box)).toHaveLength(2 * names.length - 1);
    expect(applied(box).slice(names.length)).not.toContain("i-node0 40-metrics-server");
    expect(recordedSha(box)).toBe(sha256(changed));
  }, 60_000);

  it("applies only the specification whose sha256 Terraform recorded in SSM: a bucket write alone changes nothing", async () => {
    const { box, nodes } = setup();
    expect(await box.run(nodes[0], "apply-addons.sh")).toMatchObject({ code: 0 });
    const before = applied(box).length;
    // An attacker with s3:PutObject and nothing else replaces the specification with one that runs their image.
    const spec = JSON.parse(sandboxSpec());
    spec.addons[0].name = "planted";
    const planted = JSON.stringify(spec);
    box.putObject(ADDON_SPEC_KEY, planted);
    for (const args of [[], ["--force"]]) {
      const run = await box.run(nodes[0], "apply-addons.sh", {}, args);
      expect(run.code).not.toBe(0);
      expect(run.output).toContain(`has sha256 ${sha256(planted)}, not ${sha256(sandboxSpec())} as recorded in /k8s/prod/control-plane/addon-spec-sha256; not applying it`);
    }
    expect(applied(box)).toHaveLength(before);
    expect(recordedSha(box)).toBe(sha256(sandboxSpec()));
  }, 60_000);

  it("names the bucket's owner, this account, on every request to the bucket it derives", async () => {
    const { box, nodes } = setup();
    expect(await box.run(nodes[0], "apply-addons.sh")).toMatchObject({ code: 0 });
    const requests = box.calls(new RegExp(`aws s3 .*${SANDBOX_ARTIFACTS_BUCKET}`));
    expect(requests).toHaveLength(1);
    expect(requests[0]).toContain("--expected-bucket-owner 111122223333");
  }, 60_000);

  it("applies with --force even when the specification is unchanged (the first node, at init)", async () => {
    const { box, nodes } = setup();
    expect(await box.run(nodes[0], "apply-addons.sh")).toMatchObject({ code: 0 });
    const before = applied(box).length;
    expect(await box.run(nodes[0], "apply-addons.sh", {}, ["--force"])).toMatchObject({ code: 0 });
    expect(applied(box)).toHaveLength(2 * before);
  }, 60_000);

  it("lets only the lease holder apply when several control-plane nodes run at once", async () => {
    const { box, nodes } = setup(3);
    const results = await Promise.all(nodes.map((n) => box.run(n, "apply-addons.sh")));
    expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
    const appliers = [...new Set(applied(box).map((l) => l.split(" ")[0]))];
    expect(appliers).toHaveLength(1);
    const holder = nodes.find((n) => n.instanceId === appliers[0])!;
    expect(lease(box).spec.holderIdentity).toBe(holder.hostname);
    for (const r of results.filter((r) => r.node !== holder)) expect(r.output).toContain(`lease held by ${holder.hostname}`);
  }, 60_000);

  it("takes over the lease once its holder stops renewing it, and only one node does", async () => {
    const { box, nodes } = setup(3);
    expect(await box.run(nodes[0], "apply-addons.sh")).toMatchObject({ code: 0 });
    // node0 is gone: its lease was last renewed ten minutes ago.
    const file = join(box.state, "cluster/objects/Lease_kubeadm-aws-addons");
    const stale = lease(box);
    stale.spec.renewTime = new Date(Date.now() - 600_000).toISOString().replace(/\.\d+Z$/, ".000000Z");
    writeFileSync(file, JSON.stringify(stale));
    box.publishAddonSpec(sandboxSpec({ addons: { coreDns: { enabled: false } } }));

    const results = await Promise.all(nodes.slice(1).map((n) => box.run(n, "apply-addons.sh")));
    expect(results.map((r) => r.code)).toEqual([0, 0]);
    const appliers = [...new Set(applied(box).map((l) => l.split(" ")[0]))];
    expect(appliers).toHaveLength(2);
    expect(appliers[0]).toBe("i-node0");
    expect(lease(box).spec.holderIdentity).toBe(nodes.find((n) => n.instanceId === appliers[1])!.hostname);
  }, 60_000);

  it("aborts on a download whose checksum differs, with a clear error, and records nothing", async () => {
    const { box, nodes } = setup();
    writeFileSync(join(box.downloads, "calico.yaml"), "# tampered\n");
    const result = await box.run(nodes[0], "apply-addons.sh");
    expect(result.code).not.toBe(0);
    expect(result.output).toContain(`checksum mismatch for ${CALICO.manifestUrl}: expected sha256 ${sha256(CALICO_MANIFEST)}, got ${sha256("# tampered\n")}\n`);
    expect(result.output).toContain("error: refusing to apply 20-calico");
    expect(applied(box)).toEqual(["i-node0 10-aws-cloud-controller-manager"]);
    expect(box.exists("cluster/objects/ConfigMap_kubeadm-aws-addons")).toBe(false);
    // The next run tries again.
    writeFileSync(join(box.downloads, "calico.yaml"), CALICO_MANIFEST);
    expect(await box.run(nodes[0], "apply-addons.sh")).toMatchObject({ code: 0 });
    expect(recordedSha(box)).toBe(sha256(sandboxSpec()));
  }, 60_000);

  it("renders Cilium's chart with the downloaded Helm and the values of the specification", async () => {
    const { box, nodes } = setup();
    box.publishAddonSpec(sandboxSpec({ addons: { cni: "cilium" }, podCidr: "10.240.0.0/16" }));
    const result = await box.run(nodes[0], "apply-addons.sh");
    expect(result).toMatchObject({ code: 0 });
    expect(box.calls(/ helm /)).toEqual([expect.stringMatching(/^i-node0 helm template cilium \S+\/20-cilium\/cilium-1\.19\.6\.tgz --namespace kube-system --values \S+\/values\.json$/)]);
    const folder = join(nodes[0].root, "var/lib/kubeadm-aws/addons/folders/20-cilium");
    const rendered = readFileSync(join(folder, "helm-rendered.yaml"), "utf8");
    const values = JSON.parse(JSON.parse(/values\.json: (.*)$/m.exec(rendered)![1]));
    expect(values.ipam.operator.clusterPoolIPv4PodCIDRList).toEqual(["10.240.0.0/16"]);
    expect(applied(box)).toContain("i-node0 20-cilium");
  }, 60_000);

  it("refuses a specification that names a file outside its add-on's folder", async () => {
    const { box, nodes } = setup();
    const spec = JSON.parse(sandboxSpec());
    spec.addons[0].files["../../escape.sh"] = "#!/bin/sh\n";
    box.publishAddonSpec(JSON.stringify(spec));
    const result = await box.run(nodes[0], "apply-addons.sh");
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("add-on specification names an unsafe path: 10-aws-cloud-controller-manager/../../escape.sh");
    expect(applied(box)).toEqual([]);
  }, 60_000);
});

describe("apply-addons.sh: the serving certificate the apiserver verifies metrics-server with", () => {
  const SECRET = "metrics-server-serving";
  const objects = (box: Sandbox) => join(box.state, "cluster/objects");
  /** The Secrets generated for the certificate, oldest first. */
  const secrets = (box: Sandbox) =>
    readdirSync(objects(box))
      .filter((f) => f.startsWith(`Secret_${SECRET}-`))
      .map((f) => JSON.parse(readFileSync(join(objects(box), f), "utf8")))
      .sort((a, b) => a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp));
  const pem = (secret: any, key: string) => Buffer.from(secret.data[key], "base64").toString();
  const bundle = (secret: any) => pem(secret, "caBundle").match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/g)!;
  const daysLeft = (certificate: string) => (Date.parse(new X509Certificate(certificate).validTo) - Date.now()) / 86_400_000;

  /** Replaces a stored Secret's certificate with one that expires in `days`, as if it had been made long ago. */
  function ageSecret(box: Sandbox, secret: any, days: number): string {
    const dir = tempDir("aged");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", String(days),
      "-subj", "/CN=metrics-server.kube-system.svc", "-keyout", join(dir, "key"), "-out", join(dir, "crt")], { stdio: "ignore" });
    const certificate = readFileSync(join(dir, "crt"), "utf8");
    secret.data = { "tls.crt": Buffer.from(certificate).toString("base64"), "tls.key": readFileSync(join(dir, "key")).toString("base64"), caBundle: Buffer.from(certificate).toString("base64") };
    writeFileSync(join(objects(box), `Secret_${secret.metadata.name}`), JSON.stringify(secret));
    return certificate;
  }

  it("makes one for the name the apiserver verifies, keeps it while valid, and leaves no copy of its key on disk", async () => {
    const { box, nodes } = setup();
    expect(await box.run(nodes[0], "apply-addons.sh")).toMatchObject({ code: 0 });
    const [secret, ...others] = secrets(box);
    expect(others).toEqual([]);
    expect(secret.metadata.labels).toEqual({ "kubeadm-aws.io/serving-certificate": SECRET });
    const certificate = new X509Certificate(pem(secret, "tls.crt"));
    expect(certificate.subjectAltName).toBe("DNS:metrics-server.kube-system.svc, DNS:metrics-server.kube-system.svc.cluster.local");
    expect(certificate.checkPrivateKey(createPrivateKey(pem(secret, "tls.key")))).toBe(true);
    expect(daysLeft(pem(secret, "tls.crt"))).toBeGreaterThan(364);
    expect(bundle(secret)).toEqual([pem(secret, "tls.crt")]);
    expect(existsSync(join(nodes[0].root, "var/lib/kubeadm-aws/addons/folders/40-metrics-server/tls.key"))).toBe(false);

    const again = await box.run(nodes[0], "apply-addons.sh", {}, ["--force"]);
    expect(again).toMatchObject({ code: 0 });
    expect(again.output).not.toContain("making a new serving certificate");
    expect(secrets(box)).toEqual([secret]);
  }, 60_000);

  it("renews it within 30 days of expiry on a timer run with nothing else to apply, trusts old and new until the pods roll, and keeps two Secrets", async () => {
    const { box, nodes } = setup();
    expect(await box.run(nodes[0], "apply-addons.sh")).toMatchObject({ code: 0 });
    const appliedBefore = applied(box).length;
    const old = ageSecret(box, secrets(box)[0], 29);

    const renewal = await box.run(nodes[0], "apply-addons.sh");
    expect(renewal).toMatchObject({ code: 0 });
    expect(renewal.output).toContain("a serving certificate is missing or due for renewal");
    expect(applied(box).length).toBeGreaterThan(appliedBefore);
    const [, renewed] = secrets(box);
    expect(daysLeft(pem(renewed, "tls.crt"))).toBeGreaterThan(364);
    expect(bundle(renewed)).toEqual([pem(renewed, "tls.crt"), old]);

    // Not yet due: the next run changes nothing.
    expect((await box.run(nodes[0], "apply-addons.sh")).output).toMatch(/is applied; nothing to do/);
    expect(secrets(box)).toHaveLength(2);

    // A year on, the next renewal drops the oldest Secret.
    const expiring = ageSecret(box, renewed, 1);
    expect((await box.run(nodes[0], "apply-addons.sh")).code).toBe(0);
    const kept = secrets(box);
    expect(kept).toHaveLength(2);
    expect(pem(kept[0], "tls.crt")).toBe(expiring);
    expect(bundle(kept[1])).toEqual([pem(kept[1], "tls.crt"), expiring]);
  }, 60_000);
});
