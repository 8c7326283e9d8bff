import { TerraformStack } from "cdktf";
import { ClusterKey } from "../../lib/cluster-key";
import { ClusterNetwork, ClusterNetworkProps } from "../../lib/network/cluster-network";
import { INTERFACE_ENDPOINT_SERVICES } from "../../lib/network/endpoints";
import { Synthesized, synthStack } from "../helpers/synth";

const ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];

function synthNetwork(props: Partial<ClusterNetworkProps> = {}): Synthesized {
  return synthStack((stack: TerraformStack) => {
    const key = new ClusterKey(stack, "key", { clusterName: "prod" });
    new ClusterNetwork(stack, "network", { clusterName: "prod", availabilityZones: ZONES, encryptionKey: key, ...props });
  });
}

describe("ClusterNetwork", () => {
  describe("by default", () => {
    const synth = synthNetwork();

    it("creates a VPC with DNS hostnames, tagged for the cluster", () => {
      expect(synth.only("aws_vpc").values).toMatchObject({
        cidr_block: "10.0.0.0/16",
        enable_dns_hostnames: true,
        enable_dns_support: true,
        tags: { "kubernetes.io/cluster/prod": "owned" },
      });
    });

    it("creates a public and a private subnet per zone with the computed CIDRs and the load-balancer role tags", () => {
      const subnets = synth.resources("aws_subnet").map((s) => s.values);
      const byRole = (tag: string) => subnets.filter((s) => s.tags[tag] === "1").map((s) => [s.availability_zone, s.cidr_block]);
      expect(byRole("kubernetes.io/role/internal-elb")).toEqual([
        ["eu-west-1a", "10.0.0.0/19"],
        ["eu-west-1b", "10.0.32.0/19"],
        ["eu-west-1c", "10.0.64.0/19"],
      ]);
      expect(byRole("kubernetes.io/role/elb")).toEqual([
        ["eu-west-1a", "10.0.96.0/22"],
        ["eu-west-1b", "10.0.100.0/22"],
        ["eu-west-1c", "10.0.104.0/22"],
      ]);
      for (const subnet of subnets) {
        expect(subnet.tags["kubernetes.io/cluster/prod"]).toBe("owned");
        expect(subnet.map_public_ip_on_launch ?? false).toBe(false);
      }
    });

    it("routes each private subnet through the NAT gateway of its own zone", () => {
      const nats = synth.resources("aws_nat_gateway");
      expect(nats).toHaveLength(3);
      const privateRoutes = synth.resources("aws_route").filter((r) => r.values.nat_gateway_id);
      expect(privateRoutes.map((r) => r.values.destination_cidr_block)).toEqual(["0.0.0.0/0", "0.0.0.0/0", "0.0.0.0/0"]);
      expect(new Set(privateRoutes.map((r) => r.values.nat_gateway_id)).size).toBe(3);
      for (const zone of ZONES) {
        const nat = nats.find((n) => n.path.endsWith(`nat-${zone}`))!;
        const route = synth.resources("aws_route").find((r) => r.path.endsWith(`private-${zone}-default-route`))!;
        expect(route.values.nat_gateway_id).toBe(Synthesized.ref("aws_nat_gateway", nat));
      }
    });

    it("gives the public route table the only internet gateway route", () => {
      const igwRoutes = synth.resources("aws_route").filter((r) => r.values.gateway_id);
      expect(igwRoutes).toHaveLength(1);
      expect(igwRoutes[0].path).toMatch(/public-default-route$/);
    });

    it("adds the S3 gateway endpoint to every route table", () => {
      const endpoint = synth.only("aws_vpc_endpoint").values;
      expect(endpoint).toMatchObject({ service_name: "com.amazonaws.eu-west-1.s3", vpc_endpoint_type: "Gateway" });
      expect(endpoint.route_table_ids).toHaveLength(4);
    });

    it("sends flow logs to a KMS-encrypted log group with retention", () => {
      const group = synth.only("aws_cloudwatch_log_group").values;
      expect(group).toMatchObject({ name: "/k8s/prod/vpc-flow-logs", retention_in_days: 90 });
      expect(group.kms_key_id).toMatch(/^\$\{aws_kms_key\.key_.*\.arn\}$/);
      expect(synth.only("aws_flow_log").values).toMatchObject({ traffic_type: "ALL", log_destination_type: "cloud-watch-logs" });
    });

    it("lets only the flow-log service of this account assume the flow-log role", () => {
      const trust = JSON.parse(synth.only("aws_iam_role").values.assume_role_policy);
      expect(trust.Statement).toEqual([
        {
          Effect: "Allow",
          Principal: { Service: "vpc-flow-logs.amazonaws.com" },
          Action: "sts:AssumeRole",
          Condition: { StringEquals: { "aws:SourceAccount": "111122223333" } },
        },
      ]);
      const policy = JSON.parse(synth.only("aws_iam_role_policy").values.policy);
      expect(policy.Statement[0].Resource).toEqual([expect.stringMatching(/aws_cloudwatch_log_group\..*\.arn/), expect.stringMatching(/\.arn\}:\*$/)]);
    });

    it("strips the default security group of every rule", () => {
      expect(synth.only("aws_default_security_group").values).toMatchObject({ ingress: [], egress: [] });
    });

    it("needs no AWS lookup when zones are given", () => {
      expect(synth.dataSources("aws_availability_zones")).toEqual([]);
    });
  });

  it("shares one NAT gateway in single mode", () => {
    const synth = synthNetwork({ natGateways: "single" });
    expect(synth.resources("aws_nat_gateway")).toHaveLength(1);
    const routes = synth.resources("aws_route").filter((r) => r.values.nat_gateway_id);
    expect(routes).toHaveLength(3);
    expect(new Set(routes.map((r) => r.values.nat_gateway_id)).size).toBe(1);
  });

  it("creates interface endpoints that admit only the VPC", () => {
    const synth = synthNetwork({ interfaceEndpoints: [...INTERFACE_ENDPOINT_SERVICES] });
    const interfaces = synth.resources("aws_vpc_endpoint").filter((e) => e.values.vpc_endpoint_type === "Interface");
    expect(interfaces.map((e) => e.values.service_name).sort()).toEqual(INTERFACE_ENDPOINT_SERVICES.map((s) => `com.amazonaws.eu-west-1.${s}`).sort());
    for (const endpoint of interfaces) {
      expect(endpoint.values.private_dns_enabled).toBe(true);
      expect(endpoint.values.subnet_ids).toHaveLength(3);
    }
    const rules = synth.resources("aws_vpc_security_group_ingress_rule").map((r) => r.values);
    expect(rules).toEqual([expect.objectContaining({ cidr_ipv4: "10.0.0.0/16", from_port: 443, to_port: 443, ip_protocol: "tcp" })]);
    expect(synth.resources("aws_vpc_security_group_egress_rule")).toHaveLength(0);
  });

  it("can turn flow logs off", () => {
    const synth = synthNetwork({ flowLogs: { enabled: false } });
    expect(synth.resources("aws_flow_log")).toHaveLength(0);
    expect(synth.resources("aws_cloudwatch_log_group")).toHaveLength(0);
  });

  it("looks zones up when none are given, and numbers its resources", () => {
    const synth = synthStack((stack) => new ClusterNetwork(stack, "network", { clusterName: "prod", azCount: 2 }));
    expect(synth.dataSources("aws_availability_zones")).toHaveLength(1);
    const subnets = synth.resources("aws_subnet");
    expect(subnets.map((s) => s.path.split("/").pop()).sort()).toEqual(["private-az0", "private-az1", "public-az0", "public-az1"]);
    expect(subnets[0].values.availability_zone).toMatch(/element\(data\.aws_availability_zones\..*\.names, [01]\)/);
  });

  it("creates its own key when none is given", () => {
    const synth = synthStack((stack) => new ClusterNetwork(stack, "network", { clusterName: "prod", availabilityZones: ZONES }));
    expect(synth.only("aws_kms_key").values.enable_key_rotation).toBe(true);
  });

  it("adopts an existing VPC by tagging its subnets shared, creating nothing else", () => {
    let network!: ClusterNetwork;
    const synth = synthStack((stack) => {
      network = new ClusterNetwork(stack, "network", {
        clusterName: "prod",
        existingVpc: { vpcId: "vpc-1", vpcCidr: "10.1.0.0/16", availabilityZones: ["eu-west-1a", "eu-west-1b"], publicSubnetIds: ["subnet-p1", "subnet-p2"], privateSubnetIds: ["subnet-q1", "subnet-q2"] },
      });
    });
    expect(Object.keys(synth.json.resource)).toEqual(["aws_ec2_tag"]);
    expect(synth.resources("aws_ec2_tag").map((t) => t.values)).toEqual(
      ["subnet-p1", "subnet-p2", "subnet-q1", "subnet-q2"].map((id) => ({ resource_id: id, key: "kubernetes.io/cluster/prod", value: "shared", "//": expect.anything() })),
    );
    expect(network.privateSubnetIds).toEqual(["subnet-q1", "subnet-q2"]);
    expect(network.vpcId).toBe("vpc-1");
  });
});
