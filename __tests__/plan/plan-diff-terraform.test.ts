import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { App, TerraformStack } from "cdktf";
import { AwsEnvironment } from "../../lib/aws-environment";
import { KubernetesCluster, KubernetesClusterProps } from "../../lib/cluster";
import { checkoutBase, compareSynthesized } from "../../lib/plan/base-comparison";
import { StackDiff, renderDiffMarkdown } from "../../lib/plan/plan-diff";
import { tempDir } from "../helpers/plan";
import { pythonTool } from "../helpers/python-tools";

/**
 * `npm run plan -- --base`, with real terraform and checkov: a base and a working tree synthesized in process, the
 * working tree planned against the base's seeded state. What Terraform reports must be exactly the pull request's
 * change: anything else in the diff is noise from the seeding, and fails.
 */

const BASE: KubernetesClusterProps = {
  clusterName: "prod",
  controlPlane: { kubernetesVersion: "1.35.2" },
  network: { availabilityZones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"] },
  nodeGroups: [
    { name: "general", instanceTypes: ["m7i.large"], minSize: 1, maxSize: 3 },
    { name: "batch", instanceTypes: ["m7i.large"], minSize: 0, maxSize: 2 },
  ],
};

/** The pull request: a patch upgrade, a bigger group, one group swapped for another, and an escape hatch that weakens IMDS. */
const HEAD: KubernetesClusterProps = {
  ...BASE,
  controlPlane: { kubernetesVersion: "1.35.4" },
  nodeGroups: [
    { name: "general", instanceTypes: ["m7i.large"], minSize: 1, maxSize: 5 },
    { name: "system", instanceTypes: ["m7i.large"], minSize: 1, maxSize: 2 },
  ],
};

function synthesize(outdir: string, props: KubernetesClusterProps, weakenImds = false): void {
  const app = new App({ outdir });
  const stack = new TerraformStack(app, "prod");
  new AwsProvider(stack, "aws", { region: "eu-west-1" });
  new AwsEnvironment(stack, { accountId: "111122223333", region: "eu-west-1" });
  new KubernetesCluster(stack, "cluster", props);
  if (weakenImds) {
    const template = stack.node.findAll().find((c) => c instanceof LaunchTemplate && c.node.path.includes("/control-plane/")) as LaunchTemplate;
    template.addOverride("metadata_options.http_tokens", "optional");
  }
  app.synth();
}

describe("npm run plan -- --base: the working tree planned against the base's state", () => {
  let diff: StackDiff;
  const byConstruct = (prefix: string) => diff.resources.filter((r) => r.construct.startsWith(prefix));

  beforeAll(async () => {
    const dir = tempDir("plan-diff");
    synthesize(join(dir, "base"), BASE);
    synthesize(join(dir, "head"), HEAD, true);
    const started = Date.now();
    [diff] = await compareSynthesized(join(dir, "base"), join(dir, "head"), join(dir, "work"), { checkov: pythonTool("checkov") });
    console.info(`comparison of one stack, checkov included: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 600_000);

  it("creates the new group's resources and destroys the removed group's, and nothing else", () => {
    const created = diff.resources.filter((r) => r.action === "create");
    const deleted = diff.resources.filter((r) => r.action === "delete");
    expect(created.length).toBeGreaterThan(5);
    expect(created.filter((r) => !r.construct.startsWith("cluster/node-group-system")).map((r) => r.address)).toEqual([]);
    expect(deleted.map((r) => r.construct.replace("batch", "system")).sort()).toEqual(created.map((r) => r.construct).sort());
  });

  it("updates the bigger group in place, naming the attribute", () => {
    const group = byConstruct("cluster/node-group-general").find((r) => r.type === "aws_autoscaling_group")!;
    expect(group.action).toBe("update");
    expect(group.attributes).toContainEqual({ path: "max_size", before: "3", after: "5", forcesReplacement: false });
  });

  it("replaces only the content-addressed node bundles, of the control plane and the upgraded group, whose key changes", () => {
    const replaced = diff.resources.filter((r) => r.action === "replace");
    expect(replaced.map((r) => `${r.construct} ${r.type}`)).toEqual(["cluster/control-plane aws_s3_object", "cluster/node-group-general aws_s3_object"]);
    for (const bundle of replaced) expect(bundle.attributes.find((a) => a.path === "key")).toMatchObject({ before: expect.stringMatching(/\.tar\.gz"$/) });
  });

  it("changes nothing the pull request did not touch: the seeded state leaves no noise", () => {
    const touched = ["cluster/node-group-system", "cluster/node-group-batch", "cluster/node-group-general", "cluster/control-plane"];
    expect(diff.resources.filter((r) => !touched.some((t) => r.construct.startsWith(t))).map((r) => `${r.action} ${r.address}`)).toEqual([]);
    // In the control plane: the new bundle, the parameter naming it, the template, and the three groups that launch
    // from the template's latest version, which the new template version changes.
    const controlPlane = byConstruct("cluster/control-plane").map((r) => `${r.action} ${r.type}`).sort();
    expect(controlPlane).toEqual([
      "replace aws_s3_object",
      "update aws_autoscaling_group",
      "update aws_autoscaling_group",
      "update aws_autoscaling_group",
      "update aws_launch_template",
      "update aws_ssm_parameter",
    ]);
    const group = byConstruct("cluster/control-plane").find((r) => r.type === "aws_autoscaling_group")!;
    expect(group.attributes.map((a) => `${a.path} ${a.after}`)).toEqual(["launch_template.0.version (known after apply)"]);
  });

  it("says what rolls, in order: the control plane's bundle, new launch templates, then the worker group refreshed", () => {
    expect(diff.rollout.map((note) => note.replace(/[0-9a-f]{64}/g, "<sha>"))).toEqual([
      "control plane: every node rolls to bundle control-plane/<sha>.tar.gz (from control-plane/<sha>.tar.gz), one at a time, after an etcd snapshot",
      "launch template prod-control-plane: a new version, which every instance launched from now on boots from",
      "launch template prod-general: a new version, which every instance launched from now on boots from",
      "worker group prod-general: an instance refresh replaces its instances, draining each",
    ]);
  });

  it("reports the escape hatch's IMDSv1 as a new checkov finding, and only the new group's resources besides", () => {
    expect(diff.policy).toMatchObject({ ran: true, tool: expect.stringMatching(/^checkov \d+\.\d+/) });
    const template = byConstruct("cluster/control-plane").find((r) => r.type === "aws_launch_template")!;
    expect(diff.policy!.newFindings).toContainEqual(expect.objectContaining({ check: "CKV_AWS_79", address: template.address }));
    const created = new Set(diff.resources.filter((r) => r.action === "create").map((r) => r.address));
    expect(diff.policy!.newFindings.filter((f) => f.check !== "CKV_AWS_79" && !created.has(f.address))).toEqual([]);
  });

  it("renders a pull-request comment holding all of it", () => {
    const markdown = renderDiffMarkdown([diff], "origin/main");
    expect(markdown).toContain("| `max_size` | `3` | `5` |");
    expect(markdown).toContain("**What rolls, in this order:**");
    expect(markdown).toMatch(/New policy finding \(checkov [^)]+\): CKV\\_AWS\\_79/);
  });
});

/**
 * The base as the release before the cluster-wide services left ControlPlane laid it out: the working tree's
 * configuration with every moved block undone (its resource back at the `from` address, references renamed).
 * state-moves.test.ts checks those `from` addresses against the ones that release synthesized.
 */
function undoMoves(headOut: string, baseOut: string, stack: string): number {
  const head = JSON.parse(readFileSync(join(headOut, "stacks", stack, "cdk.tf.json"), "utf8"));
  const moves: Array<{ from: string; to: string }> = head.moved ?? [];
  let text = JSON.stringify({ ...head, moved: undefined });
  // Logical ids end in a hash of the construct path, so a plain replacement touches only that resource's name.
  for (const { from, to } of moves) text = text.split(to.split(".")[1]).join(from.split(".")[1]);
  mkdirSync(join(baseOut, "stacks", stack), { recursive: true });
  writeFileSync(join(baseOut, "stacks", stack, "cdk.tf.json"), text);
  return moves.length;
}

describe("a state of the release before the cluster-wide services left ControlPlane, planned with the working tree", () => {
  let diff: StackDiff;
  let moves: number;

  beforeAll(async () => {
    const dir = tempDir("plan-moves");
    synthesize(join(dir, "head"), BASE);
    moves = undoMoves(join(dir, "head"), join(dir, "base"), "prod");
    [diff] = await compareSynthesized(join(dir, "base"), join(dir, "head"), join(dir, "work"), { checkov: false });
  }, 600_000);

  it("only renames the moved resources in the state: nothing is created, changed or destroyed", () => {
    expect(moves).toBeGreaterThan(20);
    expect(diff.actions).toEqual({ move: moves });
    expect(diff.resources.every((r) => r.action === "move" && r.movedFrom!.includes("_control-plane_") && r.construct.startsWith("cluster/services"))).toBe(true);
  });

  it("says so in the pull-request comment", () => {
    const markdown = renderDiffMarkdown([diff], "v0.1.0");
    expect(markdown).toContain(`${moves} moved in the state.`);
    expect(markdown).toMatch(/\| -> move \| `aws_s3_bucket\.cluster_services_node-artifacts_bucket_[0-9A-F]{8}` \(from `aws_s3_bucket\.cluster_control-plane_node-artifacts_bucket_[0-9A-F]{8}`\) \|/);
  });
});

describe("the base's checkout", () => {
  const git = (cwd: string, ...args: string[]) => execFileSync("git", ["-c", "user.email=t@example.com", "-c", "user.name=t", ...args], { cwd, encoding: "utf8" }).trim();

  it("is a detached worktree at the ref, the app where it is in the repository, sharing node_modules while the lock files agree; removed afterwards", async () => {
    const repo = tempDir("plan-base-repo");
    const app = join(repo, "infra");
    mkdirSync(join(app, "node_modules"), { recursive: true });
    git(repo, "init", "-q");
    writeFileSync(join(app, "package-lock.json"), "{}\n");
    writeFileSync(join(app, "cdktf.json"), "{}\n");
    writeFileSync(join(app, "main.ts"), "base\n");
    git(repo, "add", "infra/package-lock.json", "infra/cdktf.json", "infra/main.ts");
    git(repo, "commit", "-qm", "base");
    git(repo, "tag", "v1");
    writeFileSync(join(app, "main.ts"), "working tree\n");
    const tree = join(tempDir("plan-base"), "tree");
    const { appDir, remove } = await checkoutBase(app, "v1", tree);
    expect(appDir).toBe(join(tree, "infra"));
    expect(readFileSync(join(appDir, "main.ts"), "utf8")).toBe("base\n");
    expect(lstatSync(join(appDir, "node_modules")).isSymbolicLink()).toBe(true);
    await remove();
    expect(existsSync(tree)).toBe(false);
    expect(git(repo, "worktree", "list").split("\n")).toHaveLength(1);
  });

  it("refuses a ref that is not a commit, and a base without the app, naming them", async () => {
    const repo = tempDir("plan-base-repo");
    git(repo, "init", "-q");
    await expect(checkoutBase(repo, "no-such-branch", join(repo, "x"))).rejects.toThrow(/--base no-such-branch: not a commit of the repository/);
    writeFileSync(join(repo, "README"), "x\n");
    git(repo, "add", "README");
    git(repo, "commit", "-qm", "no app");
    const tree = join(tempDir("plan-base"), "tree");
    await expect(checkoutBase(repo, "HEAD", tree)).rejects.toThrow("--base HEAD: the base has no cdktf.json in the repository's root");
    expect(git(repo, "worktree", "list").split("\n")).toHaveLength(1);
  });
});
