import { rmSync } from "node:fs";

/** No plan outlives the run that made it: the next run plans with the code it tests. */
export default function globalTeardown(): void {
  if (process.env.KUBEADM_AWS_PLAN_CACHE) rmSync(process.env.KUBEADM_AWS_PLAN_CACHE, { recursive: true, force: true });
}
