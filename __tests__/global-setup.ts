import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A directory for this run's shared offline plans (helpers/plan.ts, sharedPlan); the workers inherit the variable. */
export default function globalSetup(): void {
  process.env.KUBEADM_AWS_PLAN_CACHE = mkdtempSync(join(tmpdir(), "kubeadm-aws-plans-"));
}
