import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

/** The provisioning script: creates the venv once, prints its path. */
export const PYTHON_TOOLS_SCRIPT = join(__dirname, "../provision/python-tools.sh");

let cached: string | undefined;

/**
 * The virtual environment that holds checkov and moto (see
 * __tests__/provision/python-tools.sh): `KUBEADM_AWS_PYTHON_TOOLS` when the
 * provisioning step exported it, else whatever the script prints (it is
 * idempotent: the first call builds the venv, later ones return at once).
 * Throws with what is missing; tests that need the tools fail, never skip.
 */
export function pythonToolsDir(): string {
  if (cached) return cached;
  let venv = process.env.KUBEADM_AWS_PYTHON_TOOLS;
  if (!venv) {
    try {
      venv = execFileSync("bash", [PYTHON_TOOLS_SCRIPT], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 15 * 60_000 }).trim();
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? "").trim();
      throw new Error(`The Python test tools (checkov, moto) are not available: ${PYTHON_TOOLS_SCRIPT} failed.\n${stderr || (error as Error).message}`);
    }
  }
  for (const tool of ["python", "checkov", "moto_server"]) {
    if (!existsSync(join(venv, "bin", tool))) {
      throw new Error(
        `The Python test tools venv ${venv} has no bin/${tool}` +
          (process.env.KUBEADM_AWS_PYTHON_TOOLS ? " (from KUBEADM_AWS_PYTHON_TOOLS; unset it or rerun the provisioning)" : "") +
          `; run ${PYTHON_TOOLS_SCRIPT}`,
      );
    }
  }
  cached = venv;
  return venv;
}

/** Path of a program in the tools venv, for example `pythonTool("checkov")`. */
export function pythonTool(name: "python" | "checkov" | "moto_server"): string {
  return join(pythonToolsDir(), "bin", name);
}
