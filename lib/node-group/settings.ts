import { ConfigError } from "../errors";
import { Architecture, parseInstanceType } from "../instance-types";

export type TaintEffect = "NoSchedule" | "PreferNoSchedule" | "NoExecute";
export const TAINT_EFFECTS: TaintEffect[] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];
export const SPOT_ALLOCATION_STRATEGIES = ["price-capacity-optimized", "capacity-optimized", "capacity-optimized-prioritized", "lowest-price"] as const;
export type SpotAllocationStrategy = (typeof SPOT_ALLOCATION_STRATEGIES)[number];

export interface NodeTaint {
  /** The taint's key, a Kubernetes label key. */
  readonly key: string;
  /** The taint's value. @default "" */
  readonly value?: string;
  /** What happens to pods that do not tolerate it. */
  readonly effect: TaintEffect;
}

/** Kubelet settings for one group, patched over the cluster's kubelet configuration at join. */
export interface KubeletOptions {
  /** Resources kept for the operating system's daemons. @default { cpu: "100m", memory: "256Mi", "ephemeral-storage": "1Gi" } */
  readonly systemReserved?: Record<string, string>;
  /** Resources kept for the kubelet and the container runtime. @default { cpu: "100m", memory: "512Mi", "ephemeral-storage": "1Gi" } */
  readonly kubeReserved?: Record<string, string>;
  /** Thresholds below which the kubelet evicts pods at once. @default { "memory.available": "200Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%", "imagefs.available": "15%" } */
  readonly evictionHard?: Record<string, string>;
  /** Pods per node (10 to 250). @default 110 */
  readonly maxPods?: number;
}

export interface CapacityOptions {
  /** On-demand instances before any spot. @default 0 */
  readonly onDemandBase?: number;
  /** Share of on-demand above the base, 0 to 100. @default 100 - no spot */
  readonly onDemandPercentageAboveBase?: number;
  /** How EC2 picks spot capacity among the instance types. @default "price-capacity-optimized" */
  readonly spotAllocationStrategy?: SpotAllocationStrategy;
}

export interface NodeGroupOptions {
  /** DNS-1123 label, at most 20 characters, unique in the cluster. */
  readonly name: string;
  /** Instance types the group may launch, in priority order. All must share one CPU architecture. */
  readonly instanceTypes: string[];
  /** The group's minimum size, which the cluster autoscaler never goes below. */
  readonly minSize: number;
  /** The group's maximum size, which the cluster autoscaler never goes above (at least 1). */
  readonly maxSize: number;
  /** The size at creation. @default minSize; afterwards the cluster autoscaler owns it */
  readonly desiredSize?: number;
  /** Zones to use, a subset of the network's. @default - all of them */
  readonly availabilityZones?: string[];
  /** The mix of on-demand and spot instances. @default - on-demand only */
  readonly capacity?: CapacityOptions;
  /** Size of each node's encrypted root volume (20 to 16384). @default 50 */
  readonly rootVolumeSizeGiB?: number;
  /** The root volume's EBS type. @default "gp3" */
  readonly rootVolumeType?: "gp3" | "gp2" | "io1" | "io2";
  /** Node labels set at registration. @default - none besides kubeadm-aws/node-group */
  readonly labels?: Record<string, string>;
  /** Node taints set at registration. @default - none */
  readonly taints?: NodeTaint[];
  /** Kubelet settings of this group. @default - see KubeletOptions */
  readonly kubelet?: KubeletOptions;
  /** An explicit AMI id (Ubuntu 24.04 based). Pin one to control when nodes change. @default - the newest Ubuntu 24.04 LTS, resolved by EC2 at each launch */
  readonly ami?: string;
  /** Rolling replacement when the launch template changes. @default 90% healthy, 300 s warm-up */
  readonly instanceRefresh?: {
    /** Percent of the group that stays in service while instances are replaced (0 to 100). @default 90 */
    readonly minHealthyPercentage?: number;
    /** Seconds a new instance gets before it counts as healthy. @default 300 */
    readonly instanceWarmupSeconds?: number;
  };
  /**
   * Private ECR repositories of this account and region the nodes may pull from: names or prefixes ending in
   * "*" ("team-a/*"). Public registries need no permission.
   * @default - none: no private ECR repository
   */
  readonly ecrRepositories?: string[];
}

export interface NodeGroupSettings {
  readonly name: string;
  readonly instanceTypes: string[];
  readonly architecture: Architecture;
  readonly minSize: number;
  readonly maxSize: number;
  readonly desiredSize: number;
  readonly availabilityZones?: string[];
  readonly capacity: Required<CapacityOptions>;
  readonly usesSpot: boolean;
  readonly rootVolumeSizeGiB: number;
  readonly rootVolumeType: string;
  readonly labels: Record<string, string>;
  readonly taints: Array<Required<NodeTaint>>;
  readonly kubelet: { systemReserved: Record<string, string>; kubeReserved: Record<string, string>; evictionHard: Record<string, string>; maxPods: number };
  readonly ami?: string;
  readonly instanceRefresh: { minHealthyPercentage: number; instanceWarmupSeconds: number };
  readonly ecrRepositories: string[];
}

/** Label every node of a group carries, so workloads and the autoscaler can pick the group. */
export const NODE_GROUP_LABEL = "kubeadm-aws/node-group";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAME_PART = /^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const QUANTITY = /^\d+(\.\d+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const PERCENT = /^\d+(\.\d+)?%$/;
const RESERVABLE = ["cpu", "memory", "ephemeral-storage", "pid"];
const EVICTION_SIGNALS = ["memory.available", "nodefs.available", "nodefs.inodesFree", "imagefs.available", "imagefs.inodesFree", "pid.available"];
/** kubernetes.io and k8s.io label namespaces a kubelet may set on its own Node (NodeRestriction admission). */
const KUBELET_SETTABLE_PREFIXES = ["kubelet.kubernetes.io/", "node.kubernetes.io/"];

export function resolveNodeGroupSettings(options: NodeGroupOptions): NodeGroupSettings {
  const prefix = `nodeGroups[${options.name}]`;
  if (!DNS_LABEL.test(options.name) || options.name.length > 20) {
    throw new ConfigError("name", `node group name ${JSON.stringify(options.name)} must be a DNS-1123 label of at most 20 characters`);
  }
  if (!options.instanceTypes?.length) throw new ConfigError(`${prefix}.instanceTypes`, "must list at least one instance type");
  const architectures = new Set(options.instanceTypes.map((t) => parseInstanceType(t, `${prefix}.instanceTypes`).architecture));
  if (architectures.size > 1) {
    throw new ConfigError(`${prefix}.instanceTypes`, `mixes arm64 and amd64 types (${options.instanceTypes.join(", ")}); one group runs one image, so use one architecture per group`);
  }
  const { minSize, maxSize } = options;
  const desiredSize = options.desiredSize ?? minSize;
  for (const [key, value] of Object.entries({ minSize, maxSize, desiredSize })) {
    if (!Number.isInteger(value) || value < 0 || value > 1000) throw new ConfigError(`${prefix}.${key}`, `${value} is not allowed; use a whole number from 0 to 1000`);
  }
  if (!(minSize <= desiredSize && desiredSize <= maxSize)) {
    throw new ConfigError(`${prefix}`, `sizes must satisfy minSize <= desiredSize <= maxSize, got ${minSize} <= ${desiredSize} <= ${maxSize}`);
  }
  if (maxSize === 0) throw new ConfigError(`${prefix}.maxSize`, "must be at least 1");

  const capacity = {
    onDemandBase: options.capacity?.onDemandBase ?? 0,
    onDemandPercentageAboveBase: options.capacity?.onDemandPercentageAboveBase ?? 100,
    spotAllocationStrategy: options.capacity?.spotAllocationStrategy ?? "price-capacity-optimized",
  };
  if (!Number.isInteger(capacity.onDemandBase) || capacity.onDemandBase < 0) {
    throw new ConfigError(`${prefix}.capacity.onDemandBase`, `${capacity.onDemandBase} is not allowed; use a whole number of 0 or more`);
  }
  if (!Number.isInteger(capacity.onDemandPercentageAboveBase) || capacity.onDemandPercentageAboveBase < 0 || capacity.onDemandPercentageAboveBase > 100) {
    throw new ConfigError(`${prefix}.capacity.onDemandPercentageAboveBase`, `${capacity.onDemandPercentageAboveBase} is not allowed; use a whole number from 0 to 100`);
  }
  if (!SPOT_ALLOCATION_STRATEGIES.includes(capacity.spotAllocationStrategy)) {
    throw new ConfigError(`${prefix}.capacity.spotAllocationStrategy`, `${JSON.stringify(capacity.spotAllocationStrategy)} is not one of ${SPOT_ALLOCATION_STRATEGIES.join(", ")}`);
  }
  const labels = { ...validateLabels(options.labels ?? {}, `${prefix}.labels`), [NODE_GROUP_LABEL]: options.name };
  const rootVolumeSizeGiB = options.rootVolumeSizeGiB ?? 50;
  if (!Number.isInteger(rootVolumeSizeGiB) || rootVolumeSizeGiB < 20 || rootVolumeSizeGiB > 16384) {
    throw new ConfigError(`${prefix}.rootVolumeSizeGiB`, `${rootVolumeSizeGiB} is not allowed; use a whole number from 20 to 16384`);
  }
  const rootVolumeType = options.rootVolumeType ?? "gp3";
  if (!["gp3", "gp2", "io1", "io2"].includes(rootVolumeType)) throw new ConfigError(`${prefix}.rootVolumeType`, `${JSON.stringify(rootVolumeType)} is not one of gp3, gp2, io1, io2`);
  if (options.ami !== undefined && !/^ami-[0-9a-f]{8,17}$/.test(options.ami)) throw new ConfigError(`${prefix}.ami`, `${JSON.stringify(options.ami)} is not an AMI id`);
  const refresh = {
    minHealthyPercentage: options.instanceRefresh?.minHealthyPercentage ?? 90,
    instanceWarmupSeconds: options.instanceRefresh?.instanceWarmupSeconds ?? 300,
  };
  if (!Number.isInteger(refresh.minHealthyPercentage) || refresh.minHealthyPercentage < 0 || refresh.minHealthyPercentage > 100) {
    throw new ConfigError(`${prefix}.instanceRefresh.minHealthyPercentage`, `${refresh.minHealthyPercentage} is not allowed; use 0 to 100`);
  }
  return {
    name: options.name,
    instanceTypes: options.instanceTypes,
    architecture: [...architectures][0],
    minSize,
    maxSize,
    desiredSize,
    availabilityZones: options.availabilityZones,
    capacity,
    usesSpot: capacity.onDemandPercentageAboveBase < 100,
    rootVolumeSizeGiB,
    rootVolumeType,
    labels,
    taints: (options.taints ?? []).map((t, i) => validateTaint(t, `${prefix}.taints[${i}]`)),
    kubelet: validateKubelet(options.kubelet ?? {}, `${prefix}.kubelet`),
    ami: options.ami,
    instanceRefresh: refresh,
    ecrRepositories: (options.ecrRepositories ?? []).map((repository) => {
      // ECR repository names, with "*" for a prefix.
      if (!/^(?=.{1,256}$)[a-z0-9]+([._/-][a-z0-9]+)*(\/?\*)?$/.test(repository)) {
        throw new ConfigError(`${prefix}.ecrRepositories`, `${JSON.stringify(repository)} is not an ECR repository name or a prefix such as "team-a/*" (every repository, "*", is not allowed)`);
      }
      return repository;
    }),
  };
}

export function validateLabelKey(key: string, property: string): void {
  const slash = key.lastIndexOf("/");
  const [keyPrefix, name] = slash >= 0 ? [key.slice(0, slash), key.slice(slash + 1)] : ["", key];
  if ((keyPrefix && !DNS_SUBDOMAIN.test(keyPrefix)) || !NAME_PART.test(name)) {
    throw new ConfigError(property, `key ${JSON.stringify(key)} is invalid; use [prefix/]name, where prefix is a DNS subdomain and name has at most 63 letters, digits, '-', '_' or '.'`);
  }
}

function validateLabels(labels: Record<string, string>, property: string): Record<string, string> {
  for (const [key, value] of Object.entries(labels)) {
    validateLabelKey(key, property);
    const reserved = /(^|\.)(kubernetes\.io|k8s\.io)\//.test(key);
    if (reserved && !KUBELET_SETTABLE_PREFIXES.some((p) => key.startsWith(p))) {
      throw new ConfigError(property, `key ${JSON.stringify(key)} is in a kubernetes.io or k8s.io namespace that kubelets may not set on their own Node (NodeRestriction); use your own prefix, or node.kubernetes.io/`);
    }
    if (value !== "" && !NAME_PART.test(value)) {
      throw new ConfigError(property, `value ${JSON.stringify(value)} of ${key} is invalid; use at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric`);
    }
  }
  return labels;
}

function validateTaint(taint: NodeTaint, property: string): Required<NodeTaint> {
  validateLabelKey(taint.key, property);
  const value = taint.value ?? "";
  if (value !== "" && !NAME_PART.test(value)) throw new ConfigError(property, `value ${JSON.stringify(value)} is invalid`);
  if (!TAINT_EFFECTS.includes(taint.effect)) {
    throw new ConfigError(property, `effect ${JSON.stringify(taint.effect)} is not one of ${TAINT_EFFECTS.join(", ")}`);
  }
  return { key: taint.key, value, effect: taint.effect };
}

function validateKubelet(options: KubeletOptions, property: string) {
  const quantities = (values: Record<string, string>, name: string) => {
    for (const [key, value] of Object.entries(values)) {
      if (!RESERVABLE.includes(key)) throw new ConfigError(`${property}.${name}`, `${JSON.stringify(key)} is not reservable; use ${RESERVABLE.join(", ")}`);
      if (!QUANTITY.test(value)) throw new ConfigError(`${property}.${name}`, `${key}: ${JSON.stringify(value)} is not a quantity such as "100m" or "512Mi"`);
    }
    return values;
  };
  const evictionHard = options.evictionHard ?? { "memory.available": "200Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%", "imagefs.available": "15%" };
  for (const [signal, threshold] of Object.entries(evictionHard)) {
    if (!EVICTION_SIGNALS.includes(signal)) throw new ConfigError(`${property}.evictionHard`, `${JSON.stringify(signal)} is not an eviction signal; use ${EVICTION_SIGNALS.join(", ")}`);
    if (!QUANTITY.test(threshold) && !PERCENT.test(threshold)) {
      throw new ConfigError(`${property}.evictionHard`, `${signal}: ${JSON.stringify(threshold)} is neither a quantity ("200Mi") nor a percentage ("10%")`);
    }
  }
  const maxPods = options.maxPods ?? 110;
  if (!Number.isInteger(maxPods) || maxPods < 10 || maxPods > 250) throw new ConfigError(`${property}.maxPods`, `${maxPods} is not allowed; use a whole number from 10 to 250`);
  return {
    systemReserved: quantities(options.systemReserved ?? { cpu: "100m", memory: "256Mi", "ephemeral-storage": "1Gi" }, "systemReserved"),
    kubeReserved: quantities(options.kubeReserved ?? { cpu: "100m", memory: "512Mi", "ephemeral-storage": "1Gi" }, "kubeReserved"),
    evictionHard,
    maxPods,
  };
}
