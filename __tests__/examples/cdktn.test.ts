import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CDKTN_DIR, cdktnCliNode, setUpCdktn } from "../../examples/cdktn/setup";
import { compareSynthesized } from "../../lib/plan/base-comparison";
import { synthApp } from "../../lib/plan/offline-plan";
import { StackDiff } from "../../lib/plan/plan-diff";
import { tempDir } from "../helpers/plan";

/**
 * The path past cdktf's archival: examples/cdktn runs main.ts and our constructs, unchanged, on CDK Terrain with
 * bindings `cdktn get` generated for the hashicorp/aws 5.100.0 provider we have. `cdktn synth` must give the same
 * Terraform as cdktf, and terraform must validate and plan it offline.
 */

const ROOT = join(__dirname, "../..");
type Synth = Record<string, any>;
const synthOf = (outdir: string): Synth => JSON.parse(readFileSync(join(outdir, "stacks", "kubeadm", "cdk.tf.json"), "utf8"));
/** Without the "//" metadata, which names the framework and its version. */
const withoutMetadata = (value: unknown): unknown =>
  Array.isArray(value) ? value.map(withoutMetadata) : value && typeof value === "object" ? Object.fromEntries(Object.entries(value).filter(([k]) => k !== "//").map(([k, v]) => [k, withoutMetadata(v)])) : value;

describe("the default app on CDK Terrain (examples/cdktn)", () => {
  let cdktf: Synth;
  let cdktn: Synth;
  let migration: StackDiff[];

  beforeAll(async () => {
    await setUpCdktn();
    const env = { ...process.env, CHECKPOINT_DISABLE: "1" };
    // The CLI, as a user runs it: it reads targetVersions from cdktf.json.
    const cdktnOut = tempDir("cdktn-synth");
    execFileSync(cdktnCliNode(), [join(CDKTN_DIR, "node_modules/cdktn-cli/bundle/bin/cdktn.js"), "synth", "--output", cdktnOut], { cwd: CDKTN_DIR, env, stdio: "pipe" });
    cdktn = synthOf(cdktnOut);
    const cdktfOut = tempDir("cdktf-synth");
    await synthApp(ROOT, cdktfOut);
    cdktf = synthOf(cdktfOut);
    // The migration as `npm run plan -- --base` shows it: cdktn's stack planned against the state cdktf's would leave.
    migration = await compareSynthesized(cdktfOut, cdktnOut, tempDir("cdktn-migration"), { checkov: false });
  }, 600_000);

  it("is synthesized by cdktn, with the bindings generated for hashicorp/aws 5.100.0", () => {
    expect(cdktn["//"].metadata.version).toBe(JSON.parse(readFileSync(join(CDKTN_DIR, "package.json"), "utf8")).dependencies.cdktn);
    expect(JSON.parse(readFileSync(join(CDKTN_DIR, ".gen/versions.json"), "utf8"))).toEqual({ "registry.terraform.io/hashicorp/aws": "5.100.0" });
    const resolved = execFileSync(process.execPath, ["--require", "./register.js", "-p", 'require.resolve("@cdktf/provider-aws/lib/vpc") + " " + require.resolve("cdktf")'], { cwd: CDKTN_DIR, encoding: "utf8" }).trim();
    expect(resolved.split(" ")).toEqual([join(CDKTN_DIR, ".gen/providers/aws/vpc/index.ts"), expect.stringContaining(join(CDKTN_DIR, "node_modules/cdktn/"))]);
  });

  it("gives the same Terraform as cdktf: resources, data sources, outputs, provider and backend", () => {
    for (const block of ["resource", "data", "output", "provider"]) expect([block, withoutMetadata(cdktn[block])]).toEqual([block, withoutMetadata(cdktf[block])]);
    expect(cdktn.terraform.backend).toEqual(cdktf.terraform.backend);
    // cdktn writes the provider's full source address; cdktf the short form, which Terraform reads as the same.
    expect(cdktn.terraform.required_providers).toEqual({ aws: { source: "hashicorp/aws", version: "5.100.0" } });
    expect(cdktf.terraform.required_providers).toEqual({ aws: { source: "aws", version: "5.100.0" } });
  });

  it("validates and plans with terraform offline, against the state cdktf's stack leaves, changing nothing", () => {
    expect(migration.map((d) => [d.stack, d.status, d.resources.map((r) => `${r.action} ${r.address}`)])).toEqual([["kubeadm", "compared", []]]);
  });

  it("needs terraform >= 1.11 declared (cdktf.json's targetVersions): cdktn refuses write-only attributes otherwise", () => {
    expect(JSON.parse(readFileSync(join(CDKTN_DIR, "cdktf.json"), "utf8")).targetVersions).toEqual({ terraform: ">=1.11.0" });
    const bare = spawnSync(process.execPath, ["--require", "./register.js", "../../main.ts"], { cwd: CDKTN_DIR, encoding: "utf8", env: { ...process.env, CDKTF_OUTDIR: tempDir("cdktn-bare"), CDKTF_CONTEXT_JSON: "{}" } });
    expect(bare.status).not.toBe(0);
    expect(bare.stderr).toMatch(/write-only attributes requires terraform >=1\.11\.0, but the project targets terraform >=1\.5\.7/);
  });
});
