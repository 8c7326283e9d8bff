import { ControlPlaneBootstrap, renderControlPlaneCloudConfig } from "../../lib/control-plane/control-plane-user-data";
import { ControlPlaneOptions, resolveControlPlaneSettings } from "../../lib/control-plane/settings";

/** The bootstrap inputs a ControlPlane named "prod" in eu-west-1 renders its user data from. */
export function controlPlaneBootstrap(options: ControlPlaneOptions = {}, publicLoadBalancerName?: string): ControlPlaneBootstrap {
  return {
    clusterName: "prod",
    region: "eu-west-1",
    settings: resolveControlPlaneSettings(options, "10.0.0.0/16"),
    endpointHost: "api.prod.k8s.internal",
    endpoint: "api.prod.k8s.internal:6443",
    kmsKeyAlias: "alias/k8s/prod",
    pkiSecretName: "k8s/prod/pki",
    adminKubeconfigSecretName: "k8s/prod/admin-kubeconfig",
    publicLoadBalancerName,
  };
}

export function controlPlaneCloudConfig(options: ControlPlaneOptions = {}, publicLoadBalancerName?: string): string {
  return renderControlPlaneCloudConfig(controlPlaneBootstrap(options, publicLoadBalancerName));
}
