import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { StackPlan, planStackOffline } from "../../lib/plan/offline-plan";
import { untarGz, userDataFiles } from "../helpers/bundle";
import { plannedResources, tempDir } from "../helpers/plan";

/**
 * The package as a platform team gets it: `npm pack` (whose prepack builds dist/), the tarball installed into a
 * fresh app beside the peer dependencies it declares, then two clusters in two regions and a node group in a third
 * stack, synthesized by plain Node from the installed package (no ts-node, no source tree) and planned offline by
 * terraform. constructs is installed at the newest 10.x here, while our own tests pin the lowest in its range.
 */

const ROOT = join(__dirname, "../..");
const ours = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
const REGIONS = { east: "us-east-1", west: "eu-west-1" } as const;

const CONSUMER_APP = `
const { App, TerraformStack } = require("cdktf");
const { AwsProvider } = require("@cdktf/provider-aws/lib/provider");
const { AwsEnvironment, KubernetesCluster, NodeGroup } = require("cdktf-kubeadm-aws");

const app = new App({ outdir: "cdktf.out" });
const environment = (stack, region) => {
  new AwsProvider(stack, "aws", { region });
  new AwsEnvironment(stack, { region, accountId: "111122223333" });
};
const clusters = {};
for (const [name, region] of Object.entries(${JSON.stringify(REGIONS)})) {
  const stack = new TerraformStack(app, name);
  environment(stack, region);
  clusters[name] = new KubernetesCluster(stack, "cluster", {
    clusterName: name,
    network: { availabilityZones: ["a", "b", "c"].map((z) => region + z) },
    nodeGroups: [{ name: "system", instanceTypes: ["m7i.large"], minSize: 2, maxSize: 4 }],
  });
}
const team = new TerraformStack(app, "team");
environment(team, "${REGIONS.east}");
new NodeGroup(team, "batch", { cluster: clusters.east, name: "batch", instanceTypes: ["m7i.large"], minSize: 0, maxSize: 3 });
team.addDependency(clusters.east.node.scope);
app.synth();
`;

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, npm_config_update_notifier: "false" } });
}

/** Node's own resolution (jest's resolver does not apply `exports` maps as Node does). */
function resolveFrom(dir: string, request: string): string {
  return run(process.execPath, ["-p", `require.resolve(${JSON.stringify(request)}, { paths: [${JSON.stringify(dir)}] })`], dir).trim();
}

describe("the packed library in a fresh app", () => {
  let packed: { filename: string; files: Array<{ path: string }> };
  let app: string;
  let plans: Record<string, StackPlan>;

  beforeAll(async () => {
    const work = tempDir("consumer");
    [packed] = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", work], ROOT));
    app = join(work, "app");
    mkdirSync(app);
    const dependencies = {
      "cdktf-kubeadm-aws": `file:${join(work, packed.filename)}`,
      cdktf: ours.devDependencies.cdktf,
      constructs: ours.peerDependencies.constructs,
      "@cdktf/provider-aws": ours.devDependencies["@cdktf/provider-aws"],
    };
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, dependencies }, null, 2));
    writeFileSync(join(app, "main.js"), CONSUMER_APP);
    run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], app);
    run(process.execPath, ["main.js"], app);
    const stacks = readdirSync(join(app, "cdktf.out", "stacks")).sort();
    const planned = await Promise.all(stacks.map((s) => planStackOffline(join(app, "cdktf.out", "stacks", s), join(app, "offline-plan", s))));
    plans = Object.fromEntries(stacks.map((s, i) => [s, planned[i]]));
  }, 900_000);

  it("packs what runs and nothing else: compiled JS with its types, the node scripts, the operator command", () => {
    const files = packed.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(["package.json", "README.md", "CHANGELOG.md", "dist/lib/index.js", "dist/lib/index.d.ts", "dist/lib/operator/cli.js", "dist/lib/plan/cli.js", "dist/lib/bootstrap/scripts/lib.sh", "dist/lib/bootstrap/scripts/roll-control-plane.sh"]));
    expect(files.filter((f) => !/^(package\.json|README\.md|CHANGELOG\.md|SECURITY\.md|LICENSE)$|^dist\/lib\/.+\.(js|d\.ts|sh|py)$/.test(f))).toEqual([]);
    expect(files.filter((f) => /__pycache__|__tests__|^lib\//.test(f))).toEqual([]);
  });

  it("resolves one copy of cdktf and constructs, the app's own: the library declares them as peers", () => {
    const installed = join(app, "node_modules", "cdktf-kubeadm-aws");
    for (const peer of ["cdktf", "constructs", "@cdktf/provider-aws"]) {
      expect(resolveFrom(installed, `${peer}/package.json`)).toBe(join(app, "node_modules", peer, "package.json"));
    }
    const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
    expect(manifest.dependencies).not.toHaveProperty("cdktf");
    expect(Object.keys(manifest.peerDependencies).sort()).toEqual(["@cdktf/provider-aws", "cdktf", "constructs"]);
  });

  it("exports only its public entry point", () => {
    expect(resolveFrom(app, "cdktf-kubeadm-aws")).toBe(join(app, "node_modules", "cdktf-kubeadm-aws", "dist", "lib", "index.js"));
    expect(() => resolveFrom(app, "cdktf-kubeadm-aws/dist/lib/naming")).toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  it("synthesizes two clusters in two regions and a node group in a third stack, which terraform validates and plans offline", () => {
    expect(Object.keys(plans)).toEqual(["east", "team", "west"]);
    for (const [name, region] of Object.entries(REGIONS)) {
      const groups = plannedResources(plans[name].plan, "aws_autoscaling_group").map((g) => g.values.name);
      expect(groups).toEqual(expect.arrayContaining([`${name}-control-plane-0`, `${name}-system`]));
      const bucket = plannedResources(plans[name].plan, "aws_s3_bucket").map((b) => b.values.bucket);
      expect(bucket).toContain(`${name}-nodes-111122223333-${region}`);
    }
    expect(plannedResources(plans.team.plan, "aws_autoscaling_group").map((g) => g.values.name)).toEqual(["east-batch"]);
  });

  it("ships the node scripts from the installed package's dist/, byte for byte", () => {
    const scripts = join(app, "node_modules", "cdktf-kubeadm-aws", "dist", "lib", "bootstrap", "scripts");
    const template = plannedResources(plans.team.plan, "aws_launch_template")[0];
    expect(userDataFiles(template.values.user_data).files["/opt/kubeadm-aws/bin/lib.sh"]).toBe(readFileSync(join(scripts, "lib.sh"), "utf8"));
    const bundle = untarGz(Buffer.from(plannedResources(plans.team.plan, "aws_s3_object")[0].values.content_base64, "base64"));
    expect(bundle["/opt/kubeadm-aws/bin/worker.sh"]).toBe(readFileSync(join(scripts, "worker.sh"), "utf8"));
  });

  it("installs the operator command as a bin", () => {
    expect(run(join(app, "node_modules", ".bin", "cdktf-kubeadm-aws"), ["--help"], app)).toMatch(/^Usage: cdktf-kubeadm-aws <command>/);
  });

  it("installs the plan command as a bin, which plans a stack of the app offline", () => {
    writeFileSync(join(app, "cdktf.json"), JSON.stringify({ language: "typescript", app: "node main.js" }));
    const summary = run(join(app, "node_modules", ".bin", "cdktf-kubeadm-aws-plan"), ["team"], app);
    expect(summary).toMatch(/^Offline plan of stack "team": \d+ to create\./);
    expect(existsSync(join(app, "cdktf.out", "offline-plan", "team", "plan-summary.md"))).toBe(true);
  }, 120_000);
});
