import { AwsEnvironment } from "../aws-environment";
import { PolicyStatement } from "../iam";
import { ecrPullStatements, joinParameterReadStatements, sessionManagerStatements } from "../node-permissions";

export interface WorkerPolicyInputs {
  readonly joinParameterNames: string[];
  readonly encryptionKeyArn: string;
  readonly autoScalingGroupName: string;
  readonly ecrRepositories: string[];
}

/**
 * The minimum a worker needs: Session Manager, pulls from the ECR
 * repositories its group names, the join parameters, and completing its own
 * group's launch hook. No cloud-controller
 * permissions and no access to the cluster's PKI.
 */
export function workerPolicies(env: AwsEnvironment, inputs: WorkerPolicyInputs): Record<string, PolicyStatement[]> {
  return {
    "session-manager": sessionManagerStatements(),
    ...(inputs.ecrRepositories.length ? { "ecr-pull": ecrPullStatements(env, inputs.ecrRepositories) } : {}),
    "join-cluster": [
      ...joinParameterReadStatements(env, inputs.joinParameterNames, inputs.encryptionKeyArn),
      {
        // The node tells its group it joined (CONTINUE) or failed (ABANDON), and that it still waits for the
        // control plane to reach its minor (a heartbeat).
        Sid: "CompleteOwnLaunchHook",
        Effect: "Allow",
        Action: ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"],
        Resource: env.arn("autoscaling", `autoScalingGroup:*:autoScalingGroupName/${inputs.autoScalingGroupName}`),
      },
    ],
  };
}
