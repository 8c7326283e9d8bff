import { ConfigError } from "../../lib/errors";
import { cidrsOverlap, parseCidr } from "../../lib/network/cidr";
import { planSubnets } from "../../lib/network/subnet-layout";

describe("parseCidr", () => {
  it("parses a network in CIDR notation", () => {
    expect(parseCidr("10.1.0.0/16", "vpcCidr")).toEqual({ network: 10 * 2 ** 24 + 1 * 2 ** 16, prefix: 16 });
  });

  it.each(["10.0.0.0", "10.0.0/16", "300.0.0.0/16", "10.0.0.0/33", "ten/8", " 10.0.0.0/16"])("rejects %j, naming the property", (text) => {
    expect(() => parseCidr(text, "vpcCidr")).toThrow(`vpcCidr: ${JSON.stringify(text)} is not an IPv4 CIDR`);
  });

  it("rejects host bits and suggests the network address", () => {
    expect(() => parseCidr("10.0.1.0/16", "vpcCidr")).toThrow(/host bits set; the network address of a \/16 there is 10\.0\.0\.0\/16/);
  });

  it("detects overlap and adjacency correctly", () => {
    const p = (text: string) => parseCidr(text, "x");
    expect(cidrsOverlap(p("10.0.0.0/16"), p("10.0.128.0/17"))).toBe(true);
    expect(cidrsOverlap(p("10.0.0.0/17"), p("10.0.128.0/17"))).toBe(false);
    expect(cidrsOverlap(p("192.168.0.0/16"), p("10.0.0.0/8"))).toBe(false);
  });
});

describe("planSubnets", () => {
  it("gives 3 private /19 and 3 public /22 subnets for a /16 over 3 zones", () => {
    expect(planSubnets("10.0.0.0/16", 3)).toEqual({
      privateCidrs: ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"],
      publicCidrs: ["10.0.96.0/22", "10.0.100.0/22", "10.0.104.0/22"],
    });
  });

  it.each([
    ["10.0.0.0/16", 1],
    ["10.0.0.0/16", 2],
    ["172.16.0.0/20", 4],
    ["10.10.0.0/18", 6],
    ["10.0.0.0/21", 3],
  ])("keeps the subnets of %s over %i zones inside the VPC and disjoint", (vpcCidr, zones) => {
    const layout = planSubnets(vpcCidr, zones);
    const all = [...layout.privateCidrs, ...layout.publicCidrs].map((c) => parseCidr(c, "subnet"));
    const vpc = parseCidr(vpcCidr, "vpc");
    expect(all).toHaveLength(2 * zones);
    for (const [i, a] of all.entries()) {
      expect(a.network).toBeGreaterThanOrEqual(vpc.network);
      expect(a.network + 2 ** (32 - a.prefix)).toBeLessThanOrEqual(vpc.network + 2 ** (32 - vpc.prefix));
      for (const b of all.slice(i + 1)) expect(cidrsOverlap(a, b)).toBe(false);
    }
    for (const c of layout.privateCidrs) expect(parseCidr(c, "private").prefix).toBeLessThanOrEqual(24);
  });

  it("rejects a VPC too small for the subnets and names the largest prefix that fits", () => {
    expect(() => planSubnets("10.0.0.0/22", 3)).toThrow(
      new ConfigError("vpcCidr", '"10.0.0.0/22" is too small for 3 availability zone(s): each private subnet would be /25, and nodes need at least a /24; use a /21 or larger'),
    );
  });

  it("rejects prefixes AWS does not accept for a VPC", () => {
    expect(() => planSubnets("10.0.0.0/8", 3)).toThrow("vpcCidr: \"10.0.0.0/8\" has prefix /8; AWS accepts VPC CIDRs from /16 to /28");
  });
});
