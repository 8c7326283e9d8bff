import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { KUBERNETES_RELEASES } from "../../../lib/versions";

/** The real programs of one Kubernetes patch, built by __tests__/provision/build-kubernetes.sh. */
export interface KubernetesBinaries {
  /** "v1.35.4" */
  readonly version: string;
  readonly minor: string;
  readonly bin: string;
  /** The etcd version kubeadm of this patch deploys, which was built beside it ("3.6.6"). */
  readonly etcdVersion: string;
  /** Every image kubeadm of this patch deploys, as a local OCI archive, with the CNI plugins and crictl (build-images.sh). */
  readonly images: string;
}

/** An image kubeadm deploys, built locally under its exact name. */
export interface LocalImage {
  /** "registry.k8s.io/kube-apiserver:v1.35.4" */
  readonly name: string;
  readonly archive: string;
}

export function cacheDir(): string {
  return process.env.KUBEADM_AWS_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "cdktf-kubeadm-aws");
}

/** The directory of the jq the nodes run (Ubuntu 24.04's 1.7.1), built by __tests__/provision/build-jq.sh; fails when missing. */
export function nodeJqDir(): string {
  const dir = join(cacheDir(), "jq", NODE_JQ_VERSION);
  if (!existsSync(join(dir, ".complete"))) throw new Error(`jq ${NODE_JQ_VERSION} is not built in ${dir}; run __tests__/provision/provision.sh (npm test runs it first)`);
  return join(dir, "bin");
}
/** Keep in step with JQ_VERSION of build-jq.sh. */
const NODE_JQ_VERSION = "1.7.1";

/** The binaries of a supported minor's tested patch; fails, never skips, when they were not built. */
export function kubernetesBinaries(minor: string): KubernetesBinaries {
  const release = KUBERNETES_RELEASES[minor];
  if (!release) throw new Error(`Kubernetes ${minor} is not a supported minor`);
  const version = `v${release.testedPatch}`;
  const dir = join(cacheDir(), "kubernetes", version);
  const images = join(cacheDir(), "images", version);
  for (const built of [dir, images]) {
    if (!existsSync(join(built, ".complete"))) {
      throw new Error(`Kubernetes ${version} is not built in ${built}; run __tests__/provision/provision.sh (npm test runs it first)`);
    }
  }
  return { version, minor, bin: join(dir, "bin"), etcdVersion: readFileSync(join(dir, "etcd-version"), "utf8").trim(), images };
}

/** The images of a release, as build-images.sh listed them. */
export function localImages(binaries: KubernetesBinaries): LocalImage[] {
  return readFileSync(join(binaries.images, "images"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [name, file] = line.split(" ");
      return { name, archive: join(binaries.images, file) };
    });
}

/** The image archives a node of `role` runs: a worker needs only pause, kube-proxy and CoreDNS. */
export function nodeImages(binaries: KubernetesBinaries, role: "control-plane" | "worker"): string[] {
  return localImages(binaries)
    .filter((i) => role === "control-plane" || /\/(pause|kube-proxy|coredns):/.test(i.name))
    .map((i) => i.archive);
}

/** A PATH whose first entries are the real binaries, for commands run on lab nodes. */
export function pathWith(binaries: KubernetesBinaries, ...more: string[]): string {
  return [...more, binaries.bin, join(binaries.images, "node-bin"), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].join(":");
}
