import { AwsEnvironment } from "./aws-environment";
import { PolicyStatement } from "./iam";
import { clusterTagKey } from "./tags";

/**
 * IAM statements for node roles, one function per concern. Each grants the
 * narrowest resource AWS supports; where an action takes no resource, "*" is
 * scoped by a cluster-tag condition where AWS allows one.
 */

/** Session Manager and Run Command, without the parameter reads of AmazonSSMManagedInstanceCore. */
export function sessionManagerStatements(): PolicyStatement[] {
  return [
    {
      Sid: "SessionManagerAndRunCommand",
      Effect: "Allow",
      // These actions take no resource ARN (or only the calling instance, which AWS checks itself).
      Action: [
        "ssm:UpdateInstanceInformation",
        "ssm:ListAssociations",
        "ssm:ListInstanceAssociations",
        "ssm:DescribeAssociation",
        "ssm:UpdateAssociationStatus",
        "ssm:UpdateInstanceAssociationStatus",
        "ssm:GetDocument",
        "ssm:DescribeDocument",
        "ssm:PutInventory",
        "ssm:PutComplianceItems",
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
        "ec2messages:AcknowledgeMessage",
        "ec2messages:DeleteMessage",
        "ec2messages:FailMessage",
        "ec2messages:GetEndpoint",
        "ec2messages:GetMessages",
        "ec2messages:SendReply",
      ],
      Resource: "*",
    },
  ];
}

/** Use of the cluster key, only through the services that store the cluster's secrets and parameters. */
export function clusterKeyViaServices(env: AwsEnvironment, keyArn: string, actions: string[], services: string[]): PolicyStatement {
  return {
    Sid: "ClusterKeyThroughSecretStores",
    Effect: "Allow",
    Action: actions,
    Resource: keyArn,
    Condition: { StringEquals: { "kms:ViaService": services.map((s) => `${s}.${env.region}.${env.dnsSuffix}`) } },
  };
}

/**
 * The AWS cloud controller manager: reads EC2 and load balancers, and changes
 * only security groups and load balancers that carry this cluster's tag, or
 * that it creates with that tag.
 */
export function cloudControllerManagerStatements(env: AwsEnvironment, clusterName: string): PolicyStatement[] {
  const tag = clusterTagKey(clusterName);
  const ownedOrShared = { [`aws:ResourceTag/${tag}`]: ["owned", "shared"] };
  const ec2 = (resource: string) => env.arn("ec2", resource);
  return [
    {
      Sid: "CloudControllerReads",
      Effect: "Allow",
      // Describe calls take no resource ARN.
      Action: [
        "ec2:DescribeAvailabilityZones",
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceTopology",
        "ec2:DescribeRouteTables",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeLoadBalancerAttributes",
        "elasticloadbalancing:DescribeLoadBalancerPolicies",
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTargetGroupAttributes",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
      ],
      Resource: "*",
    },
    {
      Sid: "CloudControllerChangesClusterResources",
      Effect: "Allow",
      Action: [
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:DeleteSecurityGroup",
        "elasticloadbalancing:AddTags",
        "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
        "elasticloadbalancing:AttachLoadBalancerToSubnets",
        "elasticloadbalancing:ConfigureHealthCheck",
        "elasticloadbalancing:CreateLoadBalancerListeners",
        "elasticloadbalancing:CreateLoadBalancerPolicy",
        "elasticloadbalancing:DeleteListener",
        "elasticloadbalancing:DeleteLoadBalancer",
        "elasticloadbalancing:DeleteLoadBalancerListeners",
        "elasticloadbalancing:DeleteTargetGroup",
        "elasticloadbalancing:DeregisterInstancesFromLoadBalancer",
        "elasticloadbalancing:DeregisterTargets",
        "elasticloadbalancing:DetachLoadBalancerFromSubnets",
        "elasticloadbalancing:ModifyListener",
        "elasticloadbalancing:ModifyLoadBalancerAttributes",
        "elasticloadbalancing:ModifyTargetGroup",
        "elasticloadbalancing:ModifyTargetGroupAttributes",
        "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
        "elasticloadbalancing:RegisterTargets",
        "elasticloadbalancing:SetLoadBalancerPoliciesForBackendServer",
        "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
        "elasticloadbalancing:SetSecurityGroups",
      ],
      Resource: "*",
      Condition: { StringEquals: ownedOrShared },
    },
    {
      Sid: "CloudControllerCreatesTaggedResources",
      Effect: "Allow",
      Action: [
        "ec2:CreateSecurityGroup",
        "elasticloadbalancing:CreateListener",
        "elasticloadbalancing:CreateLoadBalancer",
        "elasticloadbalancing:CreateTargetGroup",
      ],
      Resource: "*",
      Condition: { StringEquals: { [`aws:RequestTag/${tag}`]: "owned" } },
    },
    {
      // CreateSecurityGroup also authorizes the VPC, which carries no request tag.
      Sid: "CloudControllerCreatesSecurityGroupsInVpcs",
      Effect: "Allow",
      Action: "ec2:CreateSecurityGroup",
      Resource: ec2("vpc/*"),
    },
    {
      Sid: "CloudControllerTagsOnCreate",
      Effect: "Allow",
      Action: "ec2:CreateTags",
      Resource: ec2("security-group/*"),
      Condition: { StringEquals: { [`aws:RequestTag/${tag}`]: "owned", "ec2:CreateAction": "CreateSecurityGroup" } },
    },
    {
      Sid: "CloudControllerTagsLoadBalancersOnCreate",
      Effect: "Allow",
      Action: "elasticloadbalancing:AddTags",
      Resource: "*",
      Condition: {
        StringEquals: {
          [`aws:RequestTag/${tag}`]: "owned",
          "elasticloadbalancing:CreateAction": ["CreateLoadBalancer", "CreateTargetGroup", "CreateListener"],
        },
      },
    },
    {
      // Re-tag its own groups, but never move or remove the cluster tag.
      Sid: "CloudControllerRetagsClusterSecurityGroups",
      Effect: "Allow",
      Action: ["ec2:CreateTags", "ec2:DeleteTags"],
      Resource: ec2("security-group/*"),
      Condition: { Null: { [`aws:RequestTag/${tag}`]: "true" }, StringEquals: ownedOrShared },
    },
    {
      Sid: "CloudControllerCreatesLoadBalancerServiceRole",
      Effect: "Allow",
      Action: "iam:CreateServiceLinkedRole",
      Resource: `arn:${env.partition}:iam::${env.accountId}:role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing`,
      Condition: { StringEquals: { "iam:AWSServiceName": "elasticloadbalancing.amazonaws.com" } },
    },
  ];
}

/** Read of the join token, CA hash and version, and nothing else the control plane stores. */
export function joinParameterReadStatements(env: AwsEnvironment, parameterNames: string[], keyArn: string): PolicyStatement[] {
  return [
    {
      Sid: "ReadJoinParameters",
      Effect: "Allow",
      Action: "ssm:GetParameter",
      Resource: parameterNames.map((name) => env.arn("ssm", `parameter${name}`)),
    },
    { ...clusterKeyViaServices(env, keyArn, ["kms:Decrypt"], ["ssm"]), Sid: "DecryptJoinToken" },
  ];
}

/** Image pulls from ECR repositories of this account and region. */
/** Pulls from the named private ECR repositories (or prefixes) only; none named, no statement. */
export function ecrPullStatements(env: AwsEnvironment, repositories: string[]): PolicyStatement[] {
  if (repositories.length === 0) return [];
  return [
    // The token call takes no resource.
    { Sid: "EcrAuthorization", Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
    {
      Sid: "EcrPull",
      Effect: "Allow",
      Action: ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
      Resource: repositories.map((r) => env.arn("ecr", `repository/${r}`)),
    },
  ];
}
