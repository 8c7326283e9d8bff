import { Lb } from "@cdktf/provider-aws/lib/lb";
import { LbListener } from "@cdktf/provider-aws/lib/lb-listener";
import { LbTargetGroup } from "@cdktf/provider-aws/lib/lb-target-group";
import { Route53Record } from "@cdktf/provider-aws/lib/route53-record";
import { Route53Zone } from "@cdktf/provider-aws/lib/route53-zone";
import { Construct } from "constructs";
import { apiEndpointHost, loadBalancerName, privateZoneName } from "../naming";

export const API_PORT = 6443;

export interface ApiEndpointProps {
  readonly clusterName: string;
  readonly vpcId: string;
  readonly privateSubnetIds: string[];
  readonly publicSubnetIds: string[];
  readonly securityGroupId: string;
  /** Security group of the public load balancer; set to create one. */
  readonly publicSecurityGroupId?: string;
  readonly deletionProtection: boolean;
}

/**
 * The Kubernetes API endpoint: an internal NLB on TCP 6443 behind a stable
 * name in a private hosted zone, and optionally an internet-facing NLB.
 *
 * Critical path: nodes get the endpoint's name, which is known at synth time,
 * not the NLB's generated DNS name. So launch templates and Auto Scaling groups
 * do not depend on the NLB, and instances boot while it is provisioned (a few
 * minutes). The first node resolves the name to itself while it runs
 * `kubeadm init`; only joining nodes need the NLB, by which time it is up.
 */
export class ApiEndpoint extends Construct {
  /** host:port for kubeadm's controlPlaneEndpoint. */
  readonly endpoint: string;
  readonly host: string;
  readonly targetGroupArns: string[];
  readonly loadBalancerArn: string;
  readonly publicLoadBalancerName?: string;
  readonly publicDnsName?: string;
  /** CloudWatch dimensions of the internal load balancer and its target group. */
  readonly internal: { readonly loadBalancerArnSuffix: string; readonly targetGroupArnSuffix: string };

  constructor(scope: Construct, id: string, props: ApiEndpointProps) {
    super(scope, id);
    this.host = apiEndpointHost(props.clusterName);
    this.endpoint = `${this.host}:${API_PORT}`;

    const internal = this.loadBalancer("internal", loadBalancerName(props.clusterName, "api"), props, true);
    const zone = new Route53Zone(this, "zone", {
      name: privateZoneName(props.clusterName),
      comment: `Kubernetes cluster ${props.clusterName}: stable API name`,
      vpc: [{ vpcId: props.vpcId }],
    });
    new Route53Record(this, "api-record", {
      zoneId: zone.zoneId,
      name: this.host,
      type: "A",
      alias: { name: internal.loadBalancer.dnsName, zoneId: internal.loadBalancer.zoneId, evaluateTargetHealth: true },
    });
    this.loadBalancerArn = internal.loadBalancer.arn;
    this.internal = { loadBalancerArnSuffix: internal.loadBalancer.arnSuffix, targetGroupArnSuffix: internal.targetGroup.arnSuffix };
    this.targetGroupArns = [internal.targetGroup.arn];

    if (props.publicSecurityGroupId) {
      const name = loadBalancerName(props.clusterName, "api-public");
      const external = this.loadBalancer("public", name, { ...props, securityGroupId: props.publicSecurityGroupId }, false);
      this.targetGroupArns.push(external.targetGroup.arn);
      this.publicLoadBalancerName = name;
      this.publicDnsName = external.loadBalancer.dnsName;
    }
  }

  private loadBalancer(id: string, name: string, props: ApiEndpointProps, internal: boolean) {
    const loadBalancer = new Lb(this, `${id}-load-balancer`, {
      name,
      loadBalancerType: "network",
      internal,
      subnets: internal ? props.privateSubnetIds : props.publicSubnetIds,
      securityGroups: [props.securityGroupId],
      enableCrossZoneLoadBalancing: true,
      enableDeletionProtection: props.deletionProtection,
    });
    const targetGroup = new LbTargetGroup(this, `${id}-target-group`, {
      name,
      port: API_PORT,
      protocol: "TCP",
      vpcId: props.vpcId,
      targetType: "instance",
      // With client IPs preserved, a node reaching the API through the NLB can be routed back to itself and drop
      // the connection (hairpin); without them, traffic comes from the NLB and its security group.
      preserveClientIp: "false",
      deregistrationDelay: "30",
      healthCheck: {
        protocol: "HTTPS",
        path: "/readyz",
        port: "traffic-port",
        interval: 10,
        healthyThreshold: 2,
        unhealthyThreshold: 2,
      },
    });
    new LbListener(this, `${id}-listener`, {
      loadBalancerArn: loadBalancer.arn,
      port: API_PORT,
      protocol: "TCP",
      defaultAction: [{ type: "forward", targetGroupArn: targetGroup.arn }],
    });
    return { loadBalancer, targetGroup };
  }
}
