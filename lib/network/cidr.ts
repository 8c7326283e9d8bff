import { ConfigError } from "../errors";

/** An IPv4 network in CIDR form, as numbers so it can be split and compared. */
export interface Ipv4Cidr {
  /** The network address as an unsigned 32-bit integer. */
  readonly network: number;
  /** The prefix length, 0 to 32. */
  readonly prefix: number;
}

const CIDR_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** Parses `a.b.c.d/n`; rejects malformed text and host bits set beyond the prefix. */
export function parseCidr(text: string, property: string): Ipv4Cidr {
  const match = CIDR_PATTERN.exec(text);
  const octets = match ? match.slice(1, 5).map(Number) : [];
  const prefix = match ? Number(match[5]) : NaN;
  if (!match || octets.some((o) => o > 255) || prefix > 32) {
    throw new ConfigError(property, `${JSON.stringify(text)} is not an IPv4 CIDR; expected a.b.c.d/n, for example "10.0.0.0/16"`);
  }
  const address = octets.reduce((acc, octet) => acc * 256 + octet, 0);
  const network = address - (address % blockSize(prefix));
  if (network !== address) {
    throw new ConfigError(
      property,
      `${JSON.stringify(text)} has host bits set; the network address of a /${prefix} there is ${formatCidr({ network, prefix })}`,
    );
  }
  return { network, prefix };
}

export function formatCidr(cidr: Ipv4Cidr): string {
  const octets = [24, 16, 8, 0].map((shift) => Math.floor(cidr.network / 2 ** shift) % 256);
  return `${octets.join(".")}/${cidr.prefix}`;
}

/** Number of addresses in a block of the given prefix length. */
export function blockSize(prefix: number): number {
  return 2 ** (32 - prefix);
}

export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return a.network < b.network + blockSize(b.prefix) && b.network < a.network + blockSize(a.prefix);
}

/** The `index`-th block of length `prefix` inside `parent`. */
export function subBlock(parent: Ipv4Cidr, prefix: number, index: number): Ipv4Cidr {
  const network = parent.network + index * blockSize(prefix);
  if (prefix < parent.prefix || network + blockSize(prefix) > parent.network + blockSize(parent.prefix)) {
    throw new RangeError(`block ${index} of /${prefix} lies outside ${formatCidr(parent)}`);
  }
  return { network, prefix };
}
