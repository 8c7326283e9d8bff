import { IamInstanceProfile } from "@cdktf/provider-aws/lib/iam-instance-profile";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamPolicy } from "@cdktf/provider-aws/lib/iam-policy";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment";
import { Construct } from "constructs";
import { AwsEnvironment } from "./aws-environment";
import { PolicyStatement, policyDocument, serviceTrustPolicy } from "./iam";

export interface NodeRoleProps {
  readonly name: string;
  readonly description: string;
  /** Inline policies by name, one per concern. Together they must stay under IAM's 10,240 characters per role. */
  readonly policies: Record<string, PolicyStatement[]>;
  /**
   * Customer-managed policies by name (`<role>-<name>`), attached to the role:
   * for large concerns such as add-on controllers, which would push the inline
   * policies over their size limit. At most 10 per role.
   * @default - none
   */
  readonly managedPolicies?: Record<string, PolicyStatement[]>;
}

/** An EC2 instance role with one policy per concern, and its instance profile. */
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
    for (const [name, statements] of Object.entries(props.managedPolicies ?? {})) {
      const policy = new IamPolicy(this, `managed-${name}`, { name: `${props.name}-${name}`, description: `${props.description}: ${name}`, policy: policyDocument(statements) });
      new IamRolePolicyAttachment(this, `attach-${name}`, { role: role.name, policyArn: policy.arn });
    }
    const profile = new IamInstanceProfile(this, "instance-profile", { name: role.name, role: role.name });
    this.roleName = role.name;
    this.roleArn = role.arn;
    this.instanceProfileArn = profile.arn;
  }
}
