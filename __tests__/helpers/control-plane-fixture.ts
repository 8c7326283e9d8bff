import { createHash } from "node:crypto";
import { renderAddons } from "../../lib/addons";
import { AddonContext, renderAddonSpec } from "../../lib/addons/addon";
import { CLUSTER_AUTOSCALER_ACCOUNT } from "../../lib/addons/cluster-autoscaler";
import { EBS_CSI_CONTROLLER_ACCOUNT } from "../../lib/addons/ebs-csi-driver";
import { NODE_TERMINATION_HANDLER_ACCOUNT } from "../../lib/addons/node-termination-handler";
import { serviceAccountRoleName } from "../../lib/identity/web-identity";
import { renderBundle, renderUserData } from "../../lib/bootstrap/user-data";
import { ADDON_SPEC_KEY, ControlPlaneBootstrap, controlPlaneNode } from "../../lib/control-plane/control-plane-user-data";
import { addonSpecChecksumParameter } from "../../lib/naming";
import { ControlPlaneOptions, resolveControlPlaneSettings } from "../../lib/control-plane/settings";
import { ObservabilityOptions, resolveObservabilitySettings } from "../../lib/observability/settings";
import { CALICO } from "../../lib/versions";
import { NodeImage } from "./sandbox";

/**
 * The bootstrap inputs a ControlPlane named "prod" in eu-west-1 renders its node from; `observability` is the
 * cluster services' (ClusterServices), which the nodes follow.
 */
export function controlPlaneBootstrap(options: ControlPlaneOptions & { observability?: ObservabilityOptions } = {}, publicLoadBalancerName?: string): ControlPlaneBootstrap {
  const { observability, ...controlPlane } = options;
  return {
    clusterName: "prod",
    region: "eu-west-1",
    settings: resolveControlPlaneSettings(controlPlane, "10.0.0.0/16", resolveObservabilitySettings(observability ?? {})),
    endpointHost: "api.prod.k8s.internal",
    endpoint: "api.prod.k8s.internal:6443",
    kmsKeyAlias: "alias/k8s/prod",
    pkiSecretName: "k8s/prod/pki",
    adminKubeconfigSecretName: "k8s/prod/admin-kubeconfig",
    publicLoadBalancerName,
  };
}

/** What Terraform fills into the add-ons of cluster "prod" in the sandbox's account. */
export function addonContext(options: ControlPlaneOptions = {}): AddonContext {
  const settings = resolveControlPlaneSettings(options, "10.0.0.0/16");
  return {
    clusterName: "prod",
    region: "eu-west-1",
    kubernetesMinor: settings.version.minor,
    podCidr: settings.podCidr,
    encryptionKeyAliasArn: "arn:aws:kms:eu-west-1:111122223333:alias/k8s/prod",
    controlPlaneArchitecture: settings.architecture,
    terminationQueueUrl: settings.addons.nodeTerminationHandler ? "https://sqs.eu-west-1.amazonaws.com/111122223333/prod-node-termination" : undefined,
    controllerRoleArns: settings.workloadIdentity
      ? Object.fromEntries(
          [
            settings.addons.ebsCsiDriver && EBS_CSI_CONTROLLER_ACCOUNT,
            settings.addons.clusterAutoscaler && CLUSTER_AUTOSCALER_ACCOUNT,
            settings.addons.nodeTerminationHandler && NODE_TERMINATION_HANDLER_ACCOUNT,
          ]
            .filter((account): account is string => typeof account === "string")
            .map((account) => [account, `arn:aws:iam::111122223333:role/${serviceAccountRoleName("prod", "kube-system", account)}`]),
        )
      : {},
  };
}

/** The add-on specification the ControlPlane construct stores for these options. */
export function addonSpec(options: ControlPlaneOptions = {}): string {
  const settings = resolveControlPlaneSettings(options, "10.0.0.0/16");
  return renderAddonSpec(renderAddons(settings.addons, addonContext(options), settings.version.release), settings.version.minor);
}

/**
 * User data, bundle and add-on specification of a control-plane node, as the
 * ControlPlane construct renders them. `calicoSha256` stands in for the pinned
 * checksum, so a sandbox can serve a stand-in manifest.
 */
export function controlPlaneImage(options: ControlPlaneOptions = {}, fixture: { publicLoadBalancerName?: string; calicoSha256?: string } = {}): NodeImage {
  const node = controlPlaneNode(controlPlaneBootstrap(options, fixture.publicLoadBalancerName));
  const bundle = renderBundle(node, "control-plane");
  const pinned = addonSpec(options);
  const spec = fixture.calicoSha256 ? pinned.split(CALICO.manifestSha256).join(fixture.calicoSha256) : pinned;
  return {
    userData: renderUserData(node, bundle),
    bundle,
    objects: { [ADDON_SPEC_KEY]: spec },
    parameters: { [addonSpecChecksumParameter("prod")]: createHash("sha256").update(spec).digest("hex") },
  };
}
