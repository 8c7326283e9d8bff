import { parseAllDocuments } from "yaml";
import { CALICO, KUBERNETES_RELEASES } from "../../lib/versions";
import { addonSpec } from "../helpers/control-plane-fixture";
import { applyExceptions, readExceptions } from "./exceptions";

/**
 * Images that run with host access or AWS credentials are pinned by digest
 * (check KA-IMAGE-DIGEST): a registry that serves another image under a tag
 * could otherwise run code as root on every node. Those we could not pin are
 * exceptions in SECURITY.md, scoped by image.
 */

interface Finding {
  readonly check: "KA-IMAGE-DIGEST";
  readonly image: string;
  readonly where: string;
}

const DIGEST = /@sha256:[0-9a-f]{64}$/;

/** Every `image:` in an object tree. */
function imagesIn(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(imagesIn);
  if (node && typeof node === "object") {
    return Object.entries(node).flatMap(([key, value]) => (key === "image" && typeof value === "string" ? [value] : imagesIn(value)));
  }
  return [];
}

/** Each image any supported configuration runs, with where it comes from. */
function clusterImages(): Map<string, string> {
  const images = new Map<string, string>();
  for (const [minor, release] of Object.entries(KUBERNETES_RELEASES)) {
    images.set(release.pauseImage, `containerd's sandbox image (${minor})`);
    for (const cni of ["calico", "cilium"] as const) {
      for (const addon of JSON.parse(addonSpec({ kubernetesVersion: minor, addons: { cni } })).addons as Array<{ name: string; files: Record<string, string> }>) {
        for (const [file, text] of Object.entries(addon.files)) {
          for (const image of parseAllDocuments(text).flatMap((d) => imagesIn(d.toJS()))) images.set(image, `${addon.name}/${file} (${minor})`);
        }
      }
    }
  }
  for (const image of CALICO.images) images.set(image, "calico.yaml, downloaded and checked by sha256");
  return images;
}

describe("container images by digest", () => {
  const images = clusterImages();
  const findings: Finding[] = [...images].filter(([image]) => !DIGEST.test(image)).map(([image, where]) => ({ check: "KA-IMAGE-DIGEST", image, where }));
  const exceptions = readExceptions().filter((e) => e.check === "KA-IMAGE-DIGEST");

  it("finds the images of every add-on, both CNIs and the pause image of every minor", () => {
    const names = [...images.keys()].map((i) => i.split(/[:@]/)[0]);
    for (const expected of ["registry.k8s.io/pause", "registry.k8s.io/provider-aws/cloud-controller-manager", "registry.k8s.io/autoscaling/cluster-autoscaler", "registry.k8s.io/sig-storage/csi-provisioner", "quay.io/calico/node"]) {
      expect(names).toContain(expected);
    }
    expect(images.size).toBeGreaterThan(12);
  });

  it("pins every image by digest, but for the exceptions in SECURITY.md", () => {
    const { open } = applyExceptions(findings, exceptions, (f) => f.image);
    expect(open).toEqual([]);
  });

  it("has no stale exception: each one excuses an image the cluster runs by tag", () => {
    const { used } = applyExceptions(findings, exceptions, (f) => f.image);
    expect(exceptions.filter((e) => !used.has(e))).toEqual([]);
  });

  it("pins the pause image and the add-ons that run as root or with the control plane's AWS credentials", () => {
    const pinned = [...images.keys()].filter((i) => DIGEST.test(i)).map((i) => i.split("@")[0]);
    expect(pinned).toEqual(
      expect.arrayContaining([
        "registry.k8s.io/pause:3.10.1",
        "registry.k8s.io/pause:3.10.2",
        "registry.k8s.io/provider-aws/cloud-controller-manager:v1.35.2",
        "registry.k8s.io/autoscaling/cluster-autoscaler:v1.35.2",
        "registry.k8s.io/autoscaling/cluster-autoscaler:v1.36.1",
        "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.17.0",
      ]),
    );
  });

  it("leaves Cilium's images to its chart, which names them by digest", () => {
    const cilium = (JSON.parse(addonSpec({ addons: { cni: "cilium" } })).addons as Array<{ name: string; helm?: { values: unknown } }>).find((a) => a.name === "cilium")!;
    // Our values never override an image or turn the chart's digests off.
    expect(JSON.stringify(cilium.helm!.values)).not.toMatch(/"(image|useDigest|digest|override)"/);
  });
});
