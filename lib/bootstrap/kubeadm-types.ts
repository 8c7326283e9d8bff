/**
 * The subset of kubeadm.k8s.io/v1beta4, kubelet.config.k8s.io/v1beta1 and
 * kubeproxy.config.k8s.io/v1alpha1 that we render. Field names follow the
 * upstream JSON tags; a test checks rendered configs against the upstream types.
 */

/** v1beta4 lists component flags as name/value pairs (a flag may repeat). */
export interface Arg {
  readonly name: string;
  readonly value: string;
}

export interface HostPathMount {
  readonly name: string;
  readonly hostPath: string;
  readonly mountPath: string;
  readonly readOnly?: boolean;
  readonly pathType?: "DirectoryOrCreate" | "Directory" | "FileOrCreate" | "File";
}

export interface ControlPlaneComponent {
  readonly extraArgs?: Arg[];
  readonly extraVolumes?: HostPathMount[];
}

export interface Taint {
  readonly key: string;
  readonly value?: string;
  readonly effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
}

export interface NodeRegistrationOptions {
  readonly name?: string;
  readonly criSocket?: string;
  readonly taints?: Taint[];
  readonly kubeletExtraArgs?: Arg[];
  readonly ignorePreflightErrors?: string[];
  readonly imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
}

export interface Timeouts {
  readonly controlPlaneComponentHealthCheck?: string;
  readonly kubeletHealthCheck?: string;
  readonly kubernetesAPICall?: string;
  readonly etcdAPICall?: string;
  readonly tlsBootstrap?: string;
  readonly discovery?: string;
}

export interface BootstrapToken {
  readonly token: string;
  readonly description?: string;
  readonly ttl?: string;
  readonly usages?: string[];
  readonly groups?: string[];
}

export interface ClusterConfiguration {
  readonly apiVersion: "kubeadm.k8s.io/v1beta4";
  readonly kind: "ClusterConfiguration";
  readonly clusterName: string;
  readonly kubernetesVersion: string;
  readonly controlPlaneEndpoint: string;
  readonly networking: { readonly podSubnet: string; readonly serviceSubnet: string; readonly dnsDomain: string };
  readonly apiServer: ControlPlaneComponent & { readonly certSANs?: string[] };
  readonly controllerManager: ControlPlaneComponent;
  readonly scheduler: ControlPlaneComponent;
  readonly etcd: { readonly local: { readonly extraArgs?: Arg[]; readonly dataDir?: string } };
  readonly featureGates?: Record<string, boolean>;
}

export interface InitConfiguration {
  readonly apiVersion: "kubeadm.k8s.io/v1beta4";
  readonly kind: "InitConfiguration";
  readonly bootstrapTokens: BootstrapToken[];
  readonly nodeRegistration: NodeRegistrationOptions;
  readonly skipPhases?: string[];
  readonly timeouts?: Timeouts;
}

export interface JoinConfiguration {
  readonly apiVersion: "kubeadm.k8s.io/v1beta4";
  readonly kind: "JoinConfiguration";
  readonly discovery: {
    readonly bootstrapToken: { readonly apiServerEndpoint: string; readonly token: string; readonly caCertHashes: string[] };
  };
  readonly nodeRegistration: NodeRegistrationOptions;
  readonly controlPlane?: { readonly localAPIEndpoint?: { readonly advertiseAddress?: string; readonly bindPort?: number } };
  readonly patches?: { readonly directory: string };
  readonly timeouts?: Timeouts;
}

export interface KubeletConfiguration {
  readonly apiVersion: "kubelet.config.k8s.io/v1beta1";
  readonly kind: "KubeletConfiguration";
  readonly [field: string]: unknown;
}

export interface KubeProxyConfiguration {
  readonly apiVersion: "kubeproxy.config.k8s.io/v1alpha1";
  readonly kind: "KubeProxyConfiguration";
  readonly [field: string]: unknown;
}
