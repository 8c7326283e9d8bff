import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

/**
 * No plan outlives the run that made it (the next run plans with the code it tests), and no temporary directory:
 * a whole run makes over a gigabyte of them (sandboxes, packed consumer apps). KUBEADM_AWS_KEEP_TEMP=1 keeps them
 * for a look after a failure. A directory with a mount under it is left, and named: removing it would reach into
 * whatever is mounted there.
 */
export default function globalTeardown(): void {
  const run = process.env.KUBEADM_AWS_TEST_RUN;
  if (!run) return;
  const list = join(run, "temp-dirs");
  if (process.env.KUBEADM_AWS_KEEP_TEMP === "1") {
    process.stdout.write(`\nKUBEADM_AWS_KEEP_TEMP=1: the run's temporary directories are kept, listed in ${list}\n`);
    return;
  }
  const mounts = mountPoints();
  for (const dir of readFileSync(list, "utf8").split("\n").filter(Boolean)) {
    const mounted = mounts.find((point) => point === dir || point.startsWith(`${dir}/`));
    if (mounted) process.stdout.write(`\nkept ${dir}: ${mounted} is mounted under it\n`);
    else remove(dir);
  }
  if (!mounts.some((point) => point.startsWith(`${run}/`))) remove(run);
}

/** A directory that cannot go (a process still writing into it) is named, not a failure of the run. */
function remove(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (error) {
    process.stdout.write(`\nkept ${dir}: ${(error as Error).message}\n`);
  }
}

/** Every mount point this process sees (/proc/self/mountinfo's fifth field, octal escapes decoded). */
function mountPoints(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" ")[4].replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))));
}
