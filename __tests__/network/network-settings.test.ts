import { resolveNetworkSettings } from "../../lib/network/network-settings";

const ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];

describe("resolveNetworkSettings", () => {
  it("defaults to a /16 over 3 zones with a NAT gateway per zone and flow logs on", () => {
    const settings = resolveNetworkSettings("prod", { availabilityZones: ZONES });
    expect(settings).toMatchObject({
      kind: "created",
      vpcCidr: "10.0.0.0/16",
      azCount: 3,
      natGateways: "perAz",
      interfaceEndpoints: [],
      flowLogs: { retentionDays: 90, trafficType: "ALL" },
    });
  });

  it.each([
    ["a cluster name that is not a DNS-1123 label", "Prod_1", {}, 'clusterName: cluster name "Prod_1" must be a DNS-1123 label'],
    ["a cluster name too long for AWS names", "a".repeat(21), {}, "clusterName: cluster name \"aaaaaaaaaaaaaaaaaaaaa\" has 21 characters; at most 20"],
    ["a malformed CIDR", "prod", { vpcCidr: "10.0.0.0/33" }, 'vpcCidr: "10.0.0.0/33" is not an IPv4 CIDR'],
    ["a VPC too small", "prod", { vpcCidr: "10.0.0.0/24" }, 'vpcCidr: "10.0.0.0/24" is too small for 3 availability zone(s)'],
    ["zero zones", "prod", { availabilityZones: [] }, "availabilityZones: must list at least one availability zone"],
    ["duplicate zones", "prod", { availabilityZones: ["eu-west-1a", "eu-west-1a"] }, "availabilityZones: lists eu-west-1a twice"],
    ["a zone that is not a zone name", "prod", { availabilityZones: ["eu-west-1"] }, 'availabilityZones: "eu-west-1" is not an availability zone name'],
    ["zones and a zone count together", "prod", { availabilityZones: ZONES, azCount: 3 }, "azCount: give either availabilityZones or azCount, not both"],
    ["a zero zone count", "prod", { azCount: 0 }, "azCount: 0 is not allowed; use a whole number from 1 to 6"],
    ["an unknown NAT mode", "prod", { natGateways: "many" }, 'natGateways: "many" is not one of "perAz", "single"'],
    // Nodes bootstrap from the internet; with every interface endpoint they still could not.
    ["no NAT, even with every endpoint", "prod", { natGateways: "none", interfaceEndpoints: ["ssm", "ssmmessages", "ec2messages"] }, 'natGateways: "none" is not supported: nodes download from the internet while they boot (the Ubuntu archive, the Snap Store, pkgs.k8s.io, registry.k8s.io, GitHub, get.helm.sh), which no VPC endpoint serves; use "single"'],
    ["an unknown endpoint", "prod", { interfaceEndpoints: ["dynamodb"] }, 'interfaceEndpoints: "dynamodb" is not supported; allowed: ssm,'],
    ["a retention CloudWatch rejects", "prod", { flowLogs: { retentionDays: 100 } }, "flowLogs.retentionDays: 100 is not a CloudWatch Logs retention period; allowed: 1, 3, 5"],
    ["an unknown traffic type", "prod", { flowLogs: { trafficType: "SOME" } }, 'flowLogs.trafficType: "SOME" is not one of "ALL", "ACCEPT", "REJECT"'],
  ])("rejects %s", (_, name, options, message) => {
    expect(() => resolveNetworkSettings(name, options as any)).toThrow(message);
  });

  describe("adopting an existing VPC", () => {
    const existingVpc = { vpcId: "vpc-1", vpcCidr: "10.1.0.0/16", availabilityZones: ZONES, publicSubnetIds: ["a", "b", "c"], privateSubnetIds: ["d", "e", "f"] };

    it("takes the VPC as it is", () => {
      expect(resolveNetworkSettings("prod", { existingVpc })).toEqual({ kind: "adopted", vpc: existingVpc });
    });

    it("rejects options that only apply to a created VPC", () => {
      expect(() => resolveNetworkSettings("prod", { existingVpc, natGateways: "single" })).toThrow("natGateways: cannot be combined with existingVpc");
    });

    it("rejects subnet lists that do not match the zones", () => {
      expect(() => resolveNetworkSettings("prod", { existingVpc: { ...existingVpc, privateSubnetIds: ["d"] } })).toThrow(
        "existingVpc.privateSubnetIds: has 1 subnet id(s) but availabilityZones has 3",
      );
    });

    it("rejects a malformed CIDR", () => {
      expect(() => resolveNetworkSettings("prod", { existingVpc: { ...existingVpc, vpcCidr: "10.1.0.0" } })).toThrow("existingVpc.vpcCidr:");
    });
  });
});
