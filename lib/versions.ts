import { ConfigError } from "./errors";

/**
 * Every pinned version, in one table: Kubernetes minors we support and what
 * each one pairs with. A version bump is a one-line change here plus the test
 * that pins it.
 */
export interface KubernetesRelease {
  /**
   * The patch our real-binary tests build from Go modules (k8s.io/kubernetes)
   * and run: kubeadm, kube-apiserver and kubelet accept what we render.
   */
  readonly testedPatch: string;
  /** pkgs.k8s.io channel of the minor. */
  readonly aptRepository: string;
  /**
   * The pause (sandbox) image kubeadm of this minor expects; containerd must match it. It is
   * kubeadm's PauseVersion (cmd/kubeadm/app/constants/constants.go at the tested patch), and
   * the real-binary tests compare it with `kubeadm config images list`.
   */
  readonly pauseImage: string;
  /** AWS cloud controller manager: its minor must match the cluster's. Pinned by digest where known. */
  readonly cloudControllerManagerImage: string;
  /** Cluster autoscaler: its minor must match the cluster's. */
  readonly clusterAutoscalerImage: string;
  /** Where nodes get containerd from (see ContainerdSource). */
  readonly containerd: ContainerdSource;
}

/**
 * containerd for a minor. Kubernetes 1.35 is the last minor that supports
 * containerd 1.x; Ubuntu 24.04 ships containerd 1.7, so later minors install
 * containerd 2 and runc from their upstream releases, checked by sha256.
 */
export type ContainerdSource =
  | { readonly source: "ubuntu" }
  | {
      readonly source: "release";
      readonly version: string;
      readonly sha256: { readonly amd64: string; readonly arm64: string };
      readonly runc: { readonly version: string; readonly sha256: { readonly amd64: string; readonly arm64: string } };
    };

/**
 * containerd 2.3.4 and runc 1.4.3, the release archives' checksums as Kubespray
 * pins them (roles/kubespray_defaults/vars/main/checksums.yml, August 2026).
 */
export const CONTAINERD_2: ContainerdSource = {
  source: "release",
  version: "2.3.4",
  sha256: {
    amd64: "9d68969855fbf676cdb8ed758e420fb048d61f984f61de3e53eddfebe484d168",
    arm64: "a985fbb7e18fc0362d31a055338f5d7b0e087a3e27f14c70d1c5965399a29f95",
  },
  runc: {
    version: "1.4.3",
    sha256: {
      amd64: "f6ae8efc0fa40079e1475e97cbe9d1bd3f106a28d6af78a11d9f1bd565515e60",
      arm64: "633301e2e32f8a5ad54031aab4901eb00308bec677dd15faa2751e8f9dab5ca4",
    },
  },
};

/*
 * Images run with host access or AWS credentials are pinned by the digest of
 * their multi-arch index, as the Kubernetes image promoter recorded it when it
 * copied the image to registry.k8s.io (github.com/kubernetes/k8s.io,
 * registry.k8s.io/images/<staging project>/images.yaml: k8s-staging-kubernetes
 * for pause, k8s-staging-provider-aws, k8s-staging-autoscaling,
 * k8s-staging-sig-storage). Images without such a record are the exceptions
 * `KA-IMAGE-DIGEST` in SECURITY.md.
 */

/** Minors still supported upstream at the end of 2026 (1.35 until 2027-02, 1.36 until 2027-06). */
export const KUBERNETES_RELEASES: Readonly<Record<string, KubernetesRelease>> = {
  "1.35": {
    testedPatch: "1.35.4",
    aptRepository: "https://pkgs.k8s.io/core:/stable:/v1.35/deb",
    pauseImage: "registry.k8s.io/pause:3.10.1@sha256:278fb9dbcca9518083ad1e11276933a2e96f23de604a3a08cc3c80002767d24c",
    cloudControllerManagerImage:
      "registry.k8s.io/provider-aws/cloud-controller-manager:v1.35.2@sha256:5a5d4e5942ad078a184c12bf5435f8226ccb157ee15e9e1f87c183a4bf4b8f1a",
    clusterAutoscalerImage: "registry.k8s.io/autoscaling/cluster-autoscaler:v1.35.2@sha256:aac369dc283927a623deb1af54696efcc722ae79255aa07788422e495bab887d",
    // Ubuntu 24.04's containerd 1.7, the last line 1.35 supports.
    containerd: { source: "ubuntu" },
  },
  "1.36": {
    testedPatch: "1.36.3",
    aptRepository: "https://pkgs.k8s.io/core:/stable:/v1.36/deb",
    pauseImage: "registry.k8s.io/pause:3.10.2@sha256:f548e0e8e3dc1896ca956272154dde3314e8cc4fde0a57577ee9fa1c63f5baf4",
    cloudControllerManagerImage: "registry.k8s.io/provider-aws/cloud-controller-manager:v1.36.1",
    clusterAutoscalerImage: "registry.k8s.io/autoscaling/cluster-autoscaler:v1.36.1@sha256:461388d03eb5b55db58941ee7a81d9a619dd15302b01cbab9f5a9946715994b4",
    containerd: CONTAINERD_2,
  },
};

export const DEFAULT_KUBERNETES_VERSION = "1.35";

/** Calico: one manifest, checked by sha256 on the node before it is applied. Tested on Kubernetes 1.34 to 1.36. */
export const CALICO = {
  version: "v3.32.1",
  manifestUrl: "https://raw.githubusercontent.com/projectcalico/calico/v3.32.1/manifests/calico.yaml",
  manifestSha256: "a1df919d9721cf667accdc3e72848911b0cb25cfab7d2478ad0c996302c95744",
  /** What that manifest runs, by tag: the manifest is pinned, so these are too, but the registry's tags are not. */
  images: ["quay.io/calico/cni:v3.32.1", "quay.io/calico/node:v3.32.1", "quay.io/calico/kube-controllers:v3.32.1"],
} as const;

/**
 * Cilium, from its Helm chart (checked by sha256) rendered with Helm on the node. Tested on Kubernetes 1.32 to 1.35.
 * The chart names its images by digest (`useDigest: true` in its values), so the pinned chart pins them.
 */
export const CILIUM = {
  version: "1.19.6",
  chartUrl: "https://helm.cilium.io/cilium-1.19.6.tgz",
  chartSha256: "21c43cf53841f9ab0375047d95aa4c64051ea52bbd2c679416e6408f5f1c9179",
} as const;

/** Helm renders charts on the node (`helm template`); the release archive is checked by sha256. */
export const HELM = {
  version: "v3.19.0",
  sha256: {
    amd64: "a7f81ce08007091b86d8bd696eb4d86b8d0f2e1b9f6c714be62f82f96a594496",
    arm64: "440cf7add0aee27ebc93fada965523c1dc2e0ab340d4348da2215737fc0d76ad",
  },
} as const;

export const EBS_CSI_DRIVER = {
  version: "v1.64.0",
  images: {
    driver: "public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver:v1.64.0",
    // The upstream Kubernetes CSI sidecars, whose digests the Kubernetes image promoter publishes.
    provisioner: "registry.k8s.io/sig-storage/csi-provisioner:v6.3.0@sha256:a4b0b1a37605b7b04a293e136edf7006ec1786a8eb3f4e5a945f81d667dcc371",
    attacher: "registry.k8s.io/sig-storage/csi-attacher:v4.12.0@sha256:b9dc9a714a484ccdeeb6f86d88d4db9b7a5ecfc5a55da6db3a60bb3fa33c278a",
    resizer: "registry.k8s.io/sig-storage/csi-resizer:v2.2.1@sha256:ea1d25e23479000c7e8eeb92d827df66258df4e482ca054c5e7ce3fc0f5c41a5",
    livenessProbe: "registry.k8s.io/sig-storage/livenessprobe:v2.19.0@sha256:06da0d5b8908072f2e4522692aee8dc119fba7247a9658497e1153992cd777e9",
    nodeDriverRegistrar: "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.17.0@sha256:f9de845b170155199f2a2a3f9531cf13d78e31235e9db6b6582a8b0db0a50dad",
  },
} as const;

/** metrics-server 0.9 supports Kubernetes 1.34 and later. */
export const METRICS_SERVER_IMAGE = "registry.k8s.io/metrics-server/metrics-server:v0.9.0";

export const NODE_TERMINATION_HANDLER_IMAGE = "public.ecr.aws/aws-ec2/aws-node-termination-handler:v1.25.6";

/**
 * The Amazon EKS Pod Identity Webhook, v0.6.17 (2026-05-18, the newest release; admission reviews v1beta1). The
 * digest is of its multi-architecture manifest list, as a public project records it (`docker buildx imagetools
 * inspect`); no registry is reachable here to confirm it: before a release, check it with
 * `crane digest public.ecr.aws/eks/amazon-eks-pod-identity-webhook:v0.6.17`.
 */
export const POD_IDENTITY_WEBHOOK_IMAGE =
  "public.ecr.aws/eks/amazon-eks-pod-identity-webhook:v0.6.17@sha256:3071570e8e8cba6d5aff01e86d52bc91025a0578782aa9cd2b681480845b0a50";

/**
 * The key that signs pkgs.k8s.io's repositories ("isv:kubernetes OBS Project"),
 * by fingerprint: nodes refuse a downloaded Release.key that is not exactly
 * this key. Source: `gpg --show-keys` of pkgs.k8s.io/core:/stable:/v1.27/deb/Release.key
 * in kubernetes/kubernetes#128609; the key was re-issued with a later expiry
 * and the same fingerprint (kubernetes/release#3818).
 */
export const KUBERNETES_APT_KEY_FINGERPRINT = "DE15B14486CD377B9E876E1A234654DA9A296436";

/** The AWS CLI v2 comes from its snap on Ubuntu 24.04, tracking this channel. */
export const AWS_CLI_SNAP_CHANNEL = "v2/stable";

export interface ResolvedKubernetesVersion {
  /** "1.35" */
  readonly minor: string;
  /** The patch nodes install: the one asked for ("1.35.2"), or the minor's tested patch. */
  readonly patch: string;
  readonly release: KubernetesRelease;
}

/**
 * Accepts a supported minor ("1.35") or an exact patch of one ("1.35.2"). A
 * minor means its tested patch: nodes launched on different days install the
 * same version, the one the real-binary tests ran.
 */
export function resolveKubernetesVersion(version: string, property = "kubernetesVersion"): ResolvedKubernetesVersion {
  const match = /^v?(\d+\.\d+)(\.\d+)?$/.exec(version);
  const minor = match?.[1];
  const release = minor ? KUBERNETES_RELEASES[minor] : undefined;
  if (!match || !release) {
    throw new ConfigError(
      property,
      `${JSON.stringify(version)} is not a supported Kubernetes version; use one of ${Object.keys(KUBERNETES_RELEASES).join(", ")}, or an exact patch such as "${DEFAULT_KUBERNETES_VERSION}.2"`,
    );
  }
  return { minor: minor!, patch: match[2] ? `${minor}${match[2]}` : release.testedPatch, release };
}
