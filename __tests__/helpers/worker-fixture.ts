import { NodeGroupOptions, resolveNodeGroupSettings } from "../../lib/node-group/settings";
import { WorkerBootstrap, renderWorkerCloudConfig } from "../../lib/node-group/worker-user-data";
import { resolveKubernetesVersion } from "../../lib/versions";

/** The bootstrap inputs of a node group "general" of cluster "prod" in eu-west-1. */
export function workerBootstrap(options: Partial<NodeGroupOptions> = {}): WorkerBootstrap {
  return {
    clusterName: "prod",
    region: "eu-west-1",
    endpoint: "api.prod.k8s.internal:6443",
    version: resolveKubernetesVersion("1.35"),
    joinParameters: { token: "/k8s/prod/join/token", caCertHash: "/k8s/prod/join/ca-cert-hash", kubernetesVersion: "/k8s/prod/join/kubernetes-version" },
    autoScalingGroupName: "prod-general",
    launchHookName: "node-ready",
    settings: resolveNodeGroupSettings({ name: "general", instanceTypes: ["m7i.large"], minSize: 1, maxSize: 3, ...options }),
  };
}

export function workerCloudConfig(options: Partial<NodeGroupOptions> = {}): string {
  return renderWorkerCloudConfig(workerBootstrap(options));
}
