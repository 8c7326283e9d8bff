import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { UNSET_PARAMETER_VALUE } from "../../lib/control-plane/join-parameters";
import { parseAllDocuments } from "yaml";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { sha256 } from "../../lib/bootstrap/tar";
import { readScript, USER_DATA_LIMIT_BYTES, USER_DATA_SCRIPTS } from "../../lib/bootstrap/user-data";
import { CONTROL_PLANE_SCRIPTS } from "../../lib/control-plane/control-plane-user-data";
import { WORKER_SCRIPTS } from "../../lib/node-group/worker-user-data";
import { TerraformStack } from "cdktf";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { Vpc } from "@cdktf/provider-aws/lib/vpc";
import { AwsEnvironment } from "../../lib/aws-environment";
import { ClusterNetwork } from "../../lib/network/cluster-network";
import { INTERFACE_ENDPOINT_SERVICES } from "../../lib/network/endpoints";
import { PLACEHOLDER_ACCOUNT_ID } from "../../lib/plan/fake-aws";
import { StackPlan, synthApp } from "../../lib/plan/offline-plan";
import { untarGz, userDataFiles } from "../helpers/bundle";
import { PlannedResource, configuredResources, planInProcess, plannedResources, referencedAddress, referencesIn, sharedPlan, tempDir } from "../helpers/plan";

const ROOT = join(__dirname, "../..");
const PLAN_TIMEOUT = 240_000;

describe("offline plan of the default app (main.ts)", () => {
  let result: StackPlan;
  let all: PlannedResource[];
  const ofType = (type: string) => all.filter((r) => r.type === type);

  beforeAll(async () => {
    const outdir = tempDir("app");
    const stacks = await synthApp(ROOT, outdir);
    expect(stacks).toEqual(["kubeadm"]);
    result = await sharedPlan(join(outdir, "stacks/kubeadm"), join(outdir, "offline-plan/kubeadm"));
    all = plannedResources(result.plan);
  }, PLAN_TIMEOUT);

  it("validates and plans with terraform, creating everything", () => {
    expect(result.summary.actions).toEqual({ create: all.length });
    expect((result.plan as any).errored).toBe(false);
  });

  /**
   * The deploy's critical path: what Terraform must finish before it creates
   * each Auto Scaling group (whose creation waits for its first node), and why.
   * A new kind of dependency fails this test, so it is a reviewed decision.
   */
  it("starts node groups only after what their nodes need at boot, and nothing else", () => {
    const WHY: Record<string, string> = {
      aws_route: "the private subnets' default routes through NAT: nodes download packages first thing",
      aws_s3_object: "the bundle (and, on the control plane, the add-on specification) nodes fetch",
      aws_launch_template: "what the group launches",
      aws_subnet: "where the group launches",
      aws_lb_target_group: "control-plane nodes register in the API's target group",
      aws_ssm_parameter: "the join parameters control-plane nodes write: on destroy, the nodes go first",
      aws_s3_bucket: "the service-account issuer's bucket, which control-plane nodes publish to after kubeadm init",
    };
    const configured = configuredResources(result.plan);
    const egress = ofType("aws_route").filter((r) => r.references.nat_gateway_id);
    expect(egress).toHaveLength(3);
    const groups = ofType("aws_autoscaling_group");
    expect(groups).toHaveLength(4); // 3 control-plane nodes, 1 worker group
    for (const group of groups) {
      const resource = configured.get(group.address)!;
      const direct = new Set([...referencesIn(resource.expressions), ...(resource.depends_on ?? [])]);
      const types = [...new Set([...direct].map((a) => a.split(".")[0]))].sort();
      expect({ group: group.address, unexplained: types.filter((t) => !WHY[t]) }).toEqual({ group: group.address, unexplained: [] });
      expect({ group: group.address, egress: egress.map((r) => direct.has(r.address)) }).toEqual({ group: group.address, egress: [true, true, true] });
      expect(types).toContain("aws_s3_object");
    }
  });

  it("tags every subnet with the cluster tag", () => {
    expect(ofType("aws_subnet")).toHaveLength(6);
    for (const subnet of ofType("aws_subnet")) expect(subnet.values.tags_all).toMatchObject({ "kubernetes.io/cluster/kubeadm": "owned", "k8s-cluster": "kubeadm" });
  });

  it("lets private route tables reach the internet only through NAT, one NAT per zone", () => {
    const privateTables = ofType("aws_route_table").filter((t) => t.values.tags.Name.includes("-private-"));
    expect(privateTables).toHaveLength(3);
    const natsUsed = privateTables.map((table) => {
      const routes = ofType("aws_route").filter((r) => referencedAddress(r.references.route_table_id).includes(table.address));
      expect(routes.map((r) => r.values.destination_cidr_block)).toEqual(["0.0.0.0/0"]);
      expect(routes[0].references.gateway_id).toBeUndefined();
      return referencedAddress(routes[0].references.nat_gateway_id)[0];
    });
    const nats = ofType("aws_nat_gateway");
    expect(nats).toHaveLength(3);
    expect(new Set(natsUsed)).toEqual(new Set(nats.map((n) => n.address)));
    const natSubnets = nats.map((n) => referencedAddress(n.references.subnet_id)[0]);
    const publicSubnets = ofType("aws_subnet").filter((s) => s.values.tags["kubernetes.io/role/elb"] === "1");
    expect(new Set(natSubnets)).toEqual(new Set(publicSubnets.map((s) => s.address)));
  });

  it("turns flow logs on for the VPC, into a log group encrypted with the cluster key", () => {
    const flowLog = ofType("aws_flow_log")[0];
    expect(flowLog.values).toMatchObject({ traffic_type: "ALL", log_destination_type: "cloud-watch-logs" });
    expect(referencedAddress(flowLog.references.vpc_id)).toEqual([ofType("aws_vpc")[0].address]);
    const group = ofType("aws_cloudwatch_log_group").find((g) => referencedAddress(flowLog.references.log_destination).includes(g.address))!;
    expect(group.values.retention_in_days).toBe(90);
    expect(referencedAddress(group.references.kms_key_id)).toEqual([ofType("aws_kms_key")[0].address]);
  });

  // IMDSv2, encryption with the cluster key and the absence of internet ingress are checked, with every other
  // AWS policy, by the security suite on this same app (__tests__/security/policy.test.ts).
  it("lets etcd ports in only from the control-plane security group", () => {
    const controlPlane = ofType("aws_security_group").find((g) => g.values.name === "kubeadm-control-plane")!.address;
    const etcd = ofType("aws_vpc_security_group_ingress_rule").filter((r) => r.values.from_port <= 2380 && r.values.to_port >= 2379);
    expect(etcd.map((r) => [referencedAddress(r.references.security_group_id), referencedAddress(r.references.referenced_security_group_id), r.values.cidr_ipv4])).toEqual([
      [[controlPlane], [controlPlane], null],
    ]);
  });

  it("runs one control-plane Auto Scaling group per zone", () => {
    const privateSubnets = ofType("aws_subnet").filter((s) => s.values.tags["kubernetes.io/role/internal-elb"] === "1");
    const groups = ofType("aws_autoscaling_group").filter((g) => g.values.name.includes("-control-plane-"));
    expect(groups).toHaveLength(3);
    const zones = groups.map((g) => privateSubnets.find((s) => referencedAddress(g.references.vpc_zone_identifier).includes(s.address))!.values.availability_zone);
    expect(zones.sort()).toEqual(["eu-west-1a", "eu-west-1b", "eu-west-1c"]);
  });

  it.each([
    ["kubeadm-control-plane", CONTROL_PLANE_SCRIPTS],
    ["kubeadm-general", WORKER_SCRIPTS],
  ])("plans %s user data that cloud-init accepts, under 16 KB, pinning a bundle that carries the scripts byte for byte", (name, scripts) => {
    const userData = ofType("aws_launch_template").find((t) => t.values.name === name)!.values.user_data as string;
    expect(Buffer.from(userData, "base64").length).toBeLessThanOrEqual(USER_DATA_LIMIT_BYTES);
    const { cloudConfig, files, env } = userDataFiles(userData);
    const file = join(tempDir("plan-user-data"), "user-data.yaml");
    writeFileSync(file, cloudConfig);
    const check = spawnSync("cloud-init", ["schema", "--config-file", file], { encoding: "utf8" });
    expect(check.stdout + check.stderr).toMatch(/Valid (cloud-config|schema)/);
    for (const script of USER_DATA_SCRIPTS) expect(files[`/opt/kubeadm-aws/bin/${script}`]).toBe(readScript(script));

    const object = ofType("aws_s3_object").find((o) => o.values.key === env.BUNDLE_KEY)!;
    const archive = Buffer.from(object.values.content_base64, "base64");
    expect(sha256(archive)).toBe(env.BUNDLE_SHA256);
    const bundle = untarGz(archive);
    for (const script of scripts) expect(bundle[`/opt/kubeadm-aws/bin/${script}`]).toBe(readScript(script));
  });

  it("holds every worker group's new nodes in a launch hook that abandons them unless they report Ready, and its leaving ones for draining", () => {
    const workers = ofType("aws_autoscaling_group").filter((g) => !g.values.name.includes("-control-plane-"));
    expect(workers.map((g) => [g.values.name, g.values.min_size])).toEqual([["kubeadm-general", 3]]);
    for (const g of workers) {
      expect(g.values.initial_lifecycle_hook).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ lifecycle_transition: "autoscaling:EC2_INSTANCE_LAUNCHING", default_result: "ABANDON" }),
          expect.objectContaining({ name: "node-termination", lifecycle_transition: "autoscaling:EC2_INSTANCE_TERMINATING", default_result: "CONTINUE", heartbeat_timeout: 300 }),
        ]),
      );
      expect(g.values.initial_lifecycle_hook).toHaveLength(2);
      // The termination handler drains only instances with its managed tag.
      const template = ofType("aws_launch_template").find((t) => t.values.name === g.values.name)!;
      expect(template.values.tag_specifications[0].tags).toMatchObject({ "aws-node-termination-handler/managed": "true" });
    }
  });

  it("plans the add-on specification in full, its default StorageClass encrypted with the cluster key", () => {
    const object = ofType("aws_s3_object").find((o) => o.values.key === "addons/spec.json")!;
    expect(object.values.content).toEqual(expect.any(String)); // known at plan time, so a pull request shows it
    const addons = JSON.parse(object.values.content).addons as Array<{ name: string; files: Record<string, string> }>;
    expect(addons.map((a) => a.name)).toEqual(["aws-cloud-controller-manager", "calico", "pod-identity-webhook", "aws-ebs-csi-driver", "metrics-server", "cluster-autoscaler", "aws-node-termination-handler", "coredns-availability"]);
    const ebs = addons.find((a) => a.name === "aws-ebs-csi-driver")!;
    const storageClass = parseAllDocuments(ebs.files["manifest.yaml"]).map((d) => d.toJS()).find((o) => o.kind === "StorageClass");
    expect(storageClass.parameters).toMatchObject({ type: "gp3", encrypted: "true", kmsKeyId: `arn:aws:kms:eu-west-1:${PLACEHOLDER_ACCOUNT_ID}:alias/k8s/kubeadm` });
    const alias = ofType("aws_kms_alias").find((a) => a.values.name === "alias/k8s/kubeadm")!;
    expect(referencedAddress(alias.references.target_key_id)).toEqual([ofType("aws_kms_key")[0].address]);
    // Its checksum, which nodes compare before they apply it, is computed from the object Terraform uploads, and is
    // known at plan time too; control-plane nodes start only once both are in place.
    const checksum = ofType("aws_ssm_parameter").find((p) => p.values.name === "/k8s/kubeadm/control-plane/addon-spec-sha256")!;
    expect(checksum.values.value).toBe(createHash("sha256").update(object.values.content).digest("hex"));
    expect(referencedAddress(checksum.references.value)).toEqual([object.address]);
    for (const g of ofType("aws_autoscaling_group").filter((g) => g.values.name.includes("-control-plane-"))) {
      const dependsOn = ((result.plan as any).configuration.root_module.resources as any[]).find((r) => r.address === g.address).depends_on as string[];
      expect(dependsOn).toContain(checksum.address);
    }
  });

  it("feeds an encrypted node-termination queue from EventBridge rules for terminations, spot, rebalancing and state changes", () => {
    const queue = ofType("aws_sqs_queue").find((q) => q.values.name === "kubeadm-node-termination")!;
    expect(referencedAddress(queue.references.kms_master_key_id)).toEqual([ofType("aws_kms_key")[0].address]);
    const rules = ofType("aws_cloudwatch_event_rule");
    expect(rules.map((r) => JSON.parse(r.values.event_pattern)["detail-type"][0]).sort()).toEqual(
      ["EC2 Instance Rebalance Recommendation", "EC2 Instance State-change Notification", "EC2 Instance-terminate Lifecycle Action", "EC2 Spot Instance Interruption Warning"].sort(),
    );
    const targets = ofType("aws_cloudwatch_event_target");
    expect(targets).toHaveLength(rules.length);
    for (const t of targets) expect(referencedAddress(t.references.arn)).toEqual([queue.address]);
    expect(targets.map((t) => referencedAddress(t.references.rule)[0]).sort()).toEqual(rules.map((r) => r.address).sort());
    // Only this cluster's rules may send to the queue.
    const policy = ofType("aws_sqs_queue_policy")[0];
    const allow = JSON.parse(policy.values.policy).Statement.find((s: any) => s.Effect === "Allow");
    expect(allow.Condition.ArnEquals["aws:SourceArn"].sort()).toEqual(rules.map((r) => `arn:aws:events:eu-west-1:${PLACEHOLDER_ACCOUNT_ID}:rule/${r.values.name}`).sort());
  });

  it("lets the cluster autoscaler, through its own role, resize only Auto Scaling groups tagged for this cluster, which the worker group is", () => {
    // The role's inline policy (workload identity): the role's name is known at plan.
    const policy = JSON.parse(ofType("aws_iam_role_policy").find((p) => p.values.role === "kubeadm-sa-kube-system-cluster-autoscaler")!.values.policy);
    const writes = policy.Statement.filter((s: any) => [s.Action].flat().some((a: string) => !/:(Describe|Get)/.test(a)));
    expect(writes.flatMap((s: any) => [s.Action].flat()).sort()).toEqual(["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]);
    for (const s of writes) expect(s.Condition).toEqual({ StringEquals: { "aws:ResourceTag/k8s.io/cluster-autoscaler/kubeadm": "owned" } });
    const general = ofType("aws_autoscaling_group").find((g) => g.values.name === "kubeadm-general")!;
    expect(general.values.tag).toEqual(expect.arrayContaining([expect.objectContaining({ key: "k8s.io/cluster-autoscaler/kubeadm", value: "owned" })]));
  });

  it("plans the etcd backup bucket encrypted, versioned, private and TLS-only, its writers unable to delete, and its alarm", () => {
    const bucket = ofType("aws_s3_bucket").find((b) => b.values.bucket === `kubeadm-etcd-${PLACEHOLDER_ACCOUNT_ID}-eu-west-1`)!;
    const of = (type: string) => ofType(type).find((r) => referencedAddress(r.references.bucket).includes(bucket.address))!;
    expect(of("aws_s3_bucket_server_side_encryption_configuration").values.rule[0].apply_server_side_encryption_by_default[0].sse_algorithm).toBe("aws:kms");
    expect(referencedAddress(of("aws_s3_bucket_server_side_encryption_configuration").references["rule.0.apply_server_side_encryption_by_default.0.kms_master_key_id"])).toEqual([ofType("aws_kms_key")[0].address]);
    expect(of("aws_s3_bucket_versioning").values.versioning_configuration).toEqual([expect.objectContaining({ status: "Enabled" })]);
    expect(of("aws_s3_bucket_public_access_block").values).toMatchObject({ block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true });
    const policy = of("aws_s3_bucket_policy").values.policy;
    // It names the cluster key's ARN, known once the key exists; the policy suite reads it from the synthesized
    // configuration (KA-S3-TLS-ONLY, KA-S3-CLUSTER-KEY-UPLOADS, KA-S3-TRUSTED-WRITERS, KA-S3-ETCD-SNAPSHOTS).
    expect(policy).toBeUndefined();
    const backupPolicy = ofType("aws_iam_role_policy").find((p) => p.values.name === "etcd-backup")!;
    expect(JSON.stringify(backupPolicy.values)).not.toMatch(/Delete/);
    const alarm = ofType("aws_cloudwatch_metric_alarm").find((a) => a.values.alarm_name === "kubeadm-etcd-backup-stale")!;
    expect(alarm.values).toMatchObject({ metric_name: "EtcdSnapshotAgeSeconds", treat_missing_data: "breaching", evaluation_periods: 2 });
  });

  it("plans encrypted log groups with retention, alarms wired to the topic, a dashboard, and log writes scoped to the cluster", () => {
    const key = ofType("aws_kms_key")[0].address;
    const groups = ofType("aws_cloudwatch_log_group");
    expect(groups.map((g) => g.values.name).sort()).toEqual(["/k8s/kubeadm/audit", "/k8s/kubeadm/bootstrap", "/k8s/kubeadm/control-plane", "/k8s/kubeadm/system", "/k8s/kubeadm/vpc-flow-logs"]);
    for (const g of groups) {
      expect(g.values.retention_in_days).toBeGreaterThan(0);
      expect(referencedAddress(g.references.kms_key_id)).toEqual([key]);
    }
    const topic = ofType("aws_sns_topic")[0];
    expect(referencedAddress(topic.references.kms_master_key_id)).toEqual([key]);
    const alarms = ofType("aws_cloudwatch_metric_alarm");
    expect(alarms.length).toBeGreaterThanOrEqual(12);
    for (const a of alarms) expect(referencedAddress(a.references.alarm_actions)).toEqual([topic.address]);
    expect(ofType("aws_cloudwatch_dashboard").map((d) => d.values.dashboard_name)).toEqual(["kubeadm"]);
    for (const p of ofType("aws_iam_role_policy").filter((p) => p.values.name === "ship-logs")) {
      for (const resource of JSON.parse(p.values.policy).Statement[0].Resource) expect(resource).toMatch(/^arn:aws:logs:eu-west-1:123456789012:log-group:\/k8s\/kubeadm\//);
    }
  });

  it("holds no secret material in the plan", () => {
    const text = JSON.stringify(result.plan);
    expect(text).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE|\b[0-9a-z]{6}\.[0-9a-z]{16}\b/);
    expect(ofType("aws_secretsmanager_secret_version")).toEqual([]);
    // The join parameters exist in Terraform, with a placeholder only: nodes write their values.
    // The token and CA hash are write-only: not even the placeholder is in the plan. The add-on specification's
    // checksum is no secret (the specification is in the plan too), nor is the key and checksum of the bundle the
    // control plane rolls to (its content is in the plan).
    const spec = ofType("aws_s3_object").find((o) => o.values.key === "addons/spec.json")!.values.content;
    const bundle = ofType("aws_s3_object").find((o) => /^control-plane\/[0-9a-f]{64}\.tar\.gz$/.test(o.values.key))!.values;
    expect(ofType("aws_ssm_parameter").map((p) => [p.values.name, p.values.value ?? null, p.values.insecure_value ?? null])).toEqual([
      ["/k8s/kubeadm/join/ca-cert-hash", null, null],
      ["/k8s/kubeadm/join/control-plane-version", null, UNSET_PARAMETER_VALUE],
      ["/k8s/kubeadm/join/kubernetes-version", null, UNSET_PARAMETER_VALUE],
      ["/k8s/kubeadm/join/token", null, null],
      ["/k8s/kubeadm/control-plane/rollout/bundle", null, `${bundle.key} ${createHash("sha256").update(Buffer.from(bundle.content_base64, "base64")).digest("hex")}`],
      ["/k8s/kubeadm/control-plane/addon-spec-sha256", createHash("sha256").update(spec).digest("hex"), null],
    ]);
  });

  it("resolves the account through the offline stand-in for STS", () => {
    const policy = JSON.parse(ofType("aws_kms_key")[0].values.policy);
    expect(policy.Statement[0].Principal.AWS).toBe(`arn:aws:iam::${PLACEHOLDER_ACCOUNT_ID}:root`);
  });
});

describe("offline plan of other network shapes", () => {
  let all: PlannedResource[];

  beforeAll(async () => {
    const result = await planInProcess((app) => {
      const stack = new TerraformStack(app, "shapes");
      new AwsProvider(stack, "aws", { region: "us-east-2" });
      new AwsEnvironment(stack, { accountId: "111122223333", region: "us-east-2" });
      const zones = ["us-east-2a", "us-east-2b"];
      new ClusterNetwork(stack, "single", { clusterName: "single", availabilityZones: zones, natGateways: "single", vpcCidr: "10.1.0.0/16" });
      new ClusterNetwork(stack, "endpoints", { clusterName: "endpoints", availabilityZones: zones, interfaceEndpoints: [...INTERFACE_ENDPOINT_SERVICES], flowLogs: { enabled: false } });
      new ClusterNetwork(stack, "adopted", {
        clusterName: "adopted",
        existingVpc: { vpcId: "vpc-0abc", vpcCidr: "10.9.0.0/16", availabilityZones: zones, publicSubnetIds: ["subnet-1", "subnet-2"], privateSubnetIds: ["subnet-3", "subnet-4"] },
      });
    }, "shapes");
    all = plannedResources(result.plan);
  }, PLAN_TIMEOUT);

  const inCluster = (cluster: string, type: string) => all.filter((r) => r.type === type && r.address.includes(`.${cluster}_`));

  it("plans one NAT gateway for single mode, and every interface endpoint with the S3 gateway", () => {
    expect(inCluster("single", "aws_nat_gateway")).toHaveLength(1);
    expect(inCluster("endpoints", "aws_nat_gateway")).toHaveLength(2);
    expect(inCluster("endpoints", "aws_vpc_endpoint")).toHaveLength(INTERFACE_ENDPOINT_SERVICES.length + 1);
  });

  it("plans only shared cluster tags for an adopted VPC", () => {
    expect(all.filter((r) => r.address.includes(".adopted_")).map((r) => [r.type, r.values.resource_id, r.values.value])).toEqual([
      ["aws_ec2_tag", "subnet-1", "shared"],
      ["aws_ec2_tag", "subnet-2", "shared"],
      ["aws_ec2_tag", "subnet-3", "shared"],
      ["aws_ec2_tag", "subnet-4", "shared"],
    ]);
  });
});

describe("offline plan of an invalid configuration", () => {
  // The pipeline runs no separate `terraform validate`: the plan's own validation must refuse what validate would.
  it("fails at the plan, naming the attribute Terraform does not know", async () => {
    const planning = planInProcess((app) => {
      const stack = new TerraformStack(app, "invalid");
      new AwsProvider(stack, "aws", { region: "us-east-2" });
      new Vpc(stack, "vpc", { cidrBlock: "10.0.0.0/16" }).addOverride("enable_dns_resolution", true);
    }, "invalid");
    await expect(planning).rejects.toThrow(/terraform plan failed[\s\S]*Extraneous JSON object property[\s\S]*enable_dns_resolution/);
  }, PLAN_TIMEOUT);
});

describe("offline plan of a stack that needs an AWS lookup", () => {
  it("fails fast and says which value to pass", async () => {
    const started = Date.now();
    const planning = planInProcess((app) => {
      const stack = new TerraformStack(app, "lookup");
      new AwsProvider(stack, "aws", { region: "us-east-2" });
      new AwsEnvironment(stack, { accountId: "111122223333", region: "us-east-2" });
      new ClusterNetwork(stack, "network", { clusterName: "lookup", flowLogs: { enabled: false } });
    }, "lookup");
    await expect(planning).rejects.toThrow(/terraform plan failed[\s\S]*DescribeAvailabilityZones cannot be answered without AWS; pass the value it looks up explicitly/);
    expect(Date.now() - started).toBeLessThan(60_000);
  }, PLAN_TIMEOUT);
});
