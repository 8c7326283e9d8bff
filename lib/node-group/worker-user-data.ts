import { containerdInstall } from "../bootstrap/host-config";
import { UNSET_PARAMETER_VALUE } from "../control-plane/join-parameters";
import { renderKubeletPatch, renderWorkerJoinConfig } from "../bootstrap/kubeadm-config";
import { NODE_FILES, WORKER_PLACEHOLDERS, placeholder } from "../bootstrap/node-files";
import { CLUSTER_WAIT_SECONDS, POLL_SECONDS } from "../bootstrap/node-roles";
import { NodeEnvironment } from "../bootstrap/node-env";
import { NodeDefinition } from "../bootstrap/user-data";
import { AWS_CLI_SNAP_CHANNEL, KUBERNETES_APT_KEY_FINGERPRINT, ResolvedKubernetesVersion } from "../versions";
import { observabilityFiles, observabilityUnits } from "../observability/node-files";
import { NodeGroupSettings } from "./settings";

/** Everything a worker's user data depends on: all known at synth time. */
export interface WorkerBootstrap {
  readonly clusterName: string;
  readonly region: string;
  readonly endpoint: string;
  readonly version: ResolvedKubernetesVersion;
  readonly joinParameters: { readonly token: string; readonly caCertHash: string; readonly kubernetesVersion: string };
  readonly autoScalingGroupName: string;
  readonly launchHookName: string;
  readonly settings: NodeGroupSettings;
  readonly logShipping: boolean;
}

/** Bundle scripts of a worker (lib.sh arrives in user data). */
export const WORKER_SCRIPTS = ["prepare-node.sh", "worker.sh", "log-shipper.py"];
/**
 * How long a worker of the next minor waits for every control-plane node to run it (a minor upgrade), sending its
 * launch hook heartbeats, before it gives up and is replaced.
 */
export const MINOR_UPGRADE_WAIT_SECONDS = 4 * 3600;
/** Time a node has, after it joins, to become Ready before it gives up and is replaced. */
export const NODE_READY_TIMEOUT_SECONDS = 10 * 60;
const PATCHES_DIR = `${NODE_FILES.kubeadmDir}/patches`;

export function workerEnvironment(b: WorkerBootstrap): NodeEnvironment {
  return {
    CLUSTER_NAME: b.clusterName,
    AWS_REGION: b.region,
    NODE_GROUP: b.settings.name,
    KUBERNETES_MINOR: b.version.minor,
    KUBERNETES_PATCH_VERSION: b.version.patch,
    KUBERNETES_APT_REPO: b.version.release.aptRepository,
    KUBERNETES_APT_KEY_FINGERPRINT,
    ...containerdInstall(b.version.release.containerd).env,
    AWS_CLI_SNAP_CHANNEL,
    SSM_UNSET_VALUE: UNSET_PARAMETER_VALUE,
    SSM_JOIN_TOKEN: b.joinParameters.token,
    SSM_CA_CERT_HASH: b.joinParameters.caCertHash,
    SSM_KUBERNETES_VERSION: b.joinParameters.kubernetesVersion,
    AUTO_SCALING_GROUP: b.autoScalingGroupName,
    LAUNCH_HOOK: b.launchHookName,
    KUBEADM_DIR: NODE_FILES.kubeadmDir,
    STATE_DIR: NODE_FILES.stateDir,
    RUNTIME_PLACEHOLDERS: WORKER_PLACEHOLDERS.map(placeholder).join(" "),
    CLUSTER_WAIT_SECONDS,
    NODE_READY_TIMEOUT_SECONDS,
    MINOR_UPGRADE_WAIT_SECONDS,
    POLL_SECONDS,
    LOG_SHIPPING: b.logShipping,
  };
}

/** A worker of one node group: its environment and the contents of its bundle. */
export function workerNode(b: WorkerBootstrap): NodeDefinition {
  const s = b.settings;
  return {
    role: "worker",
    env: workerEnvironment(b),
    scripts: WORKER_SCRIPTS,
    bootstrapScript: "worker.sh",
    units: [...containerdInstall(b.version.release.containerd).units, ...observabilityUnits()],
    pauseImage: b.version.release.pauseImage,
    files: [
      {
        path: `${NODE_FILES.kubeadmDir}/join.yaml`,
        content: renderWorkerJoinConfig(b.endpoint, { labels: s.labels, taints: s.taints, patchesDirectory: PATCHES_DIR }),
        permissions: "0600",
      },
      { path: `${PATCHES_DIR}/kubeletconfiguration+merge.yaml`, content: renderKubeletPatch(s.kubelet) },
      ...observabilityFiles(b.clusterName, b.region, "worker"),
    ],
  };
}
