import type { IClusterKey } from "./cluster-key";
import type { IClusterServices } from "./cluster-services";
import type { IControlPlane } from "./control-plane/control-plane";
import type { IClusterNetwork } from "./network/cluster-network";

/**
 * What a node group needs from a cluster. A `KubernetesCluster` is one; in
 * another stack of the same app, pass that cluster and cdktf turns the
 * Terraform values into cross-stack references.
 */
export interface IKubernetesCluster {
  readonly clusterName: string;
  readonly network: IClusterNetwork;
  readonly controlPlane: IControlPlane;
  /** The node-artifacts bucket, log shipping, the alarm topic and termination handling, shared by every node. */
  readonly services: IClusterServices;
  readonly encryptionKey: IClusterKey;
}
