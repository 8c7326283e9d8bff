import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { PLAN_DIFF_MARKDOWN } from "../../lib/plan/cli";
import { MIN_TERRAFORM_VERSION } from "../../lib/plan/offline-plan";
import { tempDir } from "../helpers/plan";

/**
 * examples/github-actions/plan-diff.yml: GitHub runs it, not us, so what can be checked here is that it calls what
 * exists, with what the plan needs: the base's history, a new enough terraform without the output wrapper, the
 * checkov we test with, the Markdown where the command writes it, and shell that shellcheck passes.
 */

const ROOT = join(__dirname, "../..");
const workflow = parse(readFileSync(join(ROOT, "examples/github-actions/plan-diff.yml"), "utf8"));
const steps: Array<{ uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> }> = workflow.jobs["plan-diff"].steps;
const uses = (action: string) => steps.find((s) => s.uses?.startsWith(`${action}@`));

describe("the pull-request workflow example", () => {
  it("runs on pull requests with a token that may comment and nothing more", () => {
    expect(Object.keys(workflow.on)).toEqual(["pull_request"]);
    expect(workflow.permissions).toEqual({ contents: "read", "pull-requests": "write" });
  });

  it("checks out the history, so the base branch is there for --base", () => {
    expect(uses("actions/checkout")?.with?.["fetch-depth"]).toBe(0);
  });

  it("installs a terraform the offline plan accepts, without the wrapper that rewrites its output", () => {
    const terraform = uses("hashicorp/setup-terraform")!.with!;
    const version = (v: string) => v.split(".").map(Number);
    const [major, minor] = version(String(terraform.terraform_version));
    const [minMajor, minMinor] = version(MIN_TERRAFORM_VERSION);
    expect(major > minMajor || (major === minMajor && minor >= minMinor)).toBe(true);
    expect(terraform.terraform_wrapper).toBe(false);
  });

  it("installs the checkov our tests pin", () => {
    const pinned = readFileSync(join(ROOT, "__tests__/provision/python-requirements.txt"), "utf8").match(/^checkov==\S+$/m)![0];
    expect(steps.some((s) => s.run?.includes(`pip install ${pinned}`))).toBe(true);
  });

  it("plans against the base with our script, and comments with the Markdown it writes", () => {
    const scripts = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts;
    expect(scripts.plan).toMatch(/lib\/plan\/cli\.ts$/);
    const plan = steps.find((s) => s.run?.includes("npm run plan"))!;
    expect(plan.run).toBe('npm run plan -- --base "$BASE_REF"');
    expect(plan.env?.BASE_REF).toBe("origin/${{ github.base_ref }}");
    const comment = steps.find((s) => s.run?.includes("gh pr comment"))!;
    expect(comment.env?.MARKDOWN).toBe(PLAN_DIFF_MARKDOWN);
  });

  it("has shell steps that shellcheck passes", () => {
    const dir = tempDir("workflow-shell");
    const files = steps
      .filter((s) => s.run)
      .map((s, i) => {
        const file = join(dir, `step-${i}.sh`);
        // GitHub runs `run` with bash -e; its ${{ }} expressions are outside the shell and are not used in `run` here.
        writeFileSync(file, `#!/usr/bin/env bash\nset -e\n${Object.keys(s.env ?? {}).map((k) => `: "\${${k}:?}"`).join("\n")}\n${s.run}\n`);
        return file;
      });
    expect(steps.filter((s) => s.run?.includes("${{"))).toEqual([]);
    const result = spawnSync("shellcheck", ["--severity=style", ...files], { encoding: "utf8" });
    expect(result.error).toBeUndefined();
    expect(result.stdout).toBe("");
  });
});
