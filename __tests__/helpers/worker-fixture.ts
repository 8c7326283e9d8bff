import { NodeGroupOptions, resolveNodeGroupSettings } from "../../lib/node-group/settings";
import { renderBundle, renderUserData } from "../../lib/bootstrap/user-data";
import { WorkerBootstrap, workerNode } from "../../lib/node-group/worker-user-data";
import { DEFAULT_KUBERNETES_VERSION, resolveKubernetesVersion } from "../../lib/versions";
import { NodeImage } from "./sandbox";

/** The bootstrap inputs of a node group "general" of cluster "prod" in eu-west-1. */
export function workerBootstrap(options: Partial<NodeGroupOptions> = {}, kubernetesVersion = DEFAULT_KUBERNETES_VERSION): WorkerBootstrap {
  return {
    clusterName: "prod",
    region: "eu-west-1",
    endpoint: "api.prod.k8s.internal:6443",
    version: resolveKubernetesVersion(kubernetesVersion),
    joinParameters: { token: "/k8s/prod/join/token", caCertHash: "/k8s/prod/join/ca-cert-hash", kubernetesVersion: "/k8s/prod/join/kubernetes-version" },
    autoScalingGroupName: "prod-general",
    launchHookName: "node-ready",
    logShipping: true,
    settings: resolveNodeGroupSettings({ name: "general", instanceTypes: ["m7i.large"], minSize: 1, maxSize: 3, ...options }),
  };
}

/** User data and bundle of a worker of group "general", as the NodeGroup construct renders them. */
export function workerImage(options: Partial<NodeGroupOptions> = {}, kubernetesVersion = DEFAULT_KUBERNETES_VERSION): NodeImage {
  const node = workerNode(workerBootstrap(options, kubernetesVersion));
  const bundle = renderBundle(node, "node-groups/general");
  return { userData: renderUserData(node, bundle), bundle };
}
