import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription";
import { Construct } from "constructs";
import { IClusterKey } from "../cluster-key";
import { ETCD_METRIC_NAMESPACE } from "../etcd-backup/etcd-backup";
import { resourceName } from "../naming";
import { CONTROL_PLANE_METRIC_NAMESPACE } from "./settings";

/** Auto Scaling group metrics the capacity alarms and the dashboard read (off by default on a group). */
export const GROUP_METRICS = ["GroupDesiredCapacity", "GroupInServiceInstances", "GroupPendingInstances", "GroupTerminatingInstances", "GroupTotalInstances"];

export interface AlarmTopicProps {
  readonly clusterName: string;
  readonly encryptionKey: IClusterKey;
  readonly emails: string[];
}

/** The SNS topic every cluster alarm notifies, encrypted with the cluster key. */
export class AlarmTopic extends Construct {
  readonly topicArn: string;

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);
    const topic = new SnsTopic(this, "topic", { name: resourceName(props.clusterName, "alarms"), kmsMasterKeyId: props.encryptionKey.keyArn });
    props.emails.forEach((email, i) => new SnsTopicSubscription(this, `email-${i}`, { topicArn: topic.arn, protocol: "email", endpoint: email }));
    this.topicArn = topic.arn;
  }
}

interface AlarmDefaults {
  readonly clusterName: string;
  readonly topicArn: string;
}

function alarm(scope: Construct, id: string, defaults: AlarmDefaults, props: Omit<ConstructorParameters<typeof CloudwatchMetricAlarm>[2], "alarmActions" | "okActions">) {
  return new CloudwatchMetricAlarm(scope, id, { ...props, alarmActions: [defaults.topicArn], okActions: [defaults.topicArn] });
}

/** An Auto Scaling group that stays below its desired size, or whose instances fail EC2 status checks. */
export function autoScalingGroupAlarms(scope: Construct, defaults: AlarmDefaults, groupName: string): void {
  const group = { AutoScalingGroupName: groupName };
  const metric = (id: string, metricName: string) => ({ id, metric: { namespace: "AWS/AutoScaling", metricName, dimensions: group, period: 60, stat: "Maximum" } });
  alarm(scope, "capacity-alarm", defaults, {
    alarmName: `${groupName}-below-desired`,
    alarmDescription: `Auto Scaling group ${groupName} has had fewer instances in service than desired for 15 minutes: nodes fail to launch or to join.`,
    metricQuery: [
      metric("desired", "GroupDesiredCapacity"),
      metric("inservice", "GroupInServiceInstances"),
      { id: "missing", expression: "desired - inservice", label: "Instances missing", returnData: true },
    ],
    comparisonOperator: "GreaterThanThreshold",
    threshold: 0,
    evaluationPeriods: 15,
    treatMissingData: "notBreaching",
  });
  alarm(scope, "status-check-alarm", defaults, {
    alarmName: `${groupName}-status-check-failed`,
    alarmDescription: `An instance of ${groupName} fails its EC2 status checks.`,
    namespace: "AWS/EC2",
    metricName: "StatusCheckFailed",
    dimensions: group,
    statistic: "Maximum",
    period: 300,
    evaluationPeriods: 2,
    threshold: 1,
    comparisonOperator: "GreaterThanOrEqualToThreshold",
    treatMissingData: "notBreaching",
  });
}

export interface ControlPlaneAlarmsProps extends AlarmDefaults {
  readonly loadBalancerArnSuffix: string;
  readonly targetGroupArnSuffix: string;
  readonly certificateDaysThreshold: number;
  readonly etcdQuotaBytes: number;
  readonly etcdQuotaUsedPercent: number;
}

/** The API's health, certificate expiry and the etcd database size. */
export function controlPlaneAlarms(scope: Construct, props: ControlPlaneAlarmsProps): void {
  const cluster = { ClusterName: props.clusterName };
  alarm(scope, "api-unhealthy-alarm", props, {
    alarmName: `${props.clusterName}-api-unhealthy-targets`,
    alarmDescription: `A control-plane node of ${props.clusterName} fails the API load balancer's /readyz check.`,
    namespace: "AWS/NetworkELB",
    metricName: "UnHealthyHostCount",
    dimensions: { LoadBalancer: props.loadBalancerArnSuffix, TargetGroup: props.targetGroupArnSuffix },
    statistic: "Maximum",
    period: 60,
    evaluationPeriods: 3,
    threshold: 0,
    comparisonOperator: "GreaterThanThreshold",
    treatMissingData: "notBreaching",
  });
  alarm(scope, "certificate-expiry-alarm", props, {
    alarmName: `${props.clusterName}-certificates-expiring`,
    alarmDescription: `A kubeadm-managed certificate of ${props.clusterName} expires in less than ${props.certificateDaysThreshold} days, so its automatic renewal failed: read the journal of kubeadm-aws-certificates.service or kubeadm-aws-admin-kubeconfig.service on the control-plane nodes (README, "Certificate renewal").`,
    namespace: CONTROL_PLANE_METRIC_NAMESPACE,
    metricName: "CertificateDaysLeft",
    dimensions: cluster,
    statistic: "Minimum",
    period: 3600,
    evaluationPeriods: 1,
    threshold: props.certificateDaysThreshold,
    comparisonOperator: "LessThanThreshold",
    treatMissingData: "notBreaching",
  });
  alarm(scope, "etcd-size-alarm", props, {
    alarmName: `${props.clusterName}-etcd-near-quota`,
    alarmDescription: `The etcd database of ${props.clusterName} uses more than ${props.etcdQuotaUsedPercent}% of its ${props.etcdQuotaBytes}-byte quota; at the quota etcd refuses writes.`,
    namespace: ETCD_METRIC_NAMESPACE,
    metricName: "EtcdDbSizeBytes",
    dimensions: cluster,
    statistic: "Maximum",
    period: 300,
    evaluationPeriods: 1,
    threshold: Math.floor((props.etcdQuotaBytes * props.etcdQuotaUsedPercent) / 100),
    comparisonOperator: "GreaterThanThreshold",
    treatMissingData: "notBreaching",
  });
}

/** etcd's own default: --quota-backend-bytes is 2 GiB unless set. */
export const ETCD_DEFAULT_QUOTA_BYTES = 2 * 1024 ** 3;
