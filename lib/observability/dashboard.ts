import { CONTROL_PLANE_METRIC_NAMESPACE } from "./settings";
import { ETCD_METRIC_NAMESPACE } from "../etcd-backup/etcd-backup";

export interface DashboardInputs {
  readonly clusterName: string;
  readonly region: string;
  readonly loadBalancerArnSuffix: string;
  readonly targetGroupArnSuffix: string;
  readonly controlPlaneGroups: string[];
}

type Widget = { type: "metric"; width: number; height: number; properties: Record<string, unknown> };

function widget(title: string, metrics: unknown[][], extra: Record<string, unknown> = {}): Widget {
  return { type: "metric", width: 12, height: 6, properties: { title, metrics, view: "timeSeries", stat: "Average", period: 300, ...extra } };
}

/**
 * The cluster dashboard: API target health, nodes per group, control-plane
 * CPU and memory, etcd, backup age and certificate days left. The region and
 * dimensions make it a pure function of the cluster, for tests.
 */
export function renderDashboard(d: DashboardInputs): string {
  const search = (expression: string, id: string) => [{ expression, id, period: 300 }];
  const cluster = ["ClusterName", d.clusterName];
  const widgets: Widget[] = [
    widget("API targets (control-plane nodes)", [
      ["AWS/NetworkELB", "HealthyHostCount", "LoadBalancer", d.loadBalancerArnSuffix, "TargetGroup", d.targetGroupArnSuffix, { stat: "Minimum" }],
      ["AWS/NetworkELB", "UnHealthyHostCount", "LoadBalancer", d.loadBalancerArnSuffix, "TargetGroup", d.targetGroupArnSuffix, { stat: "Maximum" }],
    ]),
    // Every group of the cluster, including node groups added later or in other stacks.
    widget("Nodes in service per group", [
      search(`SEARCH('{AWS/AutoScaling,AutoScalingGroupName} MetricName="GroupInServiceInstances" "${d.clusterName}"', 'Maximum', 300)`, "groups"),
    ]),
    widget("Control-plane CPU (%)", d.controlPlaneGroups.map((g) => ["AWS/EC2", "CPUUtilization", "AutoScalingGroupName", g])),
    widget("Control-plane memory (%)", [
      search(`SEARCH('{${CONTROL_PLANE_METRIC_NAMESPACE},ClusterName,InstanceId} MetricName="MemoryUsedPercent" ClusterName="${d.clusterName}"', 'Average', 300)`, "memory"),
    ]),
    widget("etcd", [
      [ETCD_METRIC_NAMESPACE, "EtcdDbSizeBytes", ...cluster, { stat: "Maximum" }],
      [ETCD_METRIC_NAMESPACE, "EtcdLeaderChanges", ...cluster, { stat: "Maximum", yAxis: "right" }],
    ]),
    widget("Backup age (s) and certificate days left", [
      [ETCD_METRIC_NAMESPACE, "EtcdSnapshotAgeSeconds", ...cluster, { stat: "Minimum" }],
      [CONTROL_PLANE_METRIC_NAMESPACE, "CertificateDaysLeft", ...cluster, { stat: "Minimum", yAxis: "right" }],
    ]),
  ];
  return JSON.stringify({ widgets: widgets.map((w) => ({ ...w, properties: { ...w.properties, region: d.region } })) });
}
