import { AutoscalingGroup } from "@cdktf/provider-aws/lib/autoscaling-group";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import { Token } from "cdktf";
import { Construct } from "constructs";
import { egressDependencies } from "../network/egress";
import { AwsEnvironment } from "../aws-environment";
import { ROLE_TAG_KEY } from "../bootstrap/node-roles";
import { encodeUserData, renderBundle, renderUserData } from "../bootstrap/user-data";
import { bundleReadStatements, storeBundle } from "../node-artifacts";
import { GROUP_METRICS, autoScalingGroupAlarms } from "../observability/alarms";
import { logWriteStatements } from "../observability/logs";
import type { IKubernetesCluster } from "../cluster-reference";
import { ubuntuAmiParameter } from "../control-plane/control-plane";
import { ConfigError } from "../errors";
import { iamRoleName, resourceName } from "../naming";
import { clusterTags, stackDefaultTags } from "../tags";
import { resolveKubernetesVersion } from "../versions";
import { NodeGroupOptions, NodeGroupSettings, resolveNodeGroupSettings } from "./settings";
import { NodeRole } from "../node-role";
import { workerPolicies } from "./worker-policies";
import { NTH_MANAGED_TAG, TERMINATION_HOOK } from "../addons/node-termination-handler";
import { workerNode } from "./worker-user-data";

export interface NodeGroupProps extends NodeGroupOptions {
  /** The cluster to join, in this stack or another stack of the same app. */
  readonly cluster: IKubernetesCluster;
}

/** The launch hook every new worker completes once its Node is Ready. */
export const LAUNCH_HOOK_NAME = "node-ready";

/** Cluster-autoscaler tags: auto-discovery, plus node templates so it can scale a group up from zero. */
export function autoscalerTags(clusterName: string, settings: NodeGroupSettings): Record<string, string> {
  const tags: Record<string, string> = {
    "k8s.io/cluster-autoscaler/enabled": "true",
    [`k8s.io/cluster-autoscaler/${clusterName}`]: "owned",
  };
  for (const [key, value] of Object.entries(settings.labels)) tags[`k8s.io/cluster-autoscaler/node-template/label/${key}`] = value;
  for (const taint of settings.taints) tags[`k8s.io/cluster-autoscaler/node-template/taint/${taint.key}`] = `${taint.value}:${taint.effect}`;
  return tags;
}

/**
 * A group of worker nodes: one launch template and one Auto Scaling group over
 * the cluster's private subnets. New nodes join with the join token the
 * control plane keeps fresh in SSM, and only count as launched once Ready.
 */
export class NodeGroup extends Construct {
  readonly settings: NodeGroupSettings;
  readonly autoScalingGroupName: string;
  readonly roleArn: string;

  constructor(scope: Construct, id: string, props: NodeGroupProps) {
    super(scope, id);
    const settings = resolveNodeGroupSettings(props);
    const { cluster } = props;
    const clusterName = cluster.clusterName;
    const env = AwsEnvironment.of(this);
    if (settings.name === "control-plane") throw new ConfigError("name", '"control-plane" is reserved for the control plane\'s groups');
    const subnetIds = this.subnets(cluster, settings);
    const groupName = resourceName(clusterName, settings.name);
    const version = resolveKubernetesVersion(cluster.controlPlane.kubernetesVersion, "controlPlane.kubernetesVersion");
    const joinParameters = cluster.controlPlane.joinParameters;
    const bundlePrefix = `node-groups/${settings.name}`;
    const observability = cluster.services.observability;
    const role = new NodeRole(this, "role", {
      name: iamRoleName(clusterName, `nodes-${settings.name}`),
      description: `Kubernetes worker nodes of ${clusterName}, group ${settings.name}`,
      policies: {
        ...workerPolicies(env, {
          joinParameterNames: [joinParameters.token, joinParameters.caCertHash, joinParameters.kubernetesVersion],
          encryptionKeyArn: cluster.encryptionKey.keyArn,
          autoScalingGroupName: groupName,
          ecrRepositories: settings.ecrRepositories,
        }),
        "node-bundle": bundleReadStatements(env, cluster.services.nodeArtifacts, [bundlePrefix], cluster.encryptionKey.keyArn),
        ...(observability.logsEnabled ? { "ship-logs": logWriteStatements(env, clusterName, "worker") } : {}),
      },
    });
    const node = workerNode({
      clusterName,
      region: env.region,
      endpoint: cluster.controlPlane.endpoint,
      version,
      joinParameters,
      autoScalingGroupName: groupName,
      launchHookName: LAUNCH_HOOK_NAME,
      settings,
      logShipping: observability.logsEnabled,
    });
    const bundle = renderBundle(node, bundlePrefix);
    const bundleObject = storeBundle(this, "bundle", cluster.services.nodeArtifacts, bundle);
    const terminationHandling = cluster.services.terminationHandling;
    const instanceTags = {
      ...stackDefaultTags(clusterName),
      ...clusterTags(clusterName),
      [ROLE_TAG_KEY]: "worker",
      Name: groupName,
      // The node termination handler drains only instances with this tag.
      ...(terminationHandling ? { [NTH_MANAGED_TAG]: "true" } : {}),
    };
    const launchTemplate = new LaunchTemplate(this, "launch-template", {
      name: groupName,
      description: `Kubernetes ${version.minor} workers of ${clusterName}, group ${settings.name}`,
      imageId: settings.ami ?? `resolve:ssm:${ubuntuAmiParameter(settings.architecture)}`,
      instanceType: settings.instanceTypes[0],
      iamInstanceProfile: { arn: role.instanceProfileArn },
      vpcSecurityGroupIds: [cluster.controlPlane.workerSecurityGroupId],
      // IMDSv2 only; hop limit 1 keeps instance credentials away from pods.
      metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
      // A node that cannot bootstrap and cannot reach the Auto Scaling API powers itself off; it must not linger stopped.
      instanceInitiatedShutdownBehavior: "terminate",
      blockDeviceMappings: [
        {
          deviceName: "/dev/sda1",
          ebs: {
            volumeSize: settings.rootVolumeSizeGiB,
            volumeType: settings.rootVolumeType,
            encrypted: "true",
            kmsKeyId: cluster.encryptionKey.keyArn,
            deleteOnTermination: "true",
          },
        },
      ],
      userData: encodeUserData(renderUserData(node, bundle)),
      updateDefaultVersion: true,
      tagSpecifications: [
        { resourceType: "instance", tags: instanceTags },
        { resourceType: "volume", tags: instanceTags },
      ],
    });
    const groupTags = { ...instanceTags, ...autoscalerTags(clusterName, settings) };
    new AutoscalingGroup(this, "group", {
      name: groupName,
      minSize: settings.minSize,
      maxSize: settings.maxSize,
      desiredCapacity: settings.desiredSize,
      vpcZoneIdentifier: subnetIds,
      mixedInstancesPolicy: {
        launchTemplate: {
          launchTemplateSpecification: { launchTemplateId: launchTemplate.id, version: launchTemplate.latestVersion.toString() },
          override: settings.instanceTypes.map((instanceType) => ({ instanceType })),
        },
        instancesDistribution: {
          onDemandBaseCapacity: settings.capacity.onDemandBase,
          onDemandPercentageAboveBaseCapacity: settings.capacity.onDemandPercentageAboveBase,
          onDemandAllocationStrategy: "prioritized",
          spotAllocationStrategy: settings.capacity.spotAllocationStrategy,
        },
      },
      // Replace spot instances at risk before they are reclaimed.
      capacityRebalance: settings.usesSpot,
      healthCheckType: "EC2",
      healthCheckGracePeriod: 300,
      // A new node counts as launched only once it completes this hook (Ready), or is replaced (ABANDON, also on timeout).
      initialLifecycleHook: [
        { name: LAUNCH_HOOK_NAME, lifecycleTransition: "autoscaling:EC2_INSTANCE_LAUNCHING", defaultResult: "ABANDON", heartbeatTimeout: 3600 },
        // Scale-in, instance refresh and rebalancing wait while the termination handler drains the node.
        ...(terminationHandling
          ? [{ name: TERMINATION_HOOK.name, lifecycleTransition: "autoscaling:EC2_INSTANCE_TERMINATING", defaultResult: "CONTINUE", heartbeatTimeout: TERMINATION_HOOK.heartbeatTimeout }]
          : []),
      ],
      instanceRefresh: {
        strategy: "Rolling",
        preferences: { minHealthyPercentage: settings.instanceRefresh.minHealthyPercentage, instanceWarmup: String(settings.instanceRefresh.instanceWarmupSeconds) },
      },
      waitForCapacityTimeout: "40m",
      enabledMetrics: GROUP_METRICS,
      tag: Object.entries(groupTags).map(([key, value]) => ({ key, value, propagateAtLaunch: false })),
      // The cluster autoscaler owns the desired size once the group exists.
      lifecycle: { ignoreChanges: ["desired_capacity"] },
      // A booting node downloads packages through the network's egress first, then fetches its bundle.
      dependsOn: [...egressDependencies(this, cluster.network), bundleObject],
    });
    if (observability.alarmTopicArn) autoScalingGroupAlarms(this, { clusterName, topicArn: observability.alarmTopicArn }, groupName);
    this.settings = settings;
    this.autoScalingGroupName = groupName;
    this.roleArn = role.roleArn;
  }

  private subnets(cluster: IKubernetesCluster, settings: NodeGroupSettings): string[] {
    const zones = cluster.network.availabilityZones;
    if (!settings.availabilityZones) return cluster.network.privateSubnetIds;
    return settings.availabilityZones.map((zone) => {
      const index = zones.indexOf(zone);
      if (index < 0 || zones.some((z) => Token.isUnresolved(z))) {
        throw new ConfigError(`nodeGroups[${settings.name}].availabilityZones`, `${JSON.stringify(zone)} is not one of the network's zones (${zones.join(", ")})`);
      }
      return cluster.network.privateSubnetIds[index];
    });
  }
}
