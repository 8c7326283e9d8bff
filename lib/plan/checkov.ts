import { execFile } from "node:child_process";
import { basename } from "node:path";

/** One check on one resource, as checkov reports it. */
export interface CheckovResult {
  /** The plan file's name without ".json": which configuration. */
  readonly plan: string;
  readonly check: string;
  readonly address: string;
  readonly name: string;
  readonly passed: boolean;
}

/**
 * Environment for an offline, quiet checkov: no mapping or guideline
 * download from the vendor's platform (--skip-download, BC_SKIP_MAPPING), no
 * look-up of a newer checkov on PyPI, no proxy settings that could route it
 * anywhere. checkov 3.3.30 needs no network for Terraform plan checks.
 */
function checkovEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(https?_proxy|all_proxy|bc_|prisma_|ckv_)/i.test(key)));
  return { ...env, BC_SKIP_MAPPING: "TRUE", CKV_SKIP_PACKAGE_UPDATE_CHECK: "true", LOG_LEVEL: "ERROR", PYTHONWARNINGS: "ignore" };
}

/**
 * Runs checkov (the program at `checkov`) once over several `terraform show -json` plans (one process
 * is faster than one per plan: most of its time is start-up) and returns
 * every passed and failed check, by plan.
 */
export function runCheckov(checkov: string, planFiles: string[]): Promise<CheckovResult[]> {
  const args = [...planFiles.flatMap((f) => ["-f", f]), "--framework", "terraform_plan", "--skip-download", "--output", "json"];
  return new Promise((resolve, reject) => {
    execFile(checkov, args, { env: checkovEnv(), maxBuffer: 512 * 1024 * 1024, timeout: 300_000 }, (error, stdout, stderr) => {
      // Exit 1 means "some check failed": the report is on stdout either way.
      if (error && (error as { code?: unknown }).code !== 1) return reject(new Error(`checkov failed: ${error.message}\n${stderr.slice(-4000)}`));
      let report: CheckovReport | CheckovReport[];
      try {
        report = JSON.parse(stdout);
      } catch {
        return reject(new Error(`checkov printed no JSON report:\n${stdout.slice(0, 2000)}\n${stderr.slice(-4000)}`));
      }
      const reports = (Array.isArray(report) ? report : [report]).filter((r) => r.check_type === "terraform_plan");
      if (reports.length !== 1) return reject(new Error(`expected one terraform_plan report from checkov, got ${reports.length}:\n${stdout.slice(0, 2000)}`));
      const { results, summary } = reports[0];
      if (summary.parsing_errors > 0) return reject(new Error(`checkov could not parse ${summary.parsing_errors} plan file(s): ${JSON.stringify(results.parsing_errors)}`));
      const toResult = (passed: boolean) => (c: CheckovCheck): CheckovResult => ({
        plan: basename(c.file_path, ".json"),
        check: c.check_id,
        address: c.resource,
        name: c.check_name,
        passed,
      });
      resolve([...(results.passed_checks ?? []).map(toResult(true)), ...(results.failed_checks ?? []).map(toResult(false))]);
    });
  });
}

interface CheckovCheck {
  check_id: string;
  check_name: string;
  resource: string;
  file_path: string;
}

interface CheckovReport {
  check_type: string;
  results: { passed_checks?: CheckovCheck[]; failed_checks?: CheckovCheck[]; parsing_errors?: unknown };
  summary: { passed: number; failed: number; parsing_errors: number; checkov_version: string };
}
