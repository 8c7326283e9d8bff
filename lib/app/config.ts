import { Cni } from "../addons";
import { ConfigError } from "../errors";
import { DEFAULT_NODE_GROUPS } from "../cluster";
import { INTERFACE_ENDPOINT_SERVICES } from "../network/endpoints";
import { ClusterNetworkOptions } from "../network/network-settings";
import { ControlPlaneOptions } from "../control-plane/settings";
import { NodeGroupOptions } from "../node-group/settings";
import { ObservabilityOptions } from "../observability/settings";

/** What `main.ts` deploys; every field has a production-shaped default. */
export interface AppConfig {
  readonly clusterName: string;
  readonly region: string;
  /** @default - looked up with STS at plan time */
  readonly accountId?: string;
  readonly network: ClusterNetworkOptions;
  readonly controlPlane: ControlPlaneOptions;
  readonly observability?: ObservabilityOptions;
  readonly nodeGroups: NodeGroupOptions[];
  /** @default - local state file terraform.<cluster>.tfstate */
  readonly stateBackend?: { readonly bucket: string; readonly key: string; readonly region: string };
}

export const DEFAULT_CLUSTER_NAME = "kubeadm";
export const DEFAULT_REGION = "eu-west-1";
/** Zones of the default region, so the default configuration plans without an AWS lookup. */
export const DEFAULT_REGION_ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];

/** The environment variables main.ts reads: the single source for `help`, README.md and error hints. */
export const ENVIRONMENT_VARIABLES = [
  { name: "CLUSTER_NAME", property: "clusterName", default: DEFAULT_CLUSTER_NAME, description: "cluster name: DNS-1123 label, at most 20 characters; also the stack name" },
  { name: "CLUSTER_REGION", property: "region", default: DEFAULT_REGION, description: "AWS region" },
  { name: "CLUSTER_ACCOUNT_ID", property: "accountId", default: "looked up with STS", description: "AWS account id; set it to skip that lookup (the deploying principal is still read with STS)" },
  { name: "CLUSTER_AZS", property: "availabilityZones", default: DEFAULT_REGION_ZONES.join(","), description: "comma-separated zones; for another region, unset means look up 3 zones" },
  { name: "CLUSTER_VPC_CIDR", property: "vpcCidr", default: "10.0.0.0/16", description: "VPC CIDR, /16 to /21 for 3 zones" },
  { name: "CLUSTER_NAT_GATEWAYS", property: "natGateways", default: "perAz", description: "perAz | single" },
  { name: "CLUSTER_VPC_ENDPOINTS", property: "interfaceEndpoints", default: "none", description: 'comma-separated interface endpoints, or "all"' },
  { name: "CLUSTER_KUBERNETES_VERSION", property: "kubernetesVersion", default: "1.35", description: "Kubernetes minor (1.35, 1.36; nodes install its tested patch) or exact patch (1.35.2)" },
  { name: "CLUSTER_CONTROL_PLANE_COUNT", property: "count", default: "3", description: "control-plane nodes: 1, 3 or 5" },
  { name: "CLUSTER_CONTROL_PLANE_INSTANCE_TYPE", property: "instanceType", default: "m7i.large", description: "control-plane instance type, at least 2 vCPU and 2 GiB" },
  { name: "CLUSTER_API_ALLOWED_CIDRS", property: "apiServer.publicAccess.allowedCidrs", default: "none (no public endpoint)", description: "comma-separated CIDRs for an internet-facing API endpoint" },
  { name: "CLUSTER_ADMIN_PRINCIPALS", property: "adminAccess.principalArns", default: "the deploying principal", description: "comma-separated IAM role or user ARNs that may read the admin kubeconfig" },
  { name: "CLUSTER_ETCD_RESTORE_FROM", property: "etcd.restoreFrom", default: "none", description: "s3://bucket/key.db of an etcd snapshot to rebuild a lost control plane from" },
  { name: "CLUSTER_CNI", property: "addons.cni", default: "calico", description: "calico | cilium" },
  {
    name: "CLUSTER_WORKLOAD_IDENTITY",
    property: "workloadIdentity",
    default: "true",
    description: "true | false: IAM roles for service accounts; false where the account's S3 Block Public Access forbids public bucket policies",
  },
  { name: "CLUSTER_ALARM_EMAILS", property: "observability.alarms.emails", default: "none", description: "comma-separated addresses subscribed to the alarm topic" },
  { name: "CLUSTER_NODE_INSTANCE_TYPES", property: "nodeGroups[general].instanceTypes", default: "m7i.large", description: "comma-separated instance types of the general worker group" },
  { name: "CLUSTER_NODE_MIN_SIZE", property: "nodeGroups[general].minSize", default: "3", description: "minimum (and initial) size of the general worker group" },
  { name: "CLUSTER_NODE_MAX_SIZE", property: "nodeGroups[general].maxSize", default: "12", description: "maximum size of the general worker group, for the cluster autoscaler" },
  { name: "CLUSTER_STATE_BUCKET", property: "stateBackend.bucket", default: "local state", description: "S3 bucket for remote state, with S3-native locking" },
  { name: "CLUSTER_STATE_KEY", property: "stateBackend.key", default: "<cluster>/terraform.tfstate", description: "state object key in the bucket" },
  { name: "CLUSTER_STATE_REGION", property: "stateBackend.region", default: "CLUSTER_REGION", description: "region of the state bucket" },
] as const;

type Env = Record<string, string | undefined>;

/** Reads the app configuration from environment variables, with defaults for everything. */
export function configFromEnv(env: Env): AppConfig {
  const read = (name: string) => (env[name]?.trim() ? env[name]!.trim() : undefined);
  const list = (name: string) => read(name)?.split(",").map((item) => item.trim()).filter(Boolean);

  const clusterName = read("CLUSTER_NAME") ?? DEFAULT_CLUSTER_NAME;
  const region = read("CLUSTER_REGION") ?? DEFAULT_REGION;
  const zones = list("CLUSTER_AZS") ?? (region === DEFAULT_REGION ? DEFAULT_REGION_ZONES : undefined);
  const endpoints = read("CLUSTER_VPC_ENDPOINTS");
  const bucket = read("CLUSTER_STATE_BUCKET");
  const count = read("CLUSTER_CONTROL_PLANE_COUNT");
  const allowedCidrs = list("CLUSTER_API_ALLOWED_CIDRS");
  const size = (name: string, fallback: number) => (read(name) === undefined ? fallback : Number(read(name)));
  const workloadIdentity = read("CLUSTER_WORKLOAD_IDENTITY");
  if (workloadIdentity !== undefined && !["true", "false"].includes(workloadIdentity)) {
    throw new ConfigError("workloadIdentity", `${JSON.stringify(workloadIdentity)} is neither "true" nor "false"`);
  }
  return {
    clusterName,
    region,
    accountId: read("CLUSTER_ACCOUNT_ID"),
    network: {
      vpcCidr: read("CLUSTER_VPC_CIDR"),
      availabilityZones: zones,
      natGateways: read("CLUSTER_NAT_GATEWAYS") as ClusterNetworkOptions["natGateways"],
      interfaceEndpoints: (endpoints === "all" ? [...INTERFACE_ENDPOINT_SERVICES] : list("CLUSTER_VPC_ENDPOINTS")) as ClusterNetworkOptions["interfaceEndpoints"],
    },
    controlPlane: {
      kubernetesVersion: read("CLUSTER_KUBERNETES_VERSION"),
      count: count === undefined ? undefined : Number(count),
      instanceType: read("CLUSTER_CONTROL_PLANE_INSTANCE_TYPE"),
      apiServer: allowedCidrs ? { publicAccess: { allowedCidrs } } : undefined,
      adminAccess: list("CLUSTER_ADMIN_PRINCIPALS") ? { principalArns: list("CLUSTER_ADMIN_PRINCIPALS") } : undefined,
      etcd: read("CLUSTER_ETCD_RESTORE_FROM") ? { restoreFrom: read("CLUSTER_ETCD_RESTORE_FROM") } : undefined,
      addons: read("CLUSTER_CNI") ? { cni: read("CLUSTER_CNI") as Cni } : undefined,
      workloadIdentity: workloadIdentity === undefined ? undefined : workloadIdentity === "true",
    },
    observability: list("CLUSTER_ALARM_EMAILS") ? { alarms: { emails: list("CLUSTER_ALARM_EMAILS") } } : undefined,
    nodeGroups: [
      {
        ...DEFAULT_NODE_GROUPS[0],
        instanceTypes: list("CLUSTER_NODE_INSTANCE_TYPES") ?? DEFAULT_NODE_GROUPS[0].instanceTypes,
        minSize: size("CLUSTER_NODE_MIN_SIZE", DEFAULT_NODE_GROUPS[0].minSize),
        maxSize: size("CLUSTER_NODE_MAX_SIZE", DEFAULT_NODE_GROUPS[0].maxSize),
      },
    ],
    stateBackend: bucket
      ? { bucket, key: read("CLUSTER_STATE_KEY") ?? `${clusterName}/terraform.tfstate`, region: read("CLUSTER_STATE_REGION") ?? region }
      : undefined,
  };
}

/** Adds the environment variable behind a property to a configuration error, for main.ts users. */
export function explainConfigError(error: ConfigError): string {
  const variable = ENVIRONMENT_VARIABLES.find((v) => v.property === error.property);
  return variable ? `${error.message} (set through ${variable.name})` : error.message;
}
