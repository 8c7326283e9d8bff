import { Token } from "cdktf";
import { ConfigError } from "../errors";
import { validateRetentionDays } from "../log-retention";
import { validateClusterName } from "../naming";
import { parseCidr } from "./cidr";
import { INTERFACE_ENDPOINT_SERVICES, InterfaceEndpointService } from "./endpoints";
import { FlowLogTrafficType } from "./flow-logs";
import { MAX_AVAILABILITY_ZONES, SubnetLayout, planSubnets } from "./subnet-layout";

export const NAT_GATEWAY_MODES = ["perAz", "single"] as const;
/** `perAz`: one NAT gateway per AZ (HA). `single`: one for all AZs (cheap, dev). */
export type NatGatewayMode = (typeof NAT_GATEWAY_MODES)[number];

export interface FlowLogsOptions {
  /** Whether the VPC's flow logs go to a CloudWatch log group. @default true */
  readonly enabled?: boolean;
  /** Days the flow logs are kept (a CloudWatch retention value). @default 90 */
  readonly retentionDays?: number;
  /** Which traffic is logged: ACCEPT, REJECT or ALL. @default "ALL" */
  readonly trafficType?: FlowLogTrafficType;
}

/** A VPC someone else owns, for `ClusterNetwork` to adopt. Subnet lists are in `availabilityZones` order. */
export interface ExistingVpc {
  /** The VPC's id. */
  readonly vpcId: string;
  /** Its primary IPv4 CIDR, which security groups open to. */
  readonly vpcCidr: string;
  /** The zones its subnets are in, in the order of the subnet lists. */
  readonly availabilityZones: string[];
  /** A public subnet per zone, for internet-facing load balancers. */
  readonly publicSubnetIds: string[];
  /** A private subnet per zone, with a route to the internet through NAT, for the nodes. */
  readonly privateSubnetIds: string[];
}

export interface ClusterNetworkOptions {
  /** The new VPC's IPv4 range, large enough for a public and a private subnet per zone. @default "10.0.0.0/16" */
  readonly vpcCidr?: string;
  /**
   * Zones to spread subnets over, in order.
   * @default - the first `azCount` available zones of the region, looked up with `aws_availability_zones`
   */
  readonly availabilityZones?: string[];
  /**
   * Number of zones to look up when `availabilityZones` is not given (1 to 6).
   * @default 3
   */
  readonly azCount?: number;
  /** NAT gateways for the private subnets: one per zone, or a single one. @default "perAz" - one NAT gateway per AZ, so losing a zone leaves the others online */
  readonly natGateways?: NatGatewayMode;
  /**
   * Interface endpoints to create in the private subnets.
   * @default - none (only the free S3 gateway endpoint)
   */
  readonly interfaceEndpoints?: InterfaceEndpointService[];
  /** VPC flow logs. @default - on, all traffic, 90 days retention, encrypted with the cluster key */
  readonly flowLogs?: FlowLogsOptions;
  /**
   * Adopt this VPC instead of creating one: only cluster tags (`shared`) are added to its subnets.
   * @default - a new VPC
   */
  readonly existingVpc?: ExistingVpc;
}

export type NetworkSettings =
  | { readonly kind: "adopted"; readonly vpc: ExistingVpc }
  | {
      readonly kind: "created";
      readonly vpcCidr: string;
      /** Explicit zones, or undefined when they are looked up. */
      readonly availabilityZones?: string[];
      readonly azCount: number;
      readonly layout: SubnetLayout;
      readonly natGateways: NatGatewayMode;
      readonly interfaceEndpoints: InterfaceEndpointService[];
      readonly flowLogs?: { retentionDays: number; trafficType: FlowLogTrafficType };
    };

const AZ_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d+[a-z]$/;
const CREATE_ONLY_OPTIONS = ["vpcCidr", "availabilityZones", "azCount", "natGateways", "interfaceEndpoints", "flowLogs"] as const;

/** Checks the props and fills in defaults; every mistake becomes one ConfigError naming the property. */
export function resolveNetworkSettings(clusterName: string, options: ClusterNetworkOptions): NetworkSettings {
  validateClusterName(clusterName);
  if (options.existingVpc) {
    const clash = CREATE_ONLY_OPTIONS.find((key) => options[key] !== undefined);
    if (clash) throw new ConfigError(clash, "cannot be combined with existingVpc: an adopted VPC is left as it is");
    return { kind: "adopted", vpc: validateExistingVpc(options.existingVpc) };
  }
  if (options.availabilityZones !== undefined) validateZones(options.availabilityZones, "availabilityZones");
  if (options.availabilityZones !== undefined && options.azCount !== undefined) {
    throw new ConfigError("azCount", "give either availabilityZones or azCount, not both");
  }
  const azCount = options.availabilityZones?.length ?? options.azCount ?? 3;
  if (!Number.isInteger(azCount) || azCount < 1 || azCount > MAX_AVAILABILITY_ZONES) {
    throw new ConfigError("azCount", `${azCount} is not allowed; use a whole number from 1 to ${MAX_AVAILABILITY_ZONES}`);
  }
  const vpcCidr = options.vpcCidr ?? "10.0.0.0/16";
  const natGateways = options.natGateways ?? "perAz";
  if ((natGateways as string) === "none") {
    throw new ConfigError(
      "natGateways",
      `"none" is not supported: nodes download from the internet while they boot (the Ubuntu archive, the Snap Store, pkgs.k8s.io, registry.k8s.io, GitHub, get.helm.sh), which no VPC endpoint serves; use "single" for one shared NAT gateway, or adopt a VPC with its own egress (existingVpc)`,
    );
  }
  if (!NAT_GATEWAY_MODES.includes(natGateways)) {
    throw new ConfigError("natGateways", `${JSON.stringify(natGateways)} is not one of ${NAT_GATEWAY_MODES.map((m) => `"${m}"`).join(", ")}`);
  }
  const interfaceEndpoints = validateEndpoints(options.interfaceEndpoints ?? []);
  const flowLogs = options.flowLogs ?? {};
  return {
    kind: "created",
    vpcCidr,
    availabilityZones: options.availabilityZones,
    azCount,
    layout: planSubnets(vpcCidr, azCount, "vpcCidr"),
    natGateways,
    interfaceEndpoints,
    flowLogs:
      flowLogs.enabled === false
        ? undefined
        : {
            retentionDays: validateRetentionDays(flowLogs.retentionDays ?? 90, "flowLogs.retentionDays"),
            trafficType: validateTrafficType(flowLogs.trafficType ?? "ALL"),
          },
  };
}

function validateZones(zones: string[], property: string): void {
  if (zones.length === 0) throw new ConfigError(property, "must list at least one availability zone");
  if (zones.length > MAX_AVAILABILITY_ZONES) {
    throw new ConfigError(property, `lists ${zones.length} zones; at most ${MAX_AVAILABILITY_ZONES} are supported`);
  }
  const malformed = zones.find((zone) => !AZ_PATTERN.test(zone));
  if (malformed !== undefined) {
    throw new ConfigError(property, `${JSON.stringify(malformed)} is not an availability zone name such as "eu-west-1a"`);
  }
  const duplicate = zones.find((zone, i) => zones.indexOf(zone) !== i);
  if (duplicate) throw new ConfigError(property, `lists ${duplicate} twice; each zone may appear once`);
}

function validateEndpoints(services: InterfaceEndpointService[]): InterfaceEndpointService[] {
  const unknown = services.find((s) => !INTERFACE_ENDPOINT_SERVICES.includes(s));
  if (unknown !== undefined) {
    throw new ConfigError("interfaceEndpoints", `${JSON.stringify(unknown)} is not supported; allowed: ${INTERFACE_ENDPOINT_SERVICES.join(", ")}`);
  }
  const duplicate = services.find((s, i) => services.indexOf(s) !== i);
  if (duplicate) throw new ConfigError("interfaceEndpoints", `lists ${duplicate} twice`);
  return services;
}

function validateTrafficType(type: FlowLogTrafficType): FlowLogTrafficType {
  if (!["ALL", "ACCEPT", "REJECT"].includes(type)) {
    throw new ConfigError("flowLogs.trafficType", `${JSON.stringify(type)} is not one of "ALL", "ACCEPT", "REJECT"`);
  }
  return type;
}

/** Adopted ids may be references to another stack; only literal values can be checked at synth. */
function validateExistingVpc(vpc: ExistingVpc): ExistingVpc {
  if (!Token.isUnresolved(vpc.vpcCidr)) parseCidr(vpc.vpcCidr, "existingVpc.vpcCidr");
  if (!vpc.availabilityZones.some((zone) => Token.isUnresolved(zone))) {
    validateZones(vpc.availabilityZones, "existingVpc.availabilityZones");
  }
  for (const key of ["publicSubnetIds", "privateSubnetIds"] as const) {
    if (vpc[key].length !== vpc.availabilityZones.length) {
      throw new ConfigError(
        `existingVpc.${key}`,
        `has ${vpc[key].length} subnet id(s) but availabilityZones has ${vpc.availabilityZones.length}; give one subnet per zone, in the same order`,
      );
    }
  }
  return vpc;
}
