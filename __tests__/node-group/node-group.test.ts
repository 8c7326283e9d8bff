import { TerraformStack } from "cdktf";
import { untarGz } from "../helpers/bundle";
import { KubernetesCluster } from "../../lib/cluster";
import { NodeGroupOptions } from "../../lib/node-group/settings";
import { Synthesized, synthStack } from "../helpers/synth";
import { validateKubernetesConfig } from "../helpers/kube-schema";

const ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];

function synthCluster(nodeGroups?: NodeGroupOptions[]): Synthesized {
  return synthStack((stack: TerraformStack) => new KubernetesCluster(stack, "cluster", { clusterName: "prod", network: { availabilityZones: ZONES }, nodeGroups }));
}

const workerGroup = (synth: Synthesized, name = "prod-general") => synth.resources("aws_autoscaling_group").find((g) => g.values.name === name)!.values;
const workerTemplate = (synth: Synthesized, name = "prod-general") => synth.resources("aws_launch_template").find((t) => t.values.name === name)!.values;

describe("NodeGroup", () => {
  const synth = synthCluster([
    {
      name: "general",
      instanceTypes: ["m7i.large", "m6i.large"],
      minSize: 0,
      maxSize: 6,
      labels: { team: "data" },
      taints: [{ key: "dedicated", value: "data", effect: "NoSchedule" }],
      capacity: { onDemandBase: 1, onDemandPercentageAboveBase: 25 },
      availabilityZones: ["eu-west-1a", "eu-west-1c"],
    },
  ]);
  const group = workerGroup(synth);
  const tags = Object.fromEntries(group.tag.map((t: any) => [t.key, t.value]));

  it("spreads over the chosen zones' private subnets", () => {
    const subnets = synth.resources("aws_subnet").filter((s) => s.values.tags["kubernetes.io/role/internal-elb"]);
    const zoneOf = (ref: string) => subnets.find((s) => ref.includes(`.${s.name}.`))!.values.availability_zone;
    expect(group.vpc_zone_identifier.map(zoneOf)).toEqual(["eu-west-1a", "eu-west-1c"]);
  });

  it("mixes on-demand and spot capacity through a mixed instances policy with capacity rebalancing", () => {
    expect(group.mixed_instances_policy.instances_distribution).toEqual({
      on_demand_base_capacity: 1,
      on_demand_percentage_above_base_capacity: 25,
      on_demand_allocation_strategy: "prioritized",
      spot_allocation_strategy: "price-capacity-optimized",
    });
    expect(group.mixed_instances_policy.launch_template.override).toEqual([{ instance_type: "m7i.large" }, { instance_type: "m6i.large" }]);
    expect(group.capacity_rebalance).toBe(true);
  });

  it("leaves the desired size to the cluster autoscaler", () => {
    expect(group.lifecycle).toEqual({ ignore_changes: ["desired_capacity"] });
  });

  it("carries the autoscaler's discovery and node-template tags", () => {
    expect(tags).toMatchObject({
      "k8s.io/cluster-autoscaler/enabled": "true",
      "k8s.io/cluster-autoscaler/prod": "owned",
      "k8s.io/cluster-autoscaler/node-template/label/team": "data",
      "k8s.io/cluster-autoscaler/node-template/label/kubeadm-aws/node-group": "general",
      "k8s.io/cluster-autoscaler/node-template/taint/dedicated": "data:NoSchedule",
      "kubernetes.io/cluster/prod": "owned",
    });
  });

  it("holds new nodes in a launch hook that abandons them unless they report Ready, and leaving ones while they drain", () => {
    expect(group.initial_lifecycle_hook).toEqual([
      { name: "node-ready", lifecycle_transition: "autoscaling:EC2_INSTANCE_LAUNCHING", default_result: "ABANDON", heartbeat_timeout: 3600 },
      { name: "node-termination", lifecycle_transition: "autoscaling:EC2_INSTANCE_TERMINATING", default_result: "CONTINUE", heartbeat_timeout: 300 },
    ]);
  });

  it("rolls launch-template changes through instance refresh", () => {
    expect(group.instance_refresh).toEqual({ strategy: "Rolling", preferences: { min_healthy_percentage: 90, instance_warmup: "300" } });
  });

  it("requires IMDSv2, encrypts the root volume with the cluster key and sets no key pair", () => {
    const template = workerTemplate(synth);
    expect(template.metadata_options).toEqual({ http_endpoint: "enabled", http_tokens: "required", http_put_response_hop_limit: 1 });
    expect(template.block_device_mappings[0].ebs).toMatchObject({ encrypted: "true", volume_type: "gp3" });
    expect(template.block_device_mappings[0].ebs.kms_key_id).toMatch(/aws_kms_key\.cluster_key_.*\.arn/);
    expect(template.key_name).toBeUndefined();
    expect(template.tag_specifications[0].tags).toMatchObject({ "kubernetes.io/cluster/prod": "owned", "kubeadm-aws/role": "worker" });
  });

  it("renders a join config and kubelet patch that match the upstream types, with the group's labels and taints", () => {
    const object = synth.resources("aws_s3_object").find((o) => o.values.key.startsWith("node-groups/general/"))!;
    const bundle = untarGz(Buffer.from(object.values.content_base64, "base64"));
    const join = bundle["/etc/kubeadm-aws/kubeadm/join.yaml"];
    const filled = join.replace("${JOIN_TOKEN}", "abcdef.0123456789abcdef").replace("${CA_CERT_HASH}", `sha256:${"a".repeat(64)}`);
    expect(validateKubernetesConfig(filled)).toEqual([]);
    expect(join).toContain("kubeadm-aws/node-group=general,team=data");
    const patch = bundle["/etc/kubeadm-aws/kubeadm/patches/kubeletconfiguration+merge.yaml"];
    expect(validateKubernetesConfig(patch)).toEqual([]);
    expect(patch).toContain("maxPods: 110");
  });

  it("gives workers only Session Manager, the join parameters, their bundle, their logs and their own launch hook", () => {
    const policies = synth.resources("aws_iam_role_policy").filter((p) => p.values.role.includes("node-group-general"));
    expect(policies.map((p) => p.values.name).sort()).toEqual(["join-cluster", "node-bundle", "session-manager", "ship-logs"]);
    const text = policies.map((p) => p.values.policy).join("\n");
    expect(text).not.toMatch(/secretsmanager|ssm:PutParameter|elasticloadbalancing|ec2:Create|ec2:Authorize/);
    const join = JSON.parse(policies.find((p) => p.values.name === "join-cluster")!.values.policy).Statement;
    expect(join[0].Resource).toEqual([
      "arn:aws:ssm:eu-west-1:111122223333:parameter/k8s/prod/join/token",
      "arn:aws:ssm:eu-west-1:111122223333:parameter/k8s/prod/join/ca-cert-hash",
      "arn:aws:ssm:eu-west-1:111122223333:parameter/k8s/prod/join/kubernetes-version",
    ]);
    // Its own group's launch hook: completed, or kept alive while a worker of a new minor waits for the control plane.
    expect(join[2]).toMatchObject({
      Action: ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"],
      Resource: "arn:aws:autoscaling:eu-west-1:111122223333:autoScalingGroup:*:autoScalingGroupName/prod-general",
    });
  });

  it("lets workers pull only from the private ECR repositories their group names", () => {
    const named = synthCluster([{ name: "general", instanceTypes: ["m7i.large"], minSize: 0, maxSize: 1, ecrRepositories: ["team-a/*", "base-images"] }]);
    const pull = JSON.parse(named.resources("aws_iam_role_policy").find((p) => p.values.name === "ecr-pull")!.values.policy).Statement;
    expect(pull[1]).toEqual({
      Sid: "EcrPull",
      Effect: "Allow",
      Action: ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
      Resource: ["arn:aws:ecr:eu-west-1:111122223333:repository/team-a/*", "arn:aws:ecr:eu-west-1:111122223333:repository/base-images"],
    });
  });

  it.each(["*", "Team-A", "team-a/**", ""])("rejects the ECR repository pattern %j", (repository) => {
    expect(() => synthCluster([{ name: "x", instanceTypes: ["m7i.large"], minSize: 0, maxSize: 1, ecrRepositories: [repository] }])).toThrow(
      `nodeGroups[x].ecrRepositories: ${JSON.stringify(repository)} is not an ECR repository name or a prefix such as "team-a/*"`,
    );
  });

  it("rejects a zone the network does not have", () => {
    expect(() => synthCluster([{ name: "x", instanceTypes: ["m7i.large"], minSize: 0, maxSize: 1, availabilityZones: ["eu-west-1d"] }])).toThrow(
      'nodeGroups[x].availabilityZones: "eu-west-1d" is not one of the network\'s zones (eu-west-1a, eu-west-1b, eu-west-1c)',
    );
  });

  it("rejects two groups with the same name", () => {
    const twice = { name: "x", instanceTypes: ["m7i.large"], minSize: 0, maxSize: 1 };
    expect(() => synthCluster([twice, twice])).toThrow('nodeGroups: two node groups are named "x"; names must be unique');
  });
});

describe("KubernetesCluster", () => {
  const synth = synthCluster();

  it("defaults to 3 control-plane nodes and one general worker group of 3", () => {
    const groups = synth.resources("aws_autoscaling_group").map((g) => [g.values.name, g.values.min_size, g.values.max_size]);
    expect(groups).toEqual([
      // A second instance only while a minor upgrade's successor joins.
      ["prod-control-plane-0", 1, 2],
      ["prod-control-plane-1", 1, 2],
      ["prod-control-plane-2", 1, 2],
      ["prod-general", 3, 12],
    ]);
  });

  it("puts workers in the shared worker security group", () => {
    const workerGroupRef = synth.resources("aws_security_group").find((g) => g.values.name === "prod-nodes")!;
    expect(workerTemplate(synth).vpc_security_group_ids).toEqual([Synthesized.ref("aws_security_group", workerGroupRef)]);
  });
});
