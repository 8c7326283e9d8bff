import { DataAwsCallerIdentity } from "@cdktf/provider-aws/lib/data-aws-caller-identity";
import { DataAwsRegion } from "@cdktf/provider-aws/lib/data-aws-region";
import { Fn, TerraformStack } from "cdktf";
import { Construct, IConstruct } from "constructs";
import { ConfigError } from "./errors";

export interface AwsEnvironmentProps {
  /**
   * The AWS account id, 12 digits.
   * @default - read with `aws_caller_identity`, which calls STS during plan
   */
  readonly accountId?: string;
  /**
   * The AWS region, for example "eu-west-1".
   * @default - read from the provider configuration with `aws_region` (no AWS call)
   */
  readonly region?: string;
}

const ID = "aws-environment";
const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/**
 * Account, region and partition of the stack, which policies and ARNs need.
 *
 * One per stack: constructs call `AwsEnvironment.of(this)`. Create it yourself
 * first, with explicit values, to keep AWS lookups out of the plan (the tests
 * and the offline plan do); otherwise it is created with data sources.
 */
export class AwsEnvironment extends Construct {
  static of(scope: IConstruct): AwsEnvironment {
    const stack = TerraformStack.of(scope);
    return (stack.node.tryFindChild(ID) as AwsEnvironment | undefined) ?? new AwsEnvironment(stack, {});
  }

  readonly accountId: string;
  readonly region: string;
  readonly partition: string;
  /** Suffix of service principals and endpoints: amazonaws.com, or amazonaws.com.cn in China. */
  readonly dnsSuffix: string;

  constructor(stack: TerraformStack, props: AwsEnvironmentProps) {
    super(stack, ID);
    if (props.accountId !== undefined && !/^\d{12}$/.test(props.accountId)) {
      throw new ConfigError("accountId", `${JSON.stringify(props.accountId)} is not an AWS account id (12 digits)`);
    }
    if (props.region !== undefined && !REGION_PATTERN.test(props.region)) {
      throw new ConfigError("region", `${JSON.stringify(props.region)} is not an AWS region name such as "eu-west-1"`);
    }
    this.accountId = props.accountId ?? this.caller().accountId;
    this.region = props.region ?? new DataAwsRegion(this, "region").name;
    // Partition follows from the region name; without a known region assume the commercial one.
    const region = props.region ?? "";
    this.partition = region.startsWith("cn-") ? "aws-cn" : region.startsWith("us-gov-") ? "aws-us-gov" : "aws";
    this.dnsSuffix = this.partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
  }

  /**
   * ARN of the principal that runs Terraform, read with `aws_caller_identity`
   * (one lookup per stack, shared with the account id's).
   */
  callerArn(): string {
    return this.caller().arn;
  }

  /**
   * The deployer as `aws:PrincipalArn` names it, for resource policies that
   * only the deploying principal passes: an assumed-role session becomes its
   * role (with or without a path), a user stays itself. It follows whoever
   * applies: each apply rewrites these policies for its own principal.
   */
  deployingPrincipalArns(): string[] {
    const caller = this.callerArn();
    // Terraform's replace() takes a /regex/; inner slashes need no escape, and HCL would reject "\/".
    const session = "/^arn:([^:]+):sts::([0-9]+):assumed-role/([^/]+)/.*$/";
    return [Fn.replace(caller, session, "arn:$1:iam::$2:role/$3"), Fn.replace(caller, session, "arn:$1:iam::$2:role/*/$3")];
  }

  private caller(): DataAwsCallerIdentity {
    return (this.node.tryFindChild("caller") as DataAwsCallerIdentity | undefined) ?? new DataAwsCallerIdentity(this, "caller");
  }

  /** `arn:<partition>:<service>:<region>:<account>:<resource>` for this account and region. */
  arn(service: string, resource: string, options: { region?: string; account?: string } = {}): string {
    const region = options.region ?? this.region;
    const account = options.account ?? this.accountId;
    return `arn:${this.partition}:${service}:${region}:${account}:${resource}`;
  }

  /** Service principal, for example `logs.eu-west-1.amazonaws.com`. */
  regionalServicePrincipal(service: string): string {
    return `${service}.${this.region}.${this.dnsSuffix}`;
  }

  servicePrincipal(service: string): string {
    return `${service}.amazonaws.com`;
  }
}
