import { Construct } from "constructs";
import { ClusterKey } from "./cluster-key";
import { ControlPlane } from "./control-plane/control-plane";
import { ControlPlaneOptions } from "./control-plane/settings";
import { validateClusterName } from "./naming";
import { ClusterNetwork } from "./network/cluster-network";
import { ClusterNetworkOptions } from "./network/network-settings";

export interface KubernetesClusterProps {
  /** DNS-1123 label, at most 20 characters; it prefixes every name and tag. */
  readonly clusterName: string;
  /** @default - a new VPC, 10.0.0.0/16 over 3 zones, NAT per zone, flow logs on */
  readonly network?: ClusterNetworkOptions;
  /** @default - 3 m7i.large nodes running Kubernetes 1.35, one per zone, API reachable from the VPC only */
  readonly controlPlane?: ControlPlaneOptions;
}

/**
 * A whole cluster from one props object: the cluster KMS key, the network and
 * the control plane, exposed for further composition.
 */
export class KubernetesCluster extends Construct {
  readonly clusterName: string;
  readonly key: ClusterKey;
  readonly network: ClusterNetwork;
  readonly controlPlane: ControlPlane;

  constructor(scope: Construct, id: string, props: KubernetesClusterProps) {
    super(scope, id);
    validateClusterName(props.clusterName);
    this.clusterName = props.clusterName;
    this.key = new ClusterKey(this, "key", { clusterName: props.clusterName });
    this.network = new ClusterNetwork(this, "network", { ...props.network, clusterName: props.clusterName, encryptionKey: this.key });
    this.controlPlane = new ControlPlane(this, "control-plane", {
      ...props.controlPlane,
      clusterName: props.clusterName,
      network: this.network,
      encryptionKey: this.key,
    });
  }
}
