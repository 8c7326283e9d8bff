import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { FlowLog } from "@cdktf/provider-aws/lib/flow-log";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { Construct } from "constructs";
import { AwsEnvironment } from "../aws-environment";
import { IClusterKey } from "../cluster-key";
import { policyDocument, serviceTrustPolicy } from "../iam";
import { iamRoleName, logGroupName } from "../naming";

export type FlowLogTrafficType = "ALL" | "ACCEPT" | "REJECT";

export interface FlowLogsProps {
  readonly clusterName: string;
  readonly vpcId: string;
  readonly encryptionKey: IClusterKey;
  readonly retentionDays: number;
  readonly trafficType: FlowLogTrafficType;
}

/** VPC flow logs into a KMS-encrypted CloudWatch log group, through a role only the flow-log service can assume. */
export class FlowLogs extends Construct {
  readonly logGroupName: string;

  constructor(scope: Construct, id: string, props: FlowLogsProps) {
    super(scope, id);
    const env = AwsEnvironment.of(this);
    const group = new CloudwatchLogGroup(this, "log-group", {
      name: logGroupName(props.clusterName, "vpc-flow-logs"),
      retentionInDays: props.retentionDays,
      kmsKeyId: props.encryptionKey.keyArn,
    });
    const role = new IamRole(this, "role", {
      name: iamRoleName(props.clusterName, "vpc-flow-logs"),
      description: `Lets VPC Flow Logs write to ${group.name}`,
      assumeRolePolicy: serviceTrustPolicy(env.servicePrincipal("vpc-flow-logs"), env.accountId),
    });
    new IamRolePolicy(this, "write-log-group", {
      role: role.name,
      name: "write-flow-log-group",
      policy: policyDocument([
        {
          Effect: "Allow",
          Action: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
          Resource: [group.arn, `${group.arn}:*`],
        },
      ]),
    });
    new FlowLog(this, "flow-log", {
      vpcId: props.vpcId,
      trafficType: props.trafficType,
      logDestinationType: "cloud-watch-logs",
      logDestination: group.arn,
      iamRoleArn: role.arn,
    });
    this.logGroupName = group.name;
  }
}
