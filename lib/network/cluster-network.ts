import { DataAwsAvailabilityZones } from "@cdktf/provider-aws/lib/data-aws-availability-zones";
import { DefaultSecurityGroup } from "@cdktf/provider-aws/lib/default-security-group";
import { Ec2Tag } from "@cdktf/provider-aws/lib/ec2-tag";
import { Eip } from "@cdktf/provider-aws/lib/eip";
import { InternetGateway } from "@cdktf/provider-aws/lib/internet-gateway";
import { NatGateway } from "@cdktf/provider-aws/lib/nat-gateway";
import { Route } from "@cdktf/provider-aws/lib/route";
import { RouteTable } from "@cdktf/provider-aws/lib/route-table";
import { RouteTableAssociation } from "@cdktf/provider-aws/lib/route-table-association";
import { Subnet } from "@cdktf/provider-aws/lib/subnet";
import { Vpc } from "@cdktf/provider-aws/lib/vpc";
import { Fn, ITerraformDependable, Token } from "cdktf";
import { Construct } from "constructs";
import { ClusterKey, IClusterKey } from "../cluster-key";
import { resourceName } from "../naming";
import { INTERNAL_ELB_ROLE_TAG, PUBLIC_ELB_ROLE_TAG, clusterTagKey, clusterTags } from "../tags";
import { VpcEndpoints } from "./endpoints";
import { FlowLogs } from "./flow-logs";
import { ClusterNetworkOptions, ExistingVpc, NetworkSettings, resolveNetworkSettings } from "./network-settings";

/** What the other constructs need from a cluster's network, created or adopted. */
export interface IClusterNetwork {
  readonly clusterName: string;
  readonly vpcId: string;
  readonly vpcCidr: string;
  /** Zones in order; the subnet id lists below follow this order. */
  readonly availabilityZones: string[];
  /** Public ("utility") subnets: load balancers and NAT gateways. */
  readonly publicSubnetIds: string[];
  /** Private subnets: every node. */
  readonly privateSubnetIds: string[];
  /**
   * What a node needs in place before it boots: the private subnets' default
   * routes to the internet (nodes download packages and images first thing).
   * Node groups in the same stack depend on them.
   * @default - none: an adopted VPC's egress exists already
   */
  readonly egressResources?: ITerraformDependable[];
}

export interface ClusterNetworkProps extends ClusterNetworkOptions {
  /** DNS-1123 label, at most 20 characters; it prefixes names and tags. */
  readonly clusterName: string;
  /**
   * Key that encrypts the flow-log group.
   * @default - a new ClusterKey
   */
  readonly encryptionKey?: IClusterKey;
}

/**
 * The cluster's VPC: per AZ a public and a private subnet, an internet
 * gateway, NAT, the S3 gateway endpoint, optional interface endpoints and
 * flow logs; or an existing VPC, adopted by tagging its subnets.
 */
export class ClusterNetwork extends Construct implements IClusterNetwork {
  readonly clusterName: string;
  readonly vpcId: string;
  readonly vpcCidr: string;
  readonly availabilityZones: string[];
  readonly publicSubnetIds: string[];
  readonly privateSubnetIds: string[];
  readonly egressResources: ITerraformDependable[];
  /** Security group of the interface endpoints, when any were created. */
  readonly endpointSecurityGroupId?: string;
  /** Flow-log group name, when flow logs are on. */
  readonly flowLogGroupName?: string;

  constructor(scope: Construct, id: string, props: ClusterNetworkProps) {
    super(scope, id);
    const settings = resolveNetworkSettings(props.clusterName, props);
    this.clusterName = props.clusterName;
    const network = settings.kind === "adopted" ? this.adoptVpc(settings.vpc) : this.createVpc(settings);
    this.vpcId = network.vpcId;
    this.vpcCidr = network.vpcCidr;
    this.availabilityZones = network.availabilityZones;
    this.publicSubnetIds = network.publicSubnetIds;
    this.privateSubnetIds = network.privateSubnetIds;
    this.egressResources = network.egressResources;
    if (settings.kind === "adopted") return;

    const key = props.encryptionKey ?? new ClusterKey(this, "key", { clusterName: props.clusterName });
    if (settings.flowLogs) {
      const flowLogs = new FlowLogs(this, "flow-logs", { clusterName: props.clusterName, vpcId: this.vpcId, encryptionKey: key, ...settings.flowLogs });
      this.flowLogGroupName = flowLogs.logGroupName;
    }
    const endpoints = new VpcEndpoints(this, "endpoints", {
      clusterName: props.clusterName,
      vpcId: this.vpcId,
      vpcCidr: this.vpcCidr,
      privateSubnetIds: this.privateSubnetIds,
      routeTableIds: network.routeTableIds,
      interfaceServices: settings.interfaceEndpoints,
    });
    this.endpointSecurityGroupId = endpoints.securityGroupId;
  }

  /** Adopting creates nothing but the cluster tag on each subnet, so the CCM may place load balancers there. */
  private adoptVpc(vpc: ExistingVpc) {
    [...vpc.publicSubnetIds, ...vpc.privateSubnetIds].forEach((subnetId, i) => {
      new Ec2Tag(this, `cluster-tag-${i}`, { resourceId: subnetId, key: clusterTagKey(this.clusterName), value: "shared" });
    });
    return { ...vpc, routeTableIds: [] as string[], egressResources: [] as ITerraformDependable[] };
  }

  private createVpc(settings: Extract<NetworkSettings, { kind: "created" }>) {
    const cluster = this.clusterName;
    const owned = clusterTags(cluster);
    const vpc = new Vpc(this, "vpc", {
      cidrBlock: settings.vpcCidr,
      // Private DNS of interface endpoints and EC2 hostnames (the node names) need both.
      enableDnsSupport: true,
      enableDnsHostnames: true,
      tags: { Name: cluster, ...owned },
    });
    // Strip the default group of its allow-all rules, so nothing can use it by accident.
    new DefaultSecurityGroup(this, "default-security-group", { vpcId: vpc.id, ingress: [], egress: [] });
    const igw = new InternetGateway(this, "internet-gateway", { vpcId: vpc.id, tags: { Name: cluster, ...owned } });

    const zones = settings.availabilityZones ?? this.lookUpZones(settings.azCount);
    // Literal zones name their resources; looked-up zones can only be numbered.
    const suffixes = zones.map((zone, i) => (Token.isUnresolved(zone) ? `az${i}` : zone));

    const publicRoutes = new RouteTable(this, "public-route-table", { vpcId: vpc.id, tags: { Name: resourceName(cluster, "public"), ...owned } });
    new Route(this, "public-default-route", { routeTableId: publicRoutes.id, destinationCidrBlock: "0.0.0.0/0", gatewayId: igw.id });

    const publicSubnets = zones.map((zone, i) => {
      const subnet = new Subnet(this, `public-${suffixes[i]}`, {
        vpcId: vpc.id,
        availabilityZone: zone,
        cidrBlock: settings.layout.publicCidrs[i],
        // Only load balancers and NAT gateways live here; nodes never get public IPs.
        mapPublicIpOnLaunch: false,
        tags: { Name: resourceName(cluster, "public", suffixes[i]), ...owned, [PUBLIC_ELB_ROLE_TAG]: "1" },
      });
      new RouteTableAssociation(this, `public-${suffixes[i]}-routes`, { subnetId: subnet.id, routeTableId: publicRoutes.id });
      return subnet;
    });

    const natCount = { perAz: zones.length, single: 1 }[settings.natGateways];
    const natGateways = publicSubnets.slice(0, natCount).map((subnet, i) => {
      const eip = new Eip(this, `nat-${suffixes[i]}-ip`, { domain: "vpc", tags: { Name: resourceName(cluster, "nat", suffixes[i]), ...owned } });
      return new NatGateway(this, `nat-${suffixes[i]}`, {
        allocationId: eip.allocationId,
        subnetId: subnet.id,
        tags: { Name: resourceName(cluster, "nat", suffixes[i]), ...owned },
        dependsOn: [igw],
      });
    });

    const privateRouteTables: RouteTable[] = [];
    const egressRoutes: Route[] = [];
    const privateSubnets = zones.map((zone, i) => {
      const subnet = new Subnet(this, `private-${suffixes[i]}`, {
        vpcId: vpc.id,
        availabilityZone: zone,
        cidrBlock: settings.layout.privateCidrs[i],
        tags: { Name: resourceName(cluster, "private", suffixes[i]), ...owned, [INTERNAL_ELB_ROLE_TAG]: "1" },
      });
      // One table per zone, so each zone's egress survives the loss of another zone's NAT.
      const routes = new RouteTable(this, `private-${suffixes[i]}-route-table`, {
        vpcId: vpc.id,
        tags: { Name: resourceName(cluster, "private", suffixes[i]), ...owned },
      });
      new RouteTableAssociation(this, `private-${suffixes[i]}-routes`, { subnetId: subnet.id, routeTableId: routes.id });
      const nat = natGateways[settings.natGateways === "perAz" ? i : 0];
      if (nat) {
        egressRoutes.push(new Route(this, `private-${suffixes[i]}-default-route`, { routeTableId: routes.id, destinationCidrBlock: "0.0.0.0/0", natGatewayId: nat.id }));
      }
      privateRouteTables.push(routes);
      return subnet;
    });

    return {
      vpcId: vpc.id,
      vpcCidr: settings.vpcCidr,
      availabilityZones: zones,
      publicSubnetIds: publicSubnets.map((s) => s.id),
      privateSubnetIds: privateSubnets.map((s) => s.id),
      routeTableIds: [publicRoutes.id, ...privateRouteTables.map((t) => t.id)],
      // A route through a NAT gateway is created once the gateway is available.
      egressResources: egressRoutes as ITerraformDependable[],
    };
  }

  private lookUpZones(count: number): string[] {
    const zones = new DataAwsAvailabilityZones(this, "zones", {
      state: "available",
      // Regular zones only: Local and Wavelength zones lack most instance types.
      filter: [{ name: "opt-in-status", values: ["opt-in-not-required"] }],
    });
    return [...Array(count).keys()].map((i) => Fn.element(zones.names, i));
  }
}
