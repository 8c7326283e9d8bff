import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { VpcEndpoint } from "@cdktf/provider-aws/lib/vpc-endpoint";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule";
import { Construct } from "constructs";
import { AwsEnvironment } from "../aws-environment";
import { resourceName } from "../naming";
import { clusterTags } from "../tags";

/** AWS services that nodes call; each can get an interface endpoint in the VPC. */
export const INTERFACE_ENDPOINT_SERVICES = [
  "ssm",
  "ssmmessages",
  "ec2messages",
  "ec2",
  "autoscaling",
  "secretsmanager",
  "kms",
  "sts",
  "ecr.api",
  "ecr.dkr",
  "logs",
] as const;

export type InterfaceEndpointService = (typeof INTERFACE_ENDPOINT_SERVICES)[number];

export interface VpcEndpointsProps {
  readonly clusterName: string;
  readonly vpcId: string;
  readonly vpcCidr: string;
  readonly privateSubnetIds: string[];
  readonly routeTableIds: string[];
  readonly interfaceServices: readonly InterfaceEndpointService[];
}

/**
 * The S3 gateway endpoint (always: it is free and keeps image layers and
 * backups off the NAT), plus the interface endpoints asked for.
 */
export class VpcEndpoints extends Construct {
  /** The security group of the interface endpoints, if any were asked for. */
  readonly securityGroupId?: string;

  constructor(scope: Construct, id: string, props: VpcEndpointsProps) {
    super(scope, id);
    const env = AwsEnvironment.of(this);
    const serviceName = (service: string) => `com.amazonaws.${env.region}.${service}`;
    new VpcEndpoint(this, "s3", {
      vpcId: props.vpcId,
      serviceName: serviceName("s3"),
      vpcEndpointType: "Gateway",
      routeTableIds: props.routeTableIds,
      tags: { Name: resourceName(props.clusterName, "s3"), ...clusterTags(props.clusterName) },
    });
    if (props.interfaceServices.length === 0) return;

    const group = new SecurityGroup(this, "security-group", {
      name: resourceName(props.clusterName, "vpc-endpoints"),
      description: "Interface VPC endpoints: HTTPS from inside the VPC only",
      vpcId: props.vpcId,
      tags: { Name: resourceName(props.clusterName, "vpc-endpoints") },
    });
    new VpcSecurityGroupIngressRule(this, "https-from-vpc", {
      securityGroupId: group.id,
      description: "HTTPS to AWS APIs from anything in the VPC",
      ipProtocol: "tcp",
      fromPort: 443,
      toPort: 443,
      cidrIpv4: props.vpcCidr,
    });
    for (const service of props.interfaceServices) {
      new VpcEndpoint(this, service, {
        vpcId: props.vpcId,
        serviceName: serviceName(service),
        vpcEndpointType: "Interface",
        privateDnsEnabled: true,
        subnetIds: props.privateSubnetIds,
        securityGroupIds: [group.id],
        tags: { Name: resourceName(props.clusterName, service.replace(".", "-")), ...clusterTags(props.clusterName) },
      });
    }
    this.securityGroupId = group.id;
  }
}
