import { ConfigError } from "../errors";
import { formatCidr, parseCidr, subBlock } from "./cidr";

/** AWS accepts VPC CIDRs from /16 to /28. */
export const VPC_PREFIX_RANGE = { min: 16, max: 28 } as const;
/** Nodes live in private subnets; fewer than 256 addresses per AZ is too tight for a cluster. */
export const MAX_PRIVATE_SUBNET_PREFIX = 24;
/** No AWS region has more than 6 zones a VPC can use. */
export const MAX_AVAILABILITY_ZONES = 6;

export interface SubnetLayout {
  /** Private ("node") subnet CIDR per AZ, in AZ order. */
  readonly privateCidrs: string[];
  /** Public ("utility") subnet CIDR per AZ, for load balancers and NAT gateways. */
  readonly publicCidrs: string[];
}

/**
 * Splits a VPC CIDR into one private and one public subnet per AZ.
 *
 * Private subnets take equal blocks from the start of the VPC, sized so that
 * twice as many would fit: half of the VPC stays free for growth (another AZ,
 * a new subnet tier). Public subnets need few addresses (NAT gateways and load
 * balancer interfaces), so each is an eighth of a private one, packed into the
 * first free private-sized block. For 10.0.0.0/16 over 3 AZs that gives
 * 3 x /19 private and 3 x /22 public subnets.
 */
export function planSubnets(vpcCidr: string, azCount: number, property = "vpcCidr"): SubnetLayout {
  const vpc = parseCidr(vpcCidr, property);
  if (vpc.prefix < VPC_PREFIX_RANGE.min || vpc.prefix > VPC_PREFIX_RANGE.max) {
    throw new ConfigError(
      property,
      `${JSON.stringify(vpcCidr)} has prefix /${vpc.prefix}; AWS accepts VPC CIDRs from /${VPC_PREFIX_RANGE.min} to /${VPC_PREFIX_RANGE.max}`,
    );
  }
  if (!Number.isInteger(azCount) || azCount < 1 || azCount > MAX_AVAILABILITY_ZONES) {
    throw new RangeError(`azCount must be an integer from 1 to ${MAX_AVAILABILITY_ZONES}, got ${azCount}`);
  }
  const privatePrefix = vpc.prefix + Math.ceil(Math.log2(azCount)) + 1;
  if (privatePrefix > MAX_PRIVATE_SUBNET_PREFIX) {
    const largestPrefix = MAX_PRIVATE_SUBNET_PREFIX - (privatePrefix - vpc.prefix);
    throw new ConfigError(
      property,
      `${JSON.stringify(vpcCidr)} is too small for ${azCount} availability zone(s): each private subnet would be /${privatePrefix}, and nodes need at least a /${MAX_PRIVATE_SUBNET_PREFIX}; use a /${largestPrefix} or larger`,
    );
  }
  const publicPrefix = privatePrefix + 3;
  const publicPool = subBlock(vpc, privatePrefix, azCount);
  const zones = [...Array(azCount).keys()];
  return {
    privateCidrs: zones.map((i) => formatCidr(subBlock(vpc, privatePrefix, i))),
    publicCidrs: zones.map((i) => formatCidr(subBlock(publicPool, publicPrefix, i))),
  };
}
