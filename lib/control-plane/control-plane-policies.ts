import { AwsEnvironment } from "../aws-environment";
import { PolicyStatement } from "../iam";
import { rolloutParameters, ssmParameterName } from "../naming";
import { clusterKeyViaServices, sessionManagerStatements } from "../node-permissions";

export interface ControlPlanePolicyInputs {
  readonly clusterName: string;
  readonly encryptionKeyArn: string;
  readonly secretArns: string[];
  /** Name prefix of the control-plane Auto Scaling groups. */
  readonly autoScalingGroupPrefix: string;
}

/** The control-plane nodes' inline policies, one per concern, each as narrow as AWS allows. */
export function controlPlanePolicies(env: AwsEnvironment, inputs: ControlPlanePolicyInputs): Record<string, PolicyStatement[]> {
  const rollout = rolloutParameters(inputs.clusterName);
  return {
    "session-manager": sessionManagerStatements(),
    "cluster-secrets": [
      {
        Sid: "ClusterSecrets",
        Effect: "Allow",
        Action: ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:DescribeSecret"],
        Resource: inputs.secretArns,
      },
      {
        // The join parameters, the init lock and the add-on specification's checksum live under the cluster's path.
        Sid: "ReadClusterParameters",
        Effect: "Allow",
        Action: ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParameterHistory"],
        Resource: env.arn("ssm", `parameter${ssmParameterName(inputs.clusterName)}/*`),
      },
      {
        // Nodes write only the join parameters, the init lock and the rollout's lock and status; what Terraform alone
        // writes (the add-on checksum, the rollout's bundle) stays out.
        Sid: "WriteJoinParametersAndLocks",
        Effect: "Allow",
        Action: "ssm:PutParameter",
        Resource: [
          env.arn("ssm", `parameter${ssmParameterName(inputs.clusterName, "join")}/*`),
          env.arn("ssm", `parameter${ssmParameterName(inputs.clusterName, "control-plane", "init-lock")}`),
          env.arn("ssm", `parameter${rollout.lock}`),
          env.arn("ssm", `parameter${rollout.status}`),
        ],
      },
      {
        // A node releases the rollout lock by deleting it, which also clears its version history.
        Sid: "ReleaseRolloutLock",
        Effect: "Allow",
        Action: "ssm:DeleteParameter",
        Resource: env.arn("ssm", `parameter${rollout.lock}`),
      },
      clusterKeyViaServices(env, inputs.encryptionKeyArn, ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], ["secretsmanager", "ssm"]),
    ],
    "self-healing": [
      {
        // A node whose bootstrap fails asks its group to replace it.
        Sid: "MarkOwnGroupUnhealthy",
        Effect: "Allow",
        Action: "autoscaling:SetInstanceHealth",
        Resource: env.arn("autoscaling", `autoScalingGroup:*:autoScalingGroupName/${inputs.autoScalingGroupPrefix}*`),
      },
      {
        // A minor upgrade replaces each node: it finds its group, has it launch a successor, and leaves it.
        Sid: "FindOwnGroup",
        Effect: "Allow",
        Action: ["autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeAutoScalingGroups"],
        Resource: "*",
      },
      {
        Sid: "ReplaceSelfInOwnGroup",
        Effect: "Allow",
        Action: ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
        Resource: env.arn("autoscaling", `autoScalingGroup:*:autoScalingGroupName/${inputs.autoScalingGroupPrefix}*`),
      },
    ],
  };
}
