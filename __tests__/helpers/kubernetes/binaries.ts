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
}

export function cacheDir(): string {
  return process.env.KUBEADM_AWS_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "cdktf-kubeadm-aws");
}

/** The binaries of a supported minor's tested patch; fails, never skips, when they were not built. */
export function kubernetesBinaries(minor: string): KubernetesBinaries {
  const release = KUBERNETES_RELEASES[minor];
  if (!release) throw new Error(`Kubernetes ${minor} is not a supported minor`);
  const version = `v${release.testedPatch}`;
  const dir = join(cacheDir(), "kubernetes", version);
  if (!existsSync(join(dir, ".complete"))) {
    throw new Error(`Kubernetes ${version} is not built in ${dir}; run __tests__/provision/provision.sh (npm test runs it first)`);
  }
  return { version, minor, bin: join(dir, "bin"), etcdVersion: readFileSync(join(dir, "etcd-version"), "utf8").trim() };
}

/** A PATH whose first entries are the real binaries, for commands run on lab nodes. */
export function pathWith(binaries: KubernetesBinaries, ...more: string[]): string {
  return [...more, binaries.bin, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].join(":");
}
