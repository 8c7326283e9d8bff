import { renderBundle, renderUserData } from "../../lib/bootstrap/user-data";
import { ControlPlaneBootstrap, controlPlaneNode } from "../../lib/control-plane/control-plane-user-data";
import { ControlPlaneOptions, resolveControlPlaneSettings } from "../../lib/control-plane/settings";
import { CALICO } from "../../lib/versions";
import { NodeImage } from "./sandbox";

/** The bootstrap inputs a ControlPlane named "prod" in eu-west-1 renders its node from. */
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

/**
 * User data and bundle of a control-plane node, as the ControlPlane construct
 * renders them. `calicoSha256` stands in for the pinned checksum, so a sandbox
 * can serve a stand-in manifest.
 */
export function controlPlaneImage(options: ControlPlaneOptions = {}, fixture: { publicLoadBalancerName?: string; calicoSha256?: string } = {}): NodeImage {
  const node = controlPlaneNode(controlPlaneBootstrap(options, fixture.publicLoadBalancerName));
  const files = node.files.map((f) => (fixture.calicoSha256 && f.path.endsWith("/sources.tsv") ? { ...f, content: f.content.replace(CALICO.manifestSha256, fixture.calicoSha256) } : f));
  const bundle = renderBundle({ ...node, files }, "control-plane");
  return { userData: renderUserData(node, bundle), bundle };
}
