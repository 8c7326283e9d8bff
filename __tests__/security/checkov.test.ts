import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CheckovResult, runCheckov } from "../../lib/plan/checkov";
import { tempDir } from "../helpers/plan";
import { pythonTool } from "../helpers/python-tools";
import { applyExceptions, readExceptions } from "./exceptions";
import { reviewDefaultApp, reviewMaximalCluster } from "./plan-under-review";

/**
 * checkov, the scanner itself, on the offline plans of the default app and the
 * maximal configuration. Our accepted findings are the CKV rows of SECURITY.md's
 * exceptions table; anything else fails, and so does a row that skips nothing.
 * A third plan, a copy of the default one with hardening removed, shows that
 * checkov catches what our own checks (policy-checks.ts) no longer repeat, and
 * still misses what they keep.
 */

type Plan = { planned_values: { root_module: { resources: PlanResource[] } }; configuration: { root_module: { resources: ConfigResource[] } }; resource_changes: Array<{ address: string }> };
type PlanResource = { address: string; type: string; values: Record<string, any> };
type ConfigResource = { address: string; expressions: Record<string, unknown> };

/** Edits on a copy of a plan, in both planned values and configuration (checkov reads references from the latter). */
class PlanEditor {
  constructor(readonly plan: Plan) {}
  resource(type: string, addressPart = ""): PlanResource {
    const found = this.plan.planned_values.root_module.resources.find((r) => r.type === type && r.address.includes(addressPart));
    if (!found) throw new Error(`the default plan has no ${type} whose address contains "${addressPart}"`);
    return found;
  }
  unset(resource: PlanResource, ...attributes: string[]): void {
    const config = this.plan.configuration.root_module.resources.find((r) => r.address === resource.address);
    for (const a of attributes) {
      delete resource.values[a];
      if (config) delete config.expressions[a];
    }
  }
  drop(resource: PlanResource): void {
    const keep = <T extends { address: string }>(list: T[]) => list.filter((r) => r.address !== resource.address);
    this.plan.planned_values.root_module.resources = keep(this.plan.planned_values.root_module.resources);
    this.plan.configuration.root_module.resources = keep(this.plan.configuration.root_module.resources);
    this.plan.resource_changes = keep(this.plan.resource_changes);
  }
  addStatement(resource: PlanResource, statement: Record<string, unknown>): void {
    const doc = JSON.parse(resource.values.policy);
    doc.Statement = [...[doc.Statement].flat(), statement];
    resource.values.policy = JSON.stringify(doc);
  }
  /** Turns a group-to-group rule into one open to the internet on all protocols. */
  openToInternet(rule: PlanResource): void {
    this.unset(rule, "referenced_security_group_id", "from_port", "to_port");
    Object.assign(rule.values, { cidr_ipv4: "0.0.0.0/0", ip_protocol: "-1" });
  }
}

/** Each: what is removed, and the failed check (id and resource address) checkov must then report. */
function removeHardening(p: PlanEditor): Array<{ what: string; check: string; address: string }> {
  const out: Array<{ what: string; check: string; address: string }> = [];
  const expect = (what: string, check: string, resource: PlanResource) => out.push({ what, check, address: resource.address });
  const controlPlaneTemplate = p.resource("aws_launch_template", "control-plane");
  controlPlaneTemplate.values.metadata_options[0].http_tokens = "optional";
  expect("IMDSv1 allowed", "CKV_AWS_79", controlPlaneTemplate);
  const workerTemplate = p.resource("aws_launch_template", "node-group-general");
  workerTemplate.values.metadata_options[0].http_put_response_hop_limit = 2;
  expect("metadata hop limit 2", "CKV_AWS_341", workerTemplate);
  workerTemplate.values.network_interfaces = [{ associate_public_ip_address: "true" }];
  expect("public IP on nodes", "CKV_AWS_88", workerTemplate);
  const rule = p.resource("aws_vpc_security_group_ingress_rule", "etcd-from-control-plane");
  p.unset(rule, "description");
  expect("rule without description", "CKV_AWS_23", rule);
  const group = p.resource("aws_security_group", "api-lb");
  p.unset(group, "description");
  expect("security group without description", "CKV_AWS_23", group);
  const vpc = p.resource("aws_vpc");
  p.resource("aws_default_security_group").values.ingress = [{ protocol: "-1", self: true, from_port: 0, to_port: 0, cidr_blocks: [], ipv6_cidr_blocks: [], prefix_list_ids: [], security_groups: [], description: "" }];
  expect("default security group open", "CKV2_AWS_12", vpc);
  p.drop(p.resource("aws_flow_log"));
  expect("no flow logs", "CKV2_AWS_11", vpc);
  const logGroup = p.resource("aws_cloudwatch_log_group", "audit");
  p.unset(logGroup, "retention_in_days");
  expect("log group kept forever", "CKV_AWS_66", logGroup);
  const key = p.resource("aws_kms_key");
  key.values.enable_key_rotation = false;
  expect("key not rotated", "CKV_AWS_7", key);
  p.addStatement(key, { Sid: "Open", Effect: "Allow", Principal: { AWS: "*" }, Action: "kms:Decrypt", Resource: "*" });
  expect("key open to any principal", "CKV_AWS_33", key);
  const block = p.resource("aws_s3_bucket_public_access_block", "etcd-backup");
  Object.assign(block.values, { block_public_acls: false, block_public_policy: false, ignore_public_acls: false, restrict_public_buckets: false });
  for (const check of ["CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56"]) expect("public access allowed", check, block);
  const nodesBucket = p.resource("aws_s3_bucket", "node-artifacts");
  p.drop(p.resource("aws_s3_bucket_public_access_block", "node-artifacts"));
  expect("no public access block", "CKV2_AWS_6", nodesBucket);
  const ownership = p.resource("aws_s3_bucket_ownership_controls", "etcd-backup");
  ownership.values.rule[0].object_ownership = "ObjectWriter";
  expect("ACLs enabled", "CKV2_AWS_65", ownership);
  const etcdBucket = p.resource("aws_s3_bucket", "etcd-backup");
  p.resource("aws_s3_bucket_versioning", "etcd-backup").values.versioning_configuration[0].status = "Suspended";
  expect("versioning suspended", "CKV_AWS_21", etcdBucket);
  p.drop(p.resource("aws_s3_bucket_lifecycle_configuration", "node-artifacts"));
  expect("no lifecycle rules", "CKV2_AWS_61", nodesBucket);
  const lifecycle = p.resource("aws_s3_bucket_lifecycle_configuration", "etcd-backup");
  const rules = lifecycle.values.rule as Array<Record<string, unknown>>;
  p.unset(lifecycle, "rule");
  lifecycle.values.rule = rules.map(({ abort_incomplete_multipart_upload, ...rest }) => rest);
  expect("incomplete uploads kept", "CKV_AWS_300", lifecycle);
  const metrics = p.resource("aws_iam_role_policy", "control-plane_role_metrics");
  p.addStatement(metrics, { Sid: "All", Effect: "Allow", Action: "*", Resource: "arn:aws:s3:::x" });
  expect('"*" action', "CKV_AWS_63", metrics);
  const selfHealing = p.resource("aws_iam_role_policy", "control-plane_role_self-healing");
  p.addStatement(selfHealing, { Sid: "Pull", Effect: "Allow", Action: "ecr:BatchGetImage", Resource: "*" });
  expect('"*" resource for an action that has resource types', "CKV_AWS_355", selfHealing);
  const role = p.resource("aws_iam_role", "control-plane_role");
  role.values.managed_policy_arns = ["arn:aws:iam::aws:policy/AdministratorAccess"];
  expect("administrator policy", "CKV_AWS_274", role);
  const lb = p.resource("aws_lb");
  lb.values.enable_cross_zone_load_balancing = false;
  expect("no cross-zone balancing", "CKV_AWS_152", lb);
  return out;
}

/** Each: a weakening our own checks catch and checkov, today, does not; the check id checkov would need. */
function checkovGaps(p: PlanEditor): Array<{ what: string; ours: string; address: string }> {
  const out: Array<{ what: string; ours: string; address: string }> = [];
  const ingress = p.resource("aws_vpc_security_group_ingress_rule", "4789-udp-control-plane-from-workers");
  p.openToInternet(ingress);
  out.push({ what: "ingress from 0.0.0.0/0 on all protocols", ours: "KA-SG-NO-PUBLIC-ADMIN-INGRESS", address: ingress.address });
  const kubelet = p.resource("aws_vpc_security_group_ingress_rule", "worker-kubelet-from-control-plane");
  p.unset(kubelet, "referenced_security_group_id");
  kubelet.values.cidr_ipv4 = "0.0.0.0/0";
  out.push({ what: "the kubelet port open to 0.0.0.0/0", ours: "KA-SG-NO-PUBLIC-ADMIN-INGRESS", address: kubelet.address });
  const egress = p.resource("aws_vpc_security_group_egress_rule", "lb-to-control-plane");
  p.openToInternet(egress);
  out.push({ what: "egress to 0.0.0.0/0 on all protocols", ours: "KA-SG-NO-PUBLIC-EGRESS", address: egress.address });
  const workerLogs = p.resource("aws_iam_role_policy", "node-group-general_role_ship-logs");
  p.addStatement(workerLogs, { Sid: "All", Effect: "Allow", Action: "s3:*", Resource: "arn:aws:s3:::x" });
  out.push({ what: '"s3:*" on a named bucket', ours: "KA-IAM-NO-WILDCARD-ACTION", address: workerLogs.address });
  const logs = p.resource("aws_iam_role_policy", "control-plane_role_ship-logs");
  p.addStatement(logs, { Sid: "Pass", Effect: "Allow", Action: "iam:PassRole", Resource: "arn:aws:iam::111122223333:role/*" });
  out.push({ what: 'iam:PassRole on "role/*"', ours: "KA-IAM-PASSROLE-SCOPED", address: logs.address });
  const workerRole = p.resource("aws_iam_role", "node-group-general_role");
  workerRole.values.managed_policy_arns = ["arn:aws:iam::aws:policy/PowerUserAccess"];
  out.push({ what: "PowerUserAccess attached", ours: "KA-IAM-NO-ADMIN-POLICY", address: workerRole.address });
  // Any service account of the cluster could take it: no sub condition.
  const webIdentity = p.resource("aws_iam_role", "flow-logs_role");
  webIdentity.values.assume_role_policy = JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: "arn:aws:iam::111122223333:oidc-provider/prod-oidc-111122223333-eu-west-1.s3.eu-west-1.amazonaws.com" },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: { StringEquals: { "prod-oidc-111122223333-eu-west-1.s3.eu-west-1.amazonaws.com:aud": "sts.amazonaws.com" } },
      },
    ],
  });
  out.push({ what: "a web-identity trust without a subject", ours: "KA-IAM-WEB-IDENTITY-ONE-ACCOUNT", address: webIdentity.address });
  return out;
}

const describeFailure = (r: CheckovResult) => `${r.check} ${r.address}: ${r.name}`;

describe("checkov on the offline plans", () => {
  const skips = readExceptions().filter((e) => e.check.startsWith("CKV"));
  let results: CheckovResult[];
  let removed: ReturnType<typeof removeHardening>;
  let gaps: ReturnType<typeof checkovGaps>;
  const failed = (plan: string) => results.filter((r) => r.plan === plan && !r.passed);

  beforeAll(async () => {
    const [defaultStack, maximal] = await Promise.all([reviewDefaultApp(), reviewMaximalCluster()]);
    const dir = tempDir("checkov");
    const defaultPlan = defaultStack.texts["default plan JSON"];
    const weakened = new PlanEditor(JSON.parse(defaultPlan));
    removed = removeHardening(weakened);
    gaps = checkovGaps(weakened);
    const files = { default: defaultPlan, maximal: maximal.texts["maximal plan JSON"], weakened: JSON.stringify(weakened.plan) };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, `${name}.json`), text);
    const started = Date.now();
    // One process for the three plans: checkov's start-up is most of its time.
    results = await runCheckov(pythonTool("checkov"), Object.keys(files).map((name) => join(dir, `${name}.json`)));
    console.info(
      `checkov on 3 plans: ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
        ["default", "maximal"].map((p) => `${p} ${results.filter((r) => r.plan === p && r.passed).length} passed, ${failed(p).length} failed`).join("; "),
    );
  }, 300_000);

  it("ran its checks on both plans", () => {
    // About 320 checks pass on the default plan: far fewer would mean checkov read little of it.
    const passed = (plan: string) => results.filter((r) => r.plan === plan && r.passed).length;
    expect({ default: passed("default") > 300, maximal: passed("maximal") > 300 }).toEqual({ default: true, maximal: true });
  });

  it.each(["default", "maximal"])("fails no check on the %s configuration, but for the skips in SECURITY.md", (plan) => {
    const { open } = applyExceptions(failed(plan), skips, (r) => r.address);
    expect(open.map(describeFailure)).toEqual([]);
  });

  it("has no stale skip: each CKV row of SECURITY.md skips a failed check of one of the configurations", () => {
    const used = new Set(["default", "maximal"].flatMap((plan) => [...applyExceptions(failed(plan), skips, (r) => r.address).used]));
    expect(skips.filter((s) => !used.has(s)).map((s) => `${s.check} ${s.scope}`)).toEqual([]);
  });

  it("catches each hardening removed from a copy of the default plan, which our own checks no longer repeat", () => {
    const before = new Set(failed("default").map((r) => `${r.check} ${r.address}`));
    const after = new Set(failed("weakened").map((r) => `${r.check} ${r.address}`));
    const missed = removed.filter(({ check, address }) => before.has(`${check} ${address}`) || !after.has(`${check} ${address}`));
    expect(missed.map(({ what, check, address }) => `${check} did not newly fail on ${address} (${what})`)).toEqual([]);
  });

  it("still misses what our own checks keep: if it catches one now, our check may go", () => {
    const caught = gaps.filter(({ address }) => failed("weakened").some((r) => r.address === address && !failed("default").some((d) => d.check === r.check && d.address === address)));
    expect(caught.map(({ what, ours, address }) => `checkov now fails ${address} (${what}); consider replacing ${ours}`)).toEqual([]);
  });
});
