import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { Construct } from "constructs";
import { AwsEnvironment } from "../aws-environment";
import { NODE_FILES } from "../bootstrap/node-files";
import { NodeRole } from "../bootstrap/node-roles";
import { IClusterKey } from "../cluster-key";
import { PolicyStatement } from "../iam";
import { logGroupName } from "../naming";

/** The cluster's log groups, what feeds each, and which nodes ship to it. */
export const LOG_SOURCES = {
  bootstrap: {
    roles: ["control-plane", "worker"],
    units: ["kubeadm-aws-bootstrap.service", "cloud-init-local.service", "cloud-init.service", "cloud-config.service", "cloud-final.service"],
  },
  system: {
    roles: ["control-plane", "worker"],
    units: ["kubelet.service", "containerd.service", "kubeadm-aws-join-token.service", "kubeadm-aws-etcd-backup.service", "kubeadm-aws-metrics.service"],
  },
  // Patterns include rotated files (the kubelet's "0.log.<time>", the apiserver's "audit-<time>.log"), so the
  // shipper finishes a file after it is rotated; files are followed by inode, so none is sent twice.
  "control-plane": {
    roles: ["control-plane"],
    files: ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"].flatMap((c) => [
      `/var/log/pods/kube-system_${c}-*/${c}/*.log`,
      `/var/log/pods/kube-system_${c}-*/${c}/*.log.[0-9]*[0-9]`,
    ]),
  },
  audit: { roles: ["control-plane"], files: [`${NODE_FILES.auditLogDir}/audit*.log`] },
} as const;

export type LogSource = keyof typeof LOG_SOURCES;

export function logSourcesFor(role: NodeRole): LogSource[] {
  return (Object.keys(LOG_SOURCES) as LogSource[]).filter((s) => (LOG_SOURCES[s].roles as readonly string[]).includes(role));
}

/** The log shipper's configuration for a node role (lib/bootstrap/scripts/log-shipper.py). */
export function renderLogShipperConfig(clusterName: string, region: string, role: NodeRole): string {
  const sources = logSourcesFor(role).map((name) => ({ name, logGroup: logGroupName(clusterName, name), ...LOG_SOURCES[name] }));
  return JSON.stringify(
    { region, stateDir: `${NODE_FILES.stateDir}/logs`, sources: sources.map(({ roles: _, ...s }) => s) },
    null,
    2,
  );
}

/** Nodes may create streams in and write to only their role's log groups. */
export function logWriteStatements(env: AwsEnvironment, clusterName: string, role: NodeRole): PolicyStatement[] {
  const groups = logSourcesFor(role).map((s) => env.arn("logs", `log-group:${logGroupName(clusterName, s)}`));
  return [
    {
      Sid: "ShipNodeLogs",
      Effect: "Allow",
      Action: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
      Resource: groups.flatMap((g) => [g, `${g}:log-stream:*`]),
    },
  ];
}

export interface ClusterLogGroupsProps {
  readonly clusterName: string;
  readonly encryptionKey: IClusterKey;
  readonly retentionDays: number;
  readonly auditRetentionDays: number;
}

/** One encrypted log group per source, with retention set. */
export class ClusterLogGroups extends Construct {
  readonly names: Record<LogSource, string>;

  constructor(scope: Construct, id: string, props: ClusterLogGroupsProps) {
    super(scope, id);
    const names = {} as Record<LogSource, string>;
    for (const source of Object.keys(LOG_SOURCES) as LogSource[]) {
      names[source] = new CloudwatchLogGroup(this, source, {
        name: logGroupName(props.clusterName, source),
        retentionInDays: source === "audit" ? props.auditRetentionDays : props.retentionDays,
        kmsKeyId: props.encryptionKey.keyArn,
      }).name;
    }
    this.names = names;
  }
}
