import { TerraformStack } from "cdktf";
import { ClusterKey } from "../../lib/cluster-key";
import { ClusterServices, ClusterServicesProps } from "../../lib/cluster-services";
import { ControlPlane } from "../../lib/control-plane/control-plane";
import { ControlPlaneOptions } from "../../lib/control-plane/settings";
import { ClusterNetwork } from "../../lib/network/cluster-network";
import { Synthesized, synthStack } from "./synth";

export const ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];

/** A stack of cluster "prod" composed by hand, as README's "ControlPlane" shows: key, network, services, control plane. */
export function synthControlPlane(options: ControlPlaneOptions = {}, services: Partial<ClusterServicesProps> = {}): Synthesized {
  return synthStack((stack: TerraformStack) => {
    const key = new ClusterKey(stack, "key", { clusterName: "prod" });
    const network = new ClusterNetwork(stack, "network", { clusterName: "prod", availabilityZones: ZONES, encryptionKey: key });
    const shared = new ClusterServices(stack, "services", { ...services, clusterName: "prod", encryptionKey: key });
    new ControlPlane(stack, "control-plane", { ...options, clusterName: "prod", network, services: shared });
  });
}
