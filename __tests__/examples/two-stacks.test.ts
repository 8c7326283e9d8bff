import { readFileSync } from "node:fs";
import { join } from "node:path";
import { App } from "cdktf";
import { buildTwoStackApp } from "../../examples/separate-node-group-stack/app";
import { StackPlan } from "../../lib/plan/offline-plan";
import { untarGz, userDataFiles } from "../helpers/bundle";
import { PlannedResource, plannedResources, sharedPlan, tempDir } from "../helpers/plan";

describe("a node group in its own stack (examples/separate-node-group-stack)", () => {
  let platform: StackPlan;
  let team: StackPlan;
  let teamResources: PlannedResource[];
  let outdir: string;

  beforeAll(async () => {
    outdir = tempDir("two-stacks");
    const app = new App({ outdir });
    buildTwoStackApp(app, { region: "eu-west-1", accountId: "111122223333" });
    app.synth();
    [platform, team] = await Promise.all(
      ["platform", "team-data"].map((stack) => sharedPlan(join(outdir, "stacks", stack), join(outdir, "offline-plan", stack))),
    );
    teamResources = plannedResources(team.plan);
  }, 240_000);

  it("validates and plans the cluster stack offline", () => {
    const groups = plannedResources(platform.plan, "aws_autoscaling_group").map((g) => g.values.name);
    expect(groups).toEqual(expect.arrayContaining(["shared-control-plane-0", "shared-system"]));
    expect(groups).not.toContain("shared-data");
  });

  it("validates and plans the team's stack offline, creating only the node group, its alarms and the team's service-account role", () => {
    expect(team.summary.createByType).toEqual([
      ["aws_autoscaling_group", 1],
      ["aws_cloudwatch_metric_alarm", 2],
      ["aws_iam_instance_profile", 1],
      ["aws_iam_role", 2],
      ["aws_iam_role_policy", 5],
      ["aws_launch_template", 1],
      ["aws_s3_object", 1],
    ]);
  });

  it("reads the cluster's subnets, worker security group and key from the cluster stack's state", () => {
    const group = teamResources.find((r) => r.type === "aws_autoscaling_group")!;
    const template = teamResources.find((r) => r.type === "aws_launch_template")!;
    const remote = "data.terraform_remote_state.cross-stack-reference-input-platform";
    expect(group.references.vpc_zone_identifier.every((ref) => ref.startsWith(remote))).toBe(true);
    expect(template.references.vpc_security_group_ids.every((ref) => ref.startsWith(remote))).toBe(true);
    expect(template.references["block_device_mappings.0.ebs.0.kms_key_id"].every((ref) => ref.startsWith(remote))).toBe(true);
    // The group's alarms notify the cluster's topic.
    for (const alarm of teamResources.filter((r) => r.type === "aws_cloudwatch_metric_alarm")) {
      expect(alarm.references.alarm_actions.every((ref) => ref.startsWith(remote))).toBe(true);
    }
    // Offline, those values are placeholders.
    expect(group.values.vpc_zone_identifier).toHaveLength(3);
    expect(group.values.vpc_zone_identifier[0]).toMatch(/^offline-placeholder-/);
  });

  it("trusts the cluster's issuer from the cluster stack's state, for the team's one service account", () => {
    const role = teamResources.find((r) => r.type === "aws_iam_role" && r.values.name === "shared-sa-data-reports-reader")!;
    expect(role).toBeDefined();
    const provider = plannedResources(platform.plan, "aws_iam_openid_connect_provider")[0];
    const host = String(provider.values.url).replace("https://", "");
    // The provider's ARN is known only after the platform's apply: the trust policy is too, and reads it remotely.
    expect(role.references.assume_role_policy.every((ref) => ref.startsWith("data.terraform_remote_state.cross-stack-reference-input-platform"))).toBe(true);
    const trust = JSON.parse(readFileSync(join(outdir, "stacks/team-data/cdk.tf.json"), "utf8")).resource.aws_iam_role[role.address.split(".")[1]].assume_role_policy;
    expect(JSON.parse(trust.replace(/"\$\{[^}]*\}"/, '"PROVIDER"')).Statement[0]).toMatchObject({
      Principal: { Federated: "PROVIDER" },
      Condition: { StringEquals: { [`${host}:sub`]: "system:serviceaccount:data:reports-reader", [`${host}:aud`]: "sts.amazonaws.com" } },
    });
  });

  it("joins the team's nodes through the cluster's endpoint and join parameters, known at synth", () => {
    const { env } = userDataFiles(teamResources.find((r) => r.type === "aws_launch_template")!.values.user_data);
    expect(env).toMatchObject({ CLUSTER_NAME: "shared", SSM_JOIN_TOKEN: "/k8s/shared/join/token", AUTO_SCALING_GROUP: "shared-data", BUNDLE_KEY: expect.stringMatching(/^node-groups\/data\//) });
    const object = teamResources.find((r) => r.type === "aws_s3_object")!;
    // A name derived at synth from cluster, account and region: the nodes derive the same one.
    expect(object.values.bucket).toBe("shared-nodes-111122223333-eu-west-1");
    const bundle = untarGz(Buffer.from(object.values.content_base64, "base64"));
    expect(bundle["/etc/kubeadm-aws/kubeadm/join.yaml"]).toContain("apiServerEndpoint: api.shared.k8s.internal:6443");
  });
});
