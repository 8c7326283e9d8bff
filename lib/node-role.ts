import { IamInstanceProfile } from "@cdktf/provider-aws/lib/iam-instance-profile";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { Construct } from "constructs";
import { AwsEnvironment } from "./aws-environment";
import { PolicyStatement, policyDocument, serviceTrustPolicy } from "./iam";

export interface NodeRoleProps {
  readonly name: string;
  readonly description: string;
  /** Inline policies by name, one per concern. */
  readonly policies: Record<string, PolicyStatement[]>;
}

/** An EC2 instance role with one inline policy per concern, and its instance profile. */
export class NodeRole extends Construct {
  readonly roleName: string;
  readonly roleArn: string;
  readonly instanceProfileArn: string;

  constructor(scope: Construct, id: string, props: NodeRoleProps) {
    super(scope, id);
    const env = AwsEnvironment.of(this);
    const role = new IamRole(this, "role", {
      name: props.name,
      description: props.description,
      assumeRolePolicy: serviceTrustPolicy(env.servicePrincipal("ec2")),
    });
    for (const [name, statements] of Object.entries(props.policies)) {
      new IamRolePolicy(this, name, { role: role.name, name, policy: policyDocument(statements) });
    }
    const profile = new IamInstanceProfile(this, "instance-profile", { name: role.name, role: role.name });
    this.roleName = role.name;
    this.roleArn = role.arn;
    this.instanceProfileArn = profile.arn;
  }
}
