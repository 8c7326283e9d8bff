import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { Construct } from "constructs";
import { AwsEnvironment } from "./aws-environment";
import { ConfigError } from "./errors";
import { PolicyStatement, policyDocument } from "./iam";
import { kmsAliasName, logGroupPrefix, validateClusterName } from "./naming";

/** The cluster's KMS key, as other constructs see it. */
export interface IClusterKey {
  readonly keyArn: string;
  readonly keyId: string;
  /** Alias name, known at synth time, so nodes can name the key without waiting for it. */
  readonly aliasName: string;
}

export interface ClusterKeyProps {
  /** DNS-1123 label, at most 20 characters; it names the key's alias. */
  readonly clusterName: string;
  /**
   * Days KMS waits before it deletes the key after a destroy (7 to 30).
   * @default 30
   */
  readonly deletionWindowDays?: number;
}

/**
 * One customer-managed KMS key per cluster, with yearly rotation. It encrypts
 * the cluster's logs, volumes, secrets and backups, so one key policy says who
 * may read any of them.
 */
export class ClusterKey extends Construct implements IClusterKey {
  readonly keyArn: string;
  readonly keyId: string;
  readonly aliasName: string;

  constructor(scope: Construct, id: string, props: ClusterKeyProps) {
    super(scope, id);
    validateClusterName(props.clusterName);
    const deletionWindowDays = props.deletionWindowDays ?? 30;
    if (!Number.isInteger(deletionWindowDays) || deletionWindowDays < 7 || deletionWindowDays > 30) {
      throw new ConfigError("deletionWindowDays", `${deletionWindowDays} is not allowed; KMS accepts whole days from 7 to 30`);
    }
    const env = AwsEnvironment.of(this);
    const key = new KmsKey(this, "key", {
      description: `Kubernetes cluster ${props.clusterName}: logs, volumes, secrets and backups`,
      enableKeyRotation: true,
      deletionWindowInDays: deletionWindowDays,
      policy: policyDocument(keyPolicy(env, props.clusterName)),
    });
    this.aliasName = kmsAliasName(props.clusterName);
    new KmsAlias(this, "alias", { name: this.aliasName, targetKeyId: key.keyId });
    this.keyArn = key.arn;
    this.keyId = key.keyId;
  }
}

function keyPolicy(env: AwsEnvironment, clusterName: string): PolicyStatement[] {
  const autoScalingRole = env.arn("iam", "role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling", { region: "" });
  return [
    {
      // Delegates to IAM: roles get key access only through their IAM policies.
      Sid: "AccountAdministersKeyThroughIam",
      Effect: "Allow",
      Principal: { AWS: env.arn("iam", "root", { region: "" }) },
      Action: "kms:*",
      Resource: "*",
    },
    {
      // CloudWatch Logs encrypts log groups itself; scope it to this cluster's groups.
      Sid: "CloudWatchLogsEncryptsClusterLogGroups",
      Effect: "Allow",
      Principal: { Service: env.regionalServicePrincipal("logs") },
      Action: ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
      Resource: "*",
      Condition: {
        ArnLike: { "kms:EncryptionContext:aws:logs:arn": env.arn("logs", `log-group:${logGroupPrefix(clusterName)}*`) },
      },
    },
    {
      // This cluster's CloudWatch alarms (all named "<cluster>-...") publish to its encrypted SNS topic.
      Sid: "CloudWatchAlarmsPublishToEncryptedTopic",
      Effect: "Allow",
      Principal: { Service: env.servicePrincipal("cloudwatch") },
      Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
      Resource: "*",
      Condition: { StringEquals: { "aws:SourceAccount": env.accountId }, ArnLike: { "aws:SourceArn": env.arn("cloudwatch", `alarm:${clusterName}-*`) } },
    },
    {
      // This cluster's EventBridge rules (all named "<cluster>-...") deliver node-termination events to its encrypted queue.
      Sid: "EventBridgeSendsToEncryptedQueue",
      Effect: "Allow",
      Principal: { Service: env.servicePrincipal("events") },
      Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
      Resource: "*",
      Condition: { StringEquals: { "aws:SourceAccount": env.accountId }, ArnLike: { "aws:SourceArn": env.arn("events", `rule/${clusterName}-*`) } },
    },
    // Auto Scaling launches instances with volumes encrypted by this key, through its service-linked role. The
    // principal is "*" narrowed to that role by condition: naming the role directly fails while the role does not
    // exist yet, which is the case in an account that never used Auto Scaling.
    {
      Sid: "AutoScalingUsesKeyForVolumes",
      Effect: "Allow",
      Principal: { AWS: "*" },
      Action: ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
      Resource: "*",
      Condition: { StringEquals: { "aws:PrincipalArn": autoScalingRole, "kms:CallerAccount": env.accountId } },
    },
    {
      Sid: "AutoScalingGrantsKeyToEc2",
      Effect: "Allow",
      Principal: { AWS: "*" },
      Action: "kms:CreateGrant",
      Resource: "*",
      Condition: { StringEquals: { "aws:PrincipalArn": autoScalingRole, "kms:CallerAccount": env.accountId }, Bool: { "kms:GrantIsForAWSResource": true } },
    },
  ];
}
