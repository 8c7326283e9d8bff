import { Construct } from "constructs";
import { AddonsOptions } from "./addons";
import { ClusterKey } from "./cluster-key";
import type { IKubernetesCluster } from "./cluster-reference";
import { ClusterServices } from "./cluster-services";
import { ControlPlane } from "./control-plane/control-plane";
import { ControlPlaneOptions } from "./control-plane/settings";
import { ConfigError } from "./errors";
import { ServiceAccountRole, ServiceAccountRoleOptions } from "./identity/service-account-role";
import { validateClusterName } from "./naming";
import { ClusterNetwork } from "./network/cluster-network";
import { ClusterNetworkOptions } from "./network/network-settings";
import { NodeGroup } from "./node-group/node-group";
import { NodeGroupOptions } from "./node-group/settings";
import { ObservabilityOptions } from "./observability/settings";
import { keepStateOfMovedConstruct, stackPath } from "./state-moves";

/** One general-purpose group of 3 on-demand m7i.large workers, growing to 12 with the cluster autoscaler. */
export const DEFAULT_NODE_GROUPS: NodeGroupOptions[] = [{ name: "general", instanceTypes: ["m7i.large"], minSize: 3, maxSize: 12 }];

export interface KubernetesClusterProps {
  /** DNS-1123 label, at most 20 characters; it prefixes every name and tag. */
  readonly clusterName: string;
  /** The VPC: a new one, or an existing one to adopt. @default - a new VPC, 10.0.0.0/16 over 3 zones, NAT per zone, flow logs on */
  readonly network?: ClusterNetworkOptions;
  /** The control-plane nodes and their components. @default - 3 m7i.large nodes running Kubernetes 1.35, one per zone, API reachable from the VPC only */
  readonly controlPlane?: ControlPlaneOptions;
  /** Logs, alarms and the dashboard. @default - all on */
  readonly observability?: ObservabilityOptions;
  /**
   * IAM role or user ARNs, besides the deploying principal, that may write the node-artifacts bucket: those that
   * deploy node groups in stacks of their own (wildcards allowed in the path). @default - none
   */
  readonly nodeArtifactWriterArns?: string[];
  /** The CNI and the add-ons. @default - Calico and every add-on on */
  readonly addons?: AddonsOptions;
  /** Worker groups in this stack; groups in other stacks use `NodeGroup`. @default DEFAULT_NODE_GROUPS; pass [] for none */
  readonly nodeGroups?: NodeGroupOptions[];
}

/**
 * A whole cluster from one props object: the cluster KMS key, the network,
 * the cluster's shared services, the control plane and the worker node groups, exposed for further
 * composition. More node groups can be added here (`addNodeGroup`) or in
 * other stacks (`new NodeGroup(otherStack, id, { cluster, ... })`).
 */
export class KubernetesCluster extends Construct implements IKubernetesCluster {
  readonly clusterName: string;
  readonly encryptionKey: ClusterKey;
  readonly network: ClusterNetwork;
  /** The node-artifacts bucket, log groups, alarm topic, dashboard, add-on specification and termination queue. */
  readonly services: ClusterServices;
  readonly controlPlane: ControlPlane;
  readonly nodeGroups: NodeGroup[] = [];
  /** Roles of service accounts added with `addServiceAccount`. */
  readonly serviceAccounts: ServiceAccountRole[] = [];

  constructor(scope: Construct, id: string, props: KubernetesClusterProps) {
    super(scope, id);
    validateClusterName(props.clusterName);
    this.clusterName = props.clusterName;
    this.encryptionKey = new ClusterKey(this, "key", { clusterName: props.clusterName });
    this.network = new ClusterNetwork(this, "network", { ...props.network, clusterName: props.clusterName, encryptionKey: this.encryptionKey });
    this.services = new ClusterServices(this, "services", {
      clusterName: props.clusterName,
      encryptionKey: this.encryptionKey,
      observability: props.observability,
      nodeArtifactWriterArns: props.nodeArtifactWriterArns,
    });
    this.controlPlane = new ControlPlane(this, "control-plane", {
      addons: props.addons,
      ...props.controlPlane,
      clusterName: props.clusterName,
      network: this.network,
      services: this.services,
      encryptionKey: this.encryptionKey,
    });
    // Earlier releases kept these services in the control plane: moved blocks keep a running cluster's state.
    keepStateOfMovedConstruct(this.services, [...stackPath(this), "control-plane"]);
    for (const group of props.nodeGroups ?? DEFAULT_NODE_GROUPS) this.addNodeGroup(group);
  }

  /** Adds a worker group; its construct id is `node-group-<name>`. */
  addNodeGroup(options: NodeGroupOptions): NodeGroup {
    if (this.nodeGroups.some((g) => g.settings.name === options.name)) {
      throw new ConfigError("nodeGroups", `two node groups are named ${JSON.stringify(options.name)}; names must be unique`);
    }
    const group = new NodeGroup(this, `node-group-${options.name}`, { ...options, cluster: this });
    this.nodeGroups.push(group);
    return group;
  }

  /**
   * An IAM role for the pods of one service account (IAM roles for service accounts), with the annotation its
   * ServiceAccount carries. Its construct id is `service-account-<id>`. Roles in other stacks use `new ServiceAccountRole(stack, id,
   * { cluster, ... })`.
   */
  addServiceAccount(id: string, options: ServiceAccountRoleOptions): ServiceAccountRole {
    // The add-on controllers' roles count too: two roles for one account would collide in IAM at apply.
    const taken = [...this.controlPlane.addonRoles, ...this.serviceAccounts].find((a) => a.namespace === options.namespace && a.serviceAccountName === options.name);
    if (taken) {
      throw new ConfigError("name", `the service account ${options.namespace}/${options.name} already has a role (${taken.node.id}); give one role per service account`);
    }
    const account = new ServiceAccountRole(this, `service-account-${id}`, { ...options, cluster: this });
    this.serviceAccounts.push(account);
    return account;
  }
}
