import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The run's own directory, which the workers inherit through KUBEADM_AWS_TEST_RUN: its shared offline plans
 * (helpers/plan.ts, sharedPlan) and the list of temporary directories the tests made (tempDir), which the
 * teardown removes.
 */
export default function globalSetup(): void {
  const run = mkdtempSync(join(tmpdir(), "kubeadm-aws-test-run-"));
  writeFileSync(join(run, "temp-dirs"), "");
  process.env.KUBEADM_AWS_TEST_RUN = run;
}
