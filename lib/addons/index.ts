import { AwsEnvironment } from "../aws-environment";
import { ConfigError } from "../errors";
import { PolicyStatement } from "../iam";
import { KubernetesRelease } from "../versions";
import { Addon, AddonContext } from "./addon";
import { awsCloudControllerManager } from "./aws-cloud-controller-manager";
import { CALICO_NODE_PORTS, calico } from "./calico";
import { CILIUM_NODE_PORTS, cilium } from "./cilium";
import { AUTOSCALER_EXPANDERS, CLUSTER_AUTOSCALER_ACCOUNT, ClusterAutoscalerOptions, clusterAutoscaler, clusterAutoscalerStatements } from "./cluster-autoscaler";
import { coreDnsAvailability } from "./coredns";
import { EBS_CSI_CONTROLLER_ACCOUNT, ebsCsiDriver, ebsCsiDriverStatements } from "./ebs-csi-driver";
import { metricsServer } from "./metrics-server";
import { podIdentityWebhook } from "./pod-identity-webhook";
import { NODE_TERMINATION_HANDLER_ACCOUNT, TerminationQueue, nodeTerminationHandler } from "./node-termination-handler";

export const CNIS = ["calico", "cilium"] as const;
export type Cni = (typeof CNIS)[number];

/** Cluster add-ons; each can be turned off. */
export interface AddonsOptions {
  /** The pod network (CNI). @default "calico" */
  readonly cni?: Cni;
  /** The AWS EBS CSI driver, for persistent volumes on EBS. @default - on, with the encrypted gp3 class as the default StorageClass */
  readonly ebsCsiDriver?: {
    /** Whether the driver is installed. @default true */
    readonly enabled?: boolean;
    /** Whether its encrypted gp3 StorageClass is the cluster's default. @default true */
    readonly defaultStorageClass?: boolean;
  };
  /** metrics-server, for `kubectl top` and the Horizontal Pod Autoscaler. @default - on */
  readonly metricsServer?: {
    /** Whether metrics-server is installed. @default true */
    readonly enabled?: boolean;
  };
  /** The cluster autoscaler, which resizes the worker groups between their sizes. @default - on, least-waste expander */
  readonly clusterAutoscaler?: {
    /** Whether the cluster autoscaler is installed. @default true */
    readonly enabled?: boolean;
  } & ClusterAutoscalerOptions;
  /** aws-node-termination-handler in queue mode. @default - on */
  readonly nodeTerminationHandler?: {
    /** Whether the handler and its queue are created. @default true */
    readonly enabled?: boolean;
  };
  /**
   * The Amazon EKS Pod Identity Webhook: pods whose ServiceAccount carries `eks.amazonaws.com/role-arn` get their
   * role's credentials (outside kube-system). Needs `workloadIdentity`.
   * @default - on with workloadIdentity, off without it
   */
  readonly podIdentityWebhook?: {
    /** Whether the webhook is installed. @default - the control plane's workloadIdentity */
    readonly enabled?: boolean;
  };
  /** A PodDisruptionBudget and spread constraints for kubeadm's CoreDNS. @default - on */
  readonly coreDns?: {
    /** Whether the budget and constraints are applied. @default true */
    readonly enabled?: boolean;
  };
}

export interface AddonsSettings {
  readonly cni: Cni;
  readonly ebsCsiDriver?: { readonly defaultStorageClass: boolean };
  readonly metricsServer: boolean;
  readonly clusterAutoscaler?: ClusterAutoscalerOptions;
  readonly nodeTerminationHandler: boolean;
  readonly podIdentityWebhook: boolean;
  readonly coreDns: boolean;
}

const oneOf = (allowed: readonly string[]) => allowed.map((a) => `"${a}"`).join(", ");

export function resolveAddonsSettings(options: AddonsOptions, workloadIdentity = true): AddonsSettings {
  const cni = options.cni ?? "calico";
  if (!CNIS.includes(cni)) throw new ConfigError("addons.cni", `${JSON.stringify(cni)} is not one of ${oneOf(CNIS)}`);
  const expander = options.clusterAutoscaler?.expander;
  if (expander !== undefined && !AUTOSCALER_EXPANDERS.includes(expander)) {
    throw new ConfigError("addons.clusterAutoscaler.expander", `${JSON.stringify(expander)} is not one of ${oneOf(AUTOSCALER_EXPANDERS)}`);
  }
  const threshold = options.clusterAutoscaler?.scaleDownUtilizationThreshold;
  if (threshold !== undefined && !(threshold > 0 && threshold <= 1)) {
    throw new ConfigError("addons.clusterAutoscaler.scaleDownUtilizationThreshold", `${threshold} is not allowed; use a share above 0 and at most 1`);
  }
  const podIdentityWebhook = options.podIdentityWebhook?.enabled ?? workloadIdentity;
  if (podIdentityWebhook && !workloadIdentity) {
    throw new ConfigError("addons.podIdentityWebhook.enabled", "true needs workloadIdentity: the webhook hands out roles that trust the cluster's issuer; set workloadIdentity to true, or leave the webhook off");
  }
  return {
    cni,
    ebsCsiDriver: options.ebsCsiDriver?.enabled === false ? undefined : { defaultStorageClass: options.ebsCsiDriver?.defaultStorageClass ?? true },
    metricsServer: options.metricsServer?.enabled !== false,
    clusterAutoscaler: options.clusterAutoscaler?.enabled === false ? undefined : options.clusterAutoscaler ?? {},
    nodeTerminationHandler: options.nodeTerminationHandler?.enabled !== false,
    podIdentityWebhook,
    coreDns: options.coreDns?.enabled !== false,
  };
}

/** The add-ons of a cluster, in the order the control plane applies them. The CNI and the CCM are always there. */
export function renderAddons(s: AddonsSettings, ctx: AddonContext, release: KubernetesRelease): Addon[] {
  const identity = (account: string) => {
    const roleArn = ctx.controllerRoleArns?.[account];
    return roleArn ? { roleArn, region: ctx.region } : undefined;
  };
  return [
    awsCloudControllerManager({ clusterName: ctx.clusterName, image: release.cloudControllerManagerImage }),
    s.cni === "cilium" ? cilium({ podCidr: ctx.podCidr, architecture: ctx.controlPlaneArchitecture }) : calico({ podCidr: ctx.podCidr }),
    ...(s.podIdentityWebhook ? [podIdentityWebhook({ region: ctx.region })] : []),
    ...(s.ebsCsiDriver ? [ebsCsiDriver({ clusterName: ctx.clusterName, region: ctx.region, encryptionKey: ctx.encryptionKeyAliasArn, identity: identity(EBS_CSI_CONTROLLER_ACCOUNT), ...s.ebsCsiDriver })] : []),
    ...(s.metricsServer ? [metricsServer()] : []),
    ...(s.clusterAutoscaler ? [clusterAutoscaler({ clusterName: ctx.clusterName, region: ctx.region, image: release.clusterAutoscalerImage, identity: identity(CLUSTER_AUTOSCALER_ACCOUNT), ...s.clusterAutoscaler })] : []),
    ...(s.nodeTerminationHandler && ctx.terminationQueueUrl ? [nodeTerminationHandler({ region: ctx.region, queueUrl: ctx.terminationQueueUrl, identity: identity(NODE_TERMINATION_HANDLER_ACCOUNT) })] : []),
    ...(s.coreDns ? [coreDnsAvailability()] : []),
  ];
}

/** An add-on controller that calls AWS: its service account in kube-system, and what its role may do. */
export interface AddonController {
  /** The add-on, which also names its managed policy on the control-plane role when workload identity is off. */
  readonly addon: string;
  readonly serviceAccount: string;
  readonly statements: PolicyStatement[];
}

/**
 * The add-on controllers that call AWS, apart from the cloud controller manager (which stays on the control-plane
 * role: SECURITY.md says why). With workload identity each gets a role of its own; without, the control-plane role
 * carries their statements.
 */
export function addonControllers(s: AddonsSettings, env: AwsEnvironment, clusterName: string, keyArn: string, terminationQueue?: TerminationQueue): AddonController[] {
  return [
    ...(s.ebsCsiDriver ? [{ addon: "ebs-csi-driver", serviceAccount: EBS_CSI_CONTROLLER_ACCOUNT, statements: ebsCsiDriverStatements(env, clusterName, keyArn) }] : []),
    ...(s.clusterAutoscaler ? [{ addon: "cluster-autoscaler", serviceAccount: CLUSTER_AUTOSCALER_ACCOUNT, statements: clusterAutoscalerStatements(env, clusterName) }] : []),
    ...(terminationQueue
      ? [{ addon: "node-termination-handler", serviceAccount: NODE_TERMINATION_HANDLER_ACCOUNT, statements: terminationQueue.handlerStatements(env, clusterName, keyArn) }]
      : []),
  ];
}

/** Ports the chosen CNI needs between every pair of nodes. */
export function cniNodePorts(cni: Cni): ReadonlyArray<{ protocol: string; port: number; description: string }> {
  return cni === "cilium" ? CILIUM_NODE_PORTS : CALICO_NODE_PORTS;
}
