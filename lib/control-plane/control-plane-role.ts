import { IamInstanceProfile } from "@cdktf/provider-aws/lib/iam-instance-profile";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { Construct } from "constructs";
import { AwsEnvironment } from "../aws-environment";
import { PolicyStatement, policyDocument, serviceTrustPolicy } from "../iam";
import { iamRoleName, ssmParameterName } from "../naming";
import { cloudControllerManagerStatements, clusterKeyViaServices, sessionManagerStatements } from "../node-permissions";

export interface ControlPlaneRoleProps {
  readonly clusterName: string;
  readonly encryptionKeyArn: string;
  readonly secretArns: string[];
  /** Name prefix of the control-plane Auto Scaling groups. */
  readonly autoScalingGroupPrefix: string;
}

/** The control-plane nodes' role: one inline policy per concern, each as narrow as AWS allows. */
export class ControlPlaneRole extends Construct {
  readonly roleName: string;
  readonly roleArn: string;
  readonly instanceProfileArn: string;

  constructor(scope: Construct, id: string, props: ControlPlaneRoleProps) {
    super(scope, id);
    const env = AwsEnvironment.of(this);
    const role = new IamRole(this, "role", {
      name: iamRoleName(props.clusterName, "control-plane"),
      description: `Kubernetes control-plane nodes of ${props.clusterName}`,
      assumeRolePolicy: serviceTrustPolicy(env.servicePrincipal("ec2")),
    });
    const policies: Record<string, PolicyStatement[]> = {
      "session-manager": sessionManagerStatements(),
      "cloud-controller-manager": cloudControllerManagerStatements(env, props.clusterName),
      "cluster-secrets": [
        {
          Sid: "ClusterSecrets",
          Effect: "Allow",
          Action: ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:DescribeSecret"],
          Resource: props.secretArns,
        },
        {
          // The join token, CA hash, version and init lock live under the cluster's path.
          Sid: "ClusterParameters",
          Effect: "Allow",
          Action: ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParameterHistory", "ssm:PutParameter"],
          Resource: env.arn("ssm", `parameter${ssmParameterName(props.clusterName)}/*`),
        },
        clusterKeyViaServices(env, props.encryptionKeyArn, ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], ["secretsmanager", "ssm"]),
      ],
      "self-healing": [
        {
          // A node whose bootstrap fails asks its group to replace it.
          Sid: "MarkOwnGroupUnhealthy",
          Effect: "Allow",
          Action: "autoscaling:SetInstanceHealth",
          Resource: env.arn("autoscaling", `autoScalingGroup:*:autoScalingGroupName/${props.autoScalingGroupPrefix}*`),
        },
      ],
    };
    for (const [name, statements] of Object.entries(policies)) {
      new IamRolePolicy(this, name, { role: role.name, name, policy: policyDocument(statements) });
    }
    const profile = new IamInstanceProfile(this, "instance-profile", { name: role.name, role: role.name });
    this.roleName = role.name;
    this.roleArn = role.arn;
    this.instanceProfileArn = profile.arn;
  }
}
