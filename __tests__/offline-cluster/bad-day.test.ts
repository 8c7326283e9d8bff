import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sha256 } from "../../lib/bootstrap/tar";
import { controlPlaneImage } from "../helpers/control-plane-fixture";
import { waitFor } from "../helpers/kubernetes/lab";
import { CALICO_STAND_IN, OfflineCluster, OfflineNode } from "../helpers/kubernetes/offline-cluster";

/**
 * Drill "bad day": the add-on step fails on the node that creates the cluster
 * (Calico's manifest cannot be downloaded). The node must not throw the new
 * cluster away: it keeps its CA, publishes the join credentials and reports
 * itself healthy, and the add-on timer applies the add-ons once the download
 * works again. One control-plane node (count 1), from our user data, unmodified.
 */

const MINOR = "1.35";
const IP = "10.77.0.10";

describe("offline cluster drill: the first add-on apply fails, and a later timer run applies it", () => {
  let cluster: OfflineCluster;
  let node: OfflineNode;
  let log: string;
  let addonSpecSha256: string;

  beforeAll(async () => {
    cluster = await OfflineCluster.create(MINOR, [IP]);
    // The download fails: the manifest is not served.
    rmSync(join(cluster.aws.downloads, "calico.yaml"));
    const image = controlPlaneImage({ kubernetesVersion: MINOR, count: 1 }, { calicoSha256: sha256(CALICO_STAND_IN) });
    addonSpecSha256 = sha256(image.objects![Object.keys(image.objects!)[0]]);
    node = await cluster.launch("cp1", 0, image, "control-plane");
    // The add-on step retries a failed download for two minutes before it gives up.
    log = await node.bootstrapped(8 * 60_000);
  }, 10 * 60_000);

  afterAll(async () => {
    await cluster?.destroy();
  }, 60_000);

  it("finishes its bootstrap, leaving the add-ons to the timer, and stays in service", () => {
    expect(log).toMatch(/refusing to apply \S*calico/);
    expect(log).toMatch(/the first add-on apply failed; the add-on timer \(kubeadm-aws-addons\.timer\) applies them later/);
    expect(log).toMatch(/control-plane node is ready/);
    expect(cluster.aws.calls(/ set-instance-health /)).toEqual([]);
  });

  it("keeps the CA it made: stored, served, and hashed into the published join credentials", async () => {
    const served = (await node.exec(["cat", "/etc/kubernetes/pki/ca.crt"])).output;
    const stored = JSON.parse(cluster.aws.secret("k8s/prod/pki")!);
    expect(stored.initializedBy).toBe(node.instanceId);
    expect(stored["ca.crt"].trim()).toBe(served.trim());
    const hash = await node.exec(["bash", "-c", "openssl x509 -pubkey -noout -in /etc/kubernetes/pki/ca.crt | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1"]);
    expect(cluster.aws.ssmValue("/k8s/prod/join/ca-cert-hash")).toBe(`sha256:${hash.output.trim()}`);
    // kubeadm init ran once.
    expect(log.match(/\[init\] Using Kubernetes version/g)).toHaveLength(1);
  });

  it("applies the add-on specification on a later run of the add-on timer, once the download works", async () => {
    const recorded = () => node.kubectl(["-n", "kube-system", "get", "configmap", "kubeadm-aws-addons", "-o", "jsonpath={.data.specSha256}"]);
    expect((await recorded()).code).not.toBe(0);
    writeFileSync(join(cluster.aws.downloads, "calico.yaml"), CALICO_STAND_IN);
    const applied = await waitFor(
      "the add-on timer to apply the specification",
      async () => {
        const result = await recorded();
        return result.code === 0 && result.output ? result.output : undefined;
      },
      5 * 60_000,
      3_000,
    );
    expect(applied).toBe(addonSpecSha256);
    expect(node.runtime.written("/var/log/lab-units/kubeadm-aws-addons.service.log")).toMatch(new RegExp(`add-on specification ${addonSpecSha256.slice(0, 12)} applied`));
  }, 6 * 60_000);
});
