import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parse } from "yaml";
import { PLAN_DIFF_MARKDOWN } from "../../lib/plan/cli";
import { PLAN_DIFF_MARKER } from "../../lib/plan/plan-diff";
import { MIN_TERRAFORM_VERSION } from "../../lib/plan/offline-plan";
import { tempDir } from "../helpers/plan";

/**
 * examples/github-actions/plan-diff.yml: GitHub runs it, not us, so what can be checked here is that it calls what
 * exists, with what the plan needs (the base's history, a new enough terraform without the output wrapper, the
 * checkov we test with, the Markdown where the command writes it), that the pull request's code never runs with a
 * token that can write, and that its shell passes shellcheck.
 */

const ROOT = join(__dirname, "../..");
const workflow = parse(readFileSync(join(ROOT, "examples/github-actions/plan-diff.yml"), "utf8"));
type Step = { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> };
const plan: { permissions?: unknown; steps: Step[] } = workflow.jobs.plan;
const comment: { permissions?: unknown; needs?: string; steps: Step[] } = workflow.jobs.comment;
const steps = plan.steps;
const uses = (action: string, job = plan) => job.steps.find((s) => s.uses?.startsWith(`${action}@`));

describe("the pull-request workflow example", () => {
  it("runs the pull request's code with a read-only token that is not left in the checkout", () => {
    expect(Object.keys(workflow.on)).toEqual(["pull_request"]);
    expect(workflow.permissions).toEqual({ contents: "read" });
    expect(plan.permissions).toBeUndefined();
    expect(uses("actions/checkout")?.with?.["persist-credentials"]).toBe(false);
  });

  it("comments from a job that may write to pull requests and runs none of the pull request's code", () => {
    expect(comment.needs).toBe("plan");
    expect(comment.permissions).toEqual({ "pull-requests": "write" });
    expect(comment.steps.map((s) => s.uses?.split("@")[0] ?? "run")).toEqual(["actions/download-artifact", "run"]);
    expect(comment.steps[1].run).not.toMatch(/\b(npm|npx|node|git)\b/);
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

  it("plans against the base with our script, and hands over only the Markdown it writes, which the comment finds by its marker", () => {
    const scripts = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts;
    expect(scripts.plan).toMatch(/lib\/plan\/cli\.ts$/);
    const run = steps.find((s) => s.run?.includes("npm run plan"))!;
    expect(run.run).toBe('npm run plan -- --base "$BASE_REF"');
    expect(run.env?.BASE_REF).toBe("origin/${{ github.base_ref }}");
    const upload = uses("actions/upload-artifact")!.with!;
    expect(upload.path).toBe(PLAN_DIFF_MARKDOWN);
    const download = uses("actions/download-artifact", comment)!.with!;
    expect(download.name).toBe(upload.name);
    const post = comment.steps.find((s) => s.run)!;
    expect(post.env?.MARKDOWN).toBe(basename(PLAN_DIFF_MARKDOWN));
    expect(post.env?.MARKER).toBe(PLAN_DIFF_MARKER);
  });

  it("has shell steps that shellcheck passes", () => {
    const dir = tempDir("workflow-shell");
    const files = [...steps, ...comment.steps]
      .filter((s) => s.run)
      .map((s, i) => {
        const file = join(dir, `step-${i}.sh`);
        // GitHub runs `run` with bash -e; its ${{ }} expressions are outside the shell and are not used in `run` here.
        writeFileSync(file, `#!/usr/bin/env bash\nset -e\n${Object.keys(s.env ?? {}).map((k) => `: "\${${k}:?}"`).join("\n")}\n${s.run}\n`);
        return file;
      });
    expect([...steps, ...comment.steps].filter((s) => s.run?.includes("${{"))).toEqual([]);
    const result = spawnSync("shellcheck", ["--severity=style", ...files], { encoding: "utf8" });
    expect(result.error).toBeUndefined();
    expect(result.stdout).toBe("");
  });
});
