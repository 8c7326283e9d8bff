import { TerraformStack } from "cdktf";
import { KubernetesCluster } from "../../lib/cluster";
import { renderDashboard } from "../../lib/observability/dashboard";
import { renderLogShipperConfig } from "../../lib/observability/logs";
import { ObservabilityOptions, resolveObservabilitySettings } from "../../lib/observability/settings";
import { ClusterServices } from "../../lib/cluster-services";
import { Synthesized, synthStack, testStack } from "../helpers/synth";
import { untarGz, userDataFiles } from "../helpers/bundle";

function synthCluster(observability?: ObservabilityOptions, etcdExtraArgs?: Record<string, string>): Synthesized {
  return synthStack((stack: TerraformStack) =>
    new KubernetesCluster(stack, "cluster", {
      clusterName: "prod",
      network: { availabilityZones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"] },
      observability,
      controlPlane: { etcd: { extraArgs: etcdExtraArgs } },
    }),
  );
}

const alarmsByName = (s: Synthesized): Record<string, any> => Object.fromEntries(s.resources("aws_cloudwatch_metric_alarm").map((a) => [a.values.alarm_name, a.values]));
const policy = (s: Synthesized, role: string, name: string) =>
  JSON.parse(s.resources("aws_iam_role_policy").find((p) => p.values.role.includes(role) && p.values.name === name)!.values.policy);

describe("observability, by default", () => {
  const s = synthCluster({ alarms: { emails: ["oncall@example.com"] } });
  const alarms = alarmsByName(s);

  it("creates the four log groups, encrypted with the cluster key, with retention", () => {
    const groups = s.resources("aws_cloudwatch_log_group").map((g) => g.values).filter((g) => g.name !== "/k8s/prod/vpc-flow-logs");
    expect(groups.map((g) => [g.name, g.retention_in_days])).toEqual([
      ["/k8s/prod/bootstrap", 90],
      ["/k8s/prod/system", 90],
      ["/k8s/prod/control-plane", 90],
      ["/k8s/prod/audit", 365],
    ]);
    for (const g of groups) expect(g.kms_key_id).toMatch(/aws_kms_key\.cluster_key_.*\.arn/);
  });

  it("lets nodes write only to their role's log groups", () => {
    const resources = (role: string) => policy(s, role, "ship-logs").Statement[0].Resource as string[];
    const group = (name: string) => `arn:aws:logs:eu-west-1:111122223333:log-group:/k8s/prod/${name}`;
    expect(resources("control-plane")).toEqual(["bootstrap", "system", "control-plane", "audit"].flatMap((n) => [group(n), `${group(n)}:log-stream:*`]));
    expect(resources("node-group-general")).toEqual(["bootstrap", "system"].flatMap((n) => [group(n), `${group(n)}:log-stream:*`]));
    expect(policy(s, "control-plane", "ship-logs").Statement[0].Action).not.toContain("logs:CreateLogGroup");
  });

  it("ships logs from every node: the shipper, its unit and its sources are in each bundle", () => {
    for (const template of s.resources("aws_launch_template")) expect(userDataFiles(template.values.user_data).env.LOG_SHIPPING).toBe("true");
    for (const object of s.resources("aws_s3_object").filter((o) => o.values.content_base64)) {
      const bundle = untarGz(Buffer.from(object.values.content_base64, "base64"));
      expect(Object.keys(bundle)).toEqual(expect.arrayContaining(["/opt/kubeadm-aws/bin/log-shipper.py", "/etc/systemd/system/kubeadm-aws-logs.service", "/etc/kubeadm-aws/log-sources.json"]));
    }
  });

  it("notifies an encrypted SNS topic, with the subscribers asked for", () => {
    expect(s.only("aws_sns_topic").values).toMatchObject({ name: "prod-alarms", kms_master_key_id: expect.stringMatching(/aws_kms_key\..*\.arn/) });
    expect(s.only("aws_sns_topic_subscription").values).toMatchObject({ protocol: "email", endpoint: "oncall@example.com" });
    const topic = Synthesized.ref("aws_sns_topic", s.only("aws_sns_topic"), "arn");
    for (const [name, alarm] of Object.entries(alarms)) expect({ name, actions: alarm.alarm_actions }).toEqual({ name, actions: [topic] });
  });

  it("alarms on the API, capacity and status checks of every group, certificates, etcd size and backups", () => {
    expect(Object.keys(alarms).sort()).toEqual(
      [
        "prod-api-unhealthy-targets",
        "prod-certificates-expiring",
        "prod-etcd-backup-stale",
        "prod-etcd-near-quota",
        ...["prod-control-plane-0", "prod-control-plane-1", "prod-control-plane-2", "prod-general"].flatMap((g) => [`${g}-below-desired`, `${g}-status-check-failed`]),
      ].sort(),
    );
    expect(alarms["prod-api-unhealthy-targets"]).toMatchObject({ namespace: "AWS/NetworkELB", metric_name: "UnHealthyHostCount", threshold: 0 });
    expect(alarms["prod-api-unhealthy-targets"].dimensions.TargetGroup).toMatch(/aws_lb_target_group\..*\.arn_suffix/);
    expect(alarms["prod-certificates-expiring"]).toMatchObject({ metric_name: "CertificateDaysLeft", threshold: 14, comparison_operator: "LessThanThreshold" });
    expect(alarms["prod-etcd-near-quota"]).toMatchObject({ metric_name: "EtcdDbSizeBytes", threshold: Math.floor(2 * 1024 ** 3 * 0.8) });
    expect(alarms["prod-general-below-desired"].metric_query.map((q: any) => q.expression ?? q.metric.metric_name)).toEqual(["GroupDesiredCapacity", "GroupInServiceInstances", "desired - inservice"]);
  });

  it("turns on the group metrics the capacity alarms read", () => {
    for (const g of s.resources("aws_autoscaling_group")) expect(g.values.enabled_metrics).toEqual(expect.arrayContaining(["GroupDesiredCapacity", "GroupInServiceInstances"]));
  });

  it("lets control-plane nodes publish metrics only to the cluster's namespaces", () => {
    expect(policy(s, "control-plane", "metrics").Statement[0]).toMatchObject({
      Action: "cloudwatch:PutMetricData",
      Condition: { StringEquals: { "cloudwatch:namespace": ["KubeadmAws/ControlPlane", "KubeadmAws/Etcd"] } },
    });
  });

  it("lets CloudWatch publish to the encrypted topic through the key policy", () => {
    const key = JSON.parse(s.only("aws_kms_key").values.policy).Statement;
    expect(key.find((st: any) => st.Sid === "CloudWatchAlarmsPublishToEncryptedTopic")).toMatchObject({ Principal: { Service: "cloudwatch.amazonaws.com" } });
  });

  it("creates one dashboard for the cluster", () => {
    const dashboard = s.only("aws_cloudwatch_dashboard").values;
    expect(dashboard.dashboard_name).toBe("prod");
    expect(JSON.parse(dashboard.dashboard_body).widgets.map((w: any) => w.properties.title)).toEqual([
      "API targets (control-plane nodes)",
      "Nodes in service per group",
      "Control-plane CPU (%)",
      "Control-plane memory (%)",
      "etcd",
      "Backup age (s) and certificate days left",
    ]);
  });

  it("takes the etcd quota from etcd's extraArgs", () => {
    expect(alarmsByName(synthCluster({}, { "quota-backend-bytes": "4294967296" }))["prod-etcd-near-quota"].threshold).toBe(Math.floor(4294967296 * 0.8));
  });
});

describe("observability, turned off", () => {
  const s = synthCluster({ logs: { enabled: false }, alarms: { enabled: false }, dashboard: { enabled: false } });

  it("creates no log groups but the flow logs', no topic, no alarm actions and no dashboard", () => {
    expect(s.resources("aws_cloudwatch_log_group").map((g) => g.values.name)).toEqual(["/k8s/prod/vpc-flow-logs"]);
    expect(s.resources("aws_sns_topic")).toEqual([]);
    expect(s.resources("aws_cloudwatch_dashboard")).toEqual([]);
    expect(s.resources("aws_cloudwatch_metric_alarm").map((a) => a.values.alarm_name)).toEqual(["prod-etcd-backup-stale"]);
    expect(s.resources("aws_iam_role_policy").filter((p) => p.values.name === "ship-logs")).toEqual([]);
  });

  it("tells nodes not to ship logs or publish metrics", () => {
    for (const template of s.resources("aws_launch_template")) expect(userDataFiles(template.values.user_data).env.LOG_SHIPPING).toBe("false");
    const controlPlane = s.resources("aws_launch_template").find((t) => t.values.name === "prod-control-plane")!;
    expect(userDataFiles(controlPlane.values.user_data).env.METRICS_ENABLED).toBe("false");
  });
});

describe("observability renderers", () => {
  it("sends each log source to its group, with a worker shipping only bootstrap and system logs", () => {
    const worker = JSON.parse(renderLogShipperConfig("prod", "eu-west-1", "worker"));
    expect(worker.sources.map((s: any) => [s.name, s.logGroup])).toEqual([
      ["bootstrap", "/k8s/prod/bootstrap"],
      ["system", "/k8s/prod/system"],
    ]);
    const controlPlane = JSON.parse(renderLogShipperConfig("prod", "eu-west-1", "control-plane"));
    expect(controlPlane.sources.find((s: any) => s.name === "audit").files).toEqual(["/var/log/kubernetes/audit/audit*.log"]);
  });

  it("renders a dashboard bound to the cluster, its load balancer and region", () => {
    const body = JSON.parse(renderDashboard({ clusterName: "prod", region: "eu-west-1", loadBalancerArnSuffix: "net/prod-api/1", targetGroupArnSuffix: "targetgroup/prod-api/2", controlPlaneGroups: ["prod-control-plane-0"] }));
    expect(body.widgets.every((w: any) => w.properties.region === "eu-west-1")).toBe(true);
    expect(JSON.stringify(body)).toContain('"LoadBalancer","net/prod-api/1","TargetGroup","targetgroup/prod-api/2"');
  });

  it.each([
    [{ logs: { retentionDays: 45 } }, "observability.logs.retentionDays: 45 is not a CloudWatch Logs retention period"],
    [{ alarms: { emails: ["oncall"] } }, 'observability.alarms.emails: "oncall" is not an e-mail address'],
    [{ alarms: { certificateDaysThreshold: 0 } }, "observability.alarms.certificateDaysThreshold: 0 is not allowed"],
  ])("rejects %j", (observability, message) => {
    expect(() => resolveObservabilitySettings(observability as ObservabilityOptions)).toThrow(message);
    expect(() => new ClusterServices(testStack(), "services", { clusterName: "prod", encryptionKey: { keyArn: "k", aliasName: "alias/k8s/prod" } as any, observability: observability as ObservabilityOptions })).toThrow(message);
  });
});
