import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { S3BucketObjectLockConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-object-lock-configuration";
import { Construct } from "constructs";
import { AwsEnvironment } from "../aws-environment";
import { IClusterKey } from "../cluster-key";
import { PolicyStatement } from "../iam";
import { PrivateBucket } from "../private-bucket";
import { clusterBucketName, resourceName } from "../naming";
import { BACKUP_PREFIX, EtcdBackupSettings } from "./settings";

export const ETCD_METRIC_NAMESPACE = "KubeadmAws/Etcd";

export interface EtcdBackupProps {
  readonly clusterName: string;
  readonly encryptionKey: IClusterKey;
  readonly settings: EtcdBackupSettings;
  /** @default - none: the alarm only changes state */
  readonly alarmActions?: string[];
  /** The control-plane nodes' role: the only writer, and a reader. */
  readonly nodeRoleArn: string;
  /**
   * Who else may read snapshots (a snapshot holds every Secret of the
   * cluster): IAM role or user ARN patterns.
   * @default - the deploying principal
   */
  readonly readers?: string[];
}

/**
 * Off-node etcd backups: a bucket only this cluster's control plane writes to
 * (never overwriting, never deleting), only it and named principals read, and
 * an alarm when snapshots stop.
 */
export class EtcdBackup extends Construct {
  readonly bucketName: string;
  readonly bucketArn: string;
  readonly prefix = BACKUP_PREFIX;
  readonly intervalMinutes: number;

  constructor(scope: Construct, id: string, props: EtcdBackupProps) {
    super(scope, id);
    const env = AwsEnvironment.of(this);
    const s = props.settings;
    // Bucket names are global: account and region make this one unique.
    const bucket = new PrivateBucket(this, "bucket", {
      name: clusterBucketName(props.clusterName, "etcd", env.accountId, env.region),
      encryptionKey: props.encryptionKey,
      objectLockEnabled: s.objectLock !== undefined,
      writers: [props.nodeRoleArn],
      extraPolicy: (arn): PolicyStatement[] => [
        {
          // A snapshot, once written, is never replaced: uploads must be conditional writes (If-None-Match: *).
          Sid: "DenyOverwrites",
          Effect: "Deny",
          Principal: "*",
          Action: "s3:PutObject",
          Resource: `${arn}/*`,
          Condition: { Null: { "s3:if-none-match": "true" } },
        },
        {
          Sid: "OnlyControlPlaneNodesAndNamedPrincipalsRead",
          Effect: "Deny",
          Principal: "*",
          Action: ["s3:GetObject", "s3:GetObjectVersion"],
          Resource: `${arn}/*`,
          Condition: { ArnNotLike: { "aws:PrincipalArn": [props.nodeRoleArn, ...(props.readers ?? env.deployingPrincipalArns())] } },
        },
      ],
      lifecycleRules: [lifecycleRule("frequent", `${BACKUP_PREFIX}/frequent/`, s.frequentDays), lifecycleRule("daily", `${BACKUP_PREFIX}/daily/`, s.dailyDays)],
      tags: { Name: resourceName(props.clusterName, "etcd-backups") },
    });
    this.bucketName = bucket.bucketName;
    this.bucketArn = bucket.bucketArn;
    if (s.objectLock) {
      new S3BucketObjectLockConfigurationA(this, "object-lock", {
        bucket: bucket.bucketId,
        rule: { defaultRetention: { mode: s.objectLock.mode, days: s.objectLock.days } },
      });
    }
    new CloudwatchMetricAlarm(this, "snapshot-age-alarm", {
      alarmName: `${props.clusterName}-etcd-backup-stale`,
      alarmDescription: `No etcd snapshot of ${props.clusterName} has succeeded for two intervals (${2 * s.intervalMinutes} minutes). See README.md, "When something goes wrong".`,
      namespace: ETCD_METRIC_NAMESPACE,
      metricName: "EtcdSnapshotAgeSeconds",
      dimensions: { ClusterName: props.clusterName },
      statistic: "Minimum",
      period: s.intervalMinutes * 60,
      evaluationPeriods: 2,
      threshold: s.intervalMinutes * 60,
      comparisonOperator: "GreaterThanThreshold",
      // No data means no snapshot: that is the failure this alarm is for.
      treatMissingData: "breaching",
      alarmActions: props.alarmActions,
      okActions: props.alarmActions,
    });
    this.intervalMinutes = s.intervalMinutes;
  }

  /** What control-plane nodes may do: write and read snapshots under the prefix, never delete; publish the metric. */
  nodeStatements(env: AwsEnvironment, keyArn: string): PolicyStatement[] {
    return [
      {
        Sid: "WriteAndReadSnapshots",
        Effect: "Allow",
        Action: ["s3:PutObject", "s3:GetObject"],
        Resource: `${this.bucketArn}/${BACKUP_PREFIX}/*`,
      },
      {
        Sid: "ListSnapshots",
        Effect: "Allow",
        Action: "s3:ListBucket",
        Resource: this.bucketArn,
        Condition: { StringLike: { "s3:prefix": `${BACKUP_PREFIX}/*` } },
      },
      {
        Sid: "EncryptSnapshots",
        Effect: "Allow",
        Action: ["kms:GenerateDataKey", "kms:Decrypt"],
        Resource: keyArn,
        Condition: { StringEquals: { "kms:ViaService": `s3.${env.region}.${env.dnsSuffix}` } },
      },
      {
        // PutMetricData takes no resource; the namespace condition scopes it.
        Sid: "PublishSnapshotAge",
        Effect: "Allow",
        Action: "cloudwatch:PutMetricData",
        Resource: "*",
        Condition: { StringEquals: { "cloudwatch:namespace": ETCD_METRIC_NAMESPACE } },
      },
    ];
  }
}

function lifecycleRule(id: string, prefix: string, days: number) {
  return {
    id,
    status: "Enabled",
    filter: [{ prefix }],
    expiration: [{ days }],
    // Versioning keeps a snapshot that was deleted or expired; it stays recoverable for the same retention.
    noncurrentVersionExpiration: [{ noncurrentDays: days }],
    // Incomplete multipart uploads anywhere in the bucket: PrivateBucket's own rule.
  };
}
