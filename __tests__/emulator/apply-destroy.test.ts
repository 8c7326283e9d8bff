import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { App } from "cdktf";
import { synthApp } from "../../lib/plan/offline-plan";
import { tempDir } from "../helpers/plan";
import { buildMaximalCluster } from "../security/plan-under-review";
import { EMULATOR_LIMITS } from "./emulator-override";
import { TerraformResult, emulatedStack, tail } from "./emulated-stack";
import { Inventory, added, startMotoServer } from "./moto-server";

/**
 * Real `terraform apply`, a second plan that must show no changes, and
 * `destroy` that must leave nothing, against moto in server mode: the default
 * app and the maximal configuration, each against an emulator of its own, at
 * the same time. The override works around only what moto lacks
 * (emulator-override.ts); everything else is our stack as synthesized.
 */

const REGION = "eu-west-1";
const PARALLELISM = "-parallelism=30";

interface Run {
  name: string;
  /** Resource counts by type, from the synthesized stack. */
  synthesized: Record<string, number>;
  workarounds: string[];
  steps: Partial<Record<"init" | "apply" | "replan" | "destroy", TerraformResult>>;
  before?: Inventory;
  afterApply?: Inventory;
  afterDestroy?: Inventory;
  error?: Error;
  seconds: number;
}

/** apply, plan, destroy in order; stops at the first failed step, which the tests then report. */
async function exercise(name: string, stackDir: string): Promise<Run> {
  const started = Date.now();
  const synth = JSON.parse(readFileSync(join(stackDir, "cdk.tf.json"), "utf8")) as { resource: Record<string, object> };
  const run: Run = {
    name,
    synthesized: Object.fromEntries(Object.entries(synth.resource).map(([type, byName]) => [type, Object.keys(byName).length])),
    workarounds: [],
    steps: {},
    seconds: 0,
  };
  const moto = await startMotoServer();
  const workDir = tempDir(`emulator-${name}`);
  try {
    run.before = await moto.inventory(REGION);
    const stack = emulatedStack(stackDir, workDir, moto.url);
    run.workarounds = stack.workarounds;
    const step = async (key: keyof Run["steps"], ...args: string[]) => (run.steps[key] = await stack.terraform(...args));
    if ((await step("init", "init", "-input=false")).code !== 0) return run;
    if ((await step("apply", "apply", "-auto-approve", "-input=false", PARALLELISM)).code !== 0) return run;
    run.afterApply = await moto.inventory(REGION);
    await step("replan", "plan", "-detailed-exitcode", "-input=false", "-lock=false", PARALLELISM);
    // The second plan has just refreshed every resource: destroy need not read them again.
    if ((await step("destroy", "destroy", "-auto-approve", "-input=false", "-refresh=false", PARALLELISM)).code !== 0) return run;
    run.afterDestroy = await moto.inventory(REGION);
  } catch (error) {
    run.error = error as Error;
  } finally {
    await moto.stop();
    // The provider copy is 700 MB; state and logs (terraform-*.log) stay for a look after a failure.
    rmSync(join(workDir, ".terraform"), { recursive: true, force: true });
    run.seconds = (Date.now() - started) / 1000;
  }
  return run;
}

/** Fails with the step's output when it did not exit as expected. */
function expectStep(run: Run, key: keyof Run["steps"], expectedCode = 0): TerraformResult {
  if (run.error) throw run.error;
  const result = run.steps[key];
  if (!result) throw new Error(`${run.name}: terraform ${key} did not run, an earlier step failed`);
  if (result.code !== expectedCode) throw new Error(`${run.name}: terraform ${key} exited ${result.code}, expected ${expectedCode}:\n${tail(result)}`);
  return result;
}

describe("apply, re-plan and destroy against the moto AWS emulator", () => {
  const runs: Record<string, Run> = {};

  beforeAll(async () => {
    // The default app synthesizes in a process of its own (as `cdktf synth` runs main.ts) while the maximal one applies.
    const results = await Promise.all([
      (async () => {
        const outdir = tempDir("emulator-default-synth");
        await synthApp(join(__dirname, "../.."), outdir);
        return exercise("default", join(outdir, "stacks/kubeadm"));
      })(),
      (async () => {
        const outdir = tempDir("emulator-maximal-synth");
        const app = new App({ outdir, skipValidation: false });
        buildMaximalCluster(app);
        app.synth();
        return exercise("maximal", join(outdir, "stacks/maximal"));
      })(),
    ]);
    for (const run of results) runs[run.name] = run;
    const timing = (r: Run) =>
      `${r.name}: ${r.seconds.toFixed(0)} s (${Object.entries(r.steps).map(([step, result]) => `${step} ${result!.seconds.toFixed(0)} s`).join(", ")})`;
    console.info(`emulator runs, concurrently: ${results.map(timing).join("; ")}`);
  }, 15 * 60_000);

  describe.each(["default", "maximal"])("the %s configuration", (name) => {
    const run = () => runs[name];

    it("applies", () => {
      expectStep(run(), "init");
      expectStep(run(), "apply");
    });

    it("shows no changes on a second plan", () => {
      const replan = run().steps.replan;
      // -detailed-exitcode: 0 no changes, 2 changes, 1 error.
      if (replan?.code === 2) {
        const changes = replan.stdout.split("\n").filter((line) => /^  # .* (will|must) be /.test(line));
        throw new Error(`${name}: the second plan wants changes:\n${changes.join("\n")}\n${tail(replan, 60)}`);
      }
      expectStep(run(), "replan");
    });

    it("creates what it synthesized: buckets, objects, groups, keys, roles and load balancers are there", () => {
      const { before, afterApply, synthesized } = run();
      if (!before || !afterApply) throw run().error ?? new Error(`${name}: no inventory after apply, an earlier step failed`);
      const created = added(before, afterApply);
      const count = (kind: string) => created[kind]?.length ?? 0;
      expect({
        buckets: count("s3:bucket"),
        objects: count("s3:object-version"),
        groups: count("autoscaling:group"),
        keys: count("kms:key"),
        roles: count("iam:role"),
        loadBalancers: count("elbv2:load-balancer"),
        vpcs: count("ec2:vpc"),
        secrets: count("secretsmanager:secret"),
      }).toEqual({
        buckets: synthesized.aws_s3_bucket,
        objects: synthesized.aws_s3_object,
        groups: synthesized.aws_autoscaling_group,
        keys: synthesized.aws_kms_key,
        roles: synthesized.aws_iam_role,
        loadBalancers: synthesized.aws_lb,
        vpcs: synthesized.aws_vpc,
        secrets: synthesized.aws_secretsmanager_secret,
      });
    });

    it("destroys, leaving no resource and no object behind", () => {
      expectStep(run(), "destroy");
      expect(added(run().before!, run().afterDestroy!)).toEqual({});
    });
  });

  it("works around only emulator limits that one of the configurations meets", () => {
    const used = new Set(Object.values(runs).flatMap((r) => r.workarounds));
    expect(Object.keys(EMULATOR_LIMITS).filter((limit) => !used.has(limit))).toEqual([]);
  });
});
