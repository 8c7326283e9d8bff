import { ITerraformDependable, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { IClusterNetwork } from "./cluster-network";

/**
 * The network's egress resources a node group in `scope` can depend on: those
 * of its own stack. A group in another stack cannot depend on another state's
 * resources; its stack depends on the cluster's stack instead (storeNodeArtifact),
 * so the cluster's egress exists before it is deployed.
 */
export function egressDependencies(scope: Construct, network: IClusterNetwork): ITerraformDependable[] {
  const here = TerraformStack.of(scope);
  return (network.egressResources ?? []).filter((resource) => resource instanceof Construct && TerraformStack.of(resource) === here);
}
