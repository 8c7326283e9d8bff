import { toYaml } from "../bootstrap/yaml";
import { ROLE_ARN_ANNOTATION, webIdentityPodParts } from "../identity/web-identity";
import { Architecture } from "../instance-types";

/** A file the node downloads, checked against its sha256 before anything uses it. */
export interface AddonDownload {
  readonly url: string;
  readonly sha256: string;
  /** File name inside the add-on's folder. */
  readonly file: string;
}

/** A Helm chart rendered on the node (`helm template`), from a downloaded, checksum-verified chart and Helm. */
export interface AddonHelmChart {
  /** File name of the chart archive among the downloads. */
  readonly chart: string;
  /** File name of the Helm release archive among the downloads. */
  readonly helm: string;
  readonly release: string;
  readonly namespace: string;
  readonly values: Record<string, unknown>;
}

/** How long a serving certificate made on the node is valid, and how early it is renewed. */
export const SERVING_CERTIFICATE_VALID_DAYS = 365;
export const SERVING_CERTIFICATE_RENEW_BEFORE_DAYS = 30;
/** The label that finds every Secret generated for one serving certificate, whatever its hash suffix. */
export const SERVING_CERTIFICATE_LABEL = "kubeadm-aws.io/serving-certificate";

/** Where kube-apiserver reads the CA bundle that verifies a serving certificate, and at which field. */
const CA_BUNDLE_FIELDS = {
  APIService: ["spec.caBundle"],
  // Our webhook configurations have one webhook each.
  MutatingWebhookConfiguration: ["webhooks.0.clientConfig.caBundle"],
} as const;

/**
 * A serving certificate for an API that kube-apiserver calls (an APIService or
 * an admission webhook), so that the apiserver verifies it instead of skipping TLS verification.
 * apply-addons.sh makes it on the node (self-signed, the key never leaves the
 * cluster) and keeps it while more than SERVING_CERTIFICATE_RENEW_BEFORE_DAYS
 * remain. kustomize's secretGenerator turns it into a Secret whose name
 * carries a content hash, so a renewal rolls the pods that mount it, and a
 * replacement copies the Secret's `caBundle` (the current certificate and the
 * one before it) into the object that names the service.
 */
export interface AddonServingCertificate {
  /** The Secret's name before kustomize appends its hash; pods mount it under this name. */
  readonly secretName: string;
  /** DNS names in the certificate. The first is the one the apiserver verifies: `<service>.<namespace>.svc`. */
  readonly dnsNames: string[];
  /** The APIService or MutatingWebhookConfiguration whose caBundle trusts the certificate. */
  readonly trustedBy: { readonly kind: keyof typeof CA_BUNDLE_FIELDS; readonly name: string };
}

/**
 * One cluster add-on as the control plane applies it: a kustomization folder
 * of rendered files and pinned downloads, optionally with a Helm chart
 * rendered into `helm-rendered.yaml`. `order` sorts the folders.
 */
export interface Addon {
  readonly name: string;
  readonly version: string;
  readonly order: number;
  /** Files of the folder the kustomization applies, in order: rendered, downloaded or Helm's output. */
  readonly resources: string[];
  /** Strategic-merge patches among the files. */
  readonly patches?: string[];
  /** Files rendered at synth time, by name. */
  readonly files: Record<string, string>;
  readonly downloads: AddonDownload[];
  readonly helm?: AddonHelmChart;
  readonly servingCertificate?: AddonServingCertificate;
}

/** Every object an add-on applies carries these labels, so an add-on turned off can be found and deleted. */
export function addonLabels(name: string): Record<string, string> {
  return { "app.kubernetes.io/managed-by": "kubeadm-aws", "kubeadm-aws.io/addon": name };
}

/** What add-ons are rendered from: cluster facts, all known when Terraform plans, so the plan shows the whole specification. */
export interface AddonContext {
  readonly clusterName: string;
  readonly region: string;
  readonly kubernetesMinor: string;
  readonly podCidr: string;
  /** The cluster key's alias ARN: EBS accepts it, and unlike the key ARN it is known before the key exists. */
  readonly encryptionKeyAliasArn: string;
  readonly controlPlaneArchitecture: Architecture;
  /** The node-termination queue, when termination handling is on. */
  readonly terminationQueueUrl?: string;
  /**
   * The roles of the add-on controllers that call AWS, by their kube-system service account, when workload identity
   * is on; without one, a controller uses the control-plane instance role.
   */
  readonly controllerRoleArns?: Readonly<Record<string, string>>;
}

/** kustomize's part of a serving certificate: the Secret from the files apply-addons.sh writes, and its CA bundle in the APIService. */
function servingCertificateKustomization(certificate: AddonServingCertificate) {
  return {
    secretGenerator: [
      {
        name: certificate.secretName,
        namespace: "kube-system",
        type: "kubernetes.io/tls",
        files: ["tls.crt", "tls.key", "caBundle=ca-bundle.crt"],
        options: { labels: { [SERVING_CERTIFICATE_LABEL]: certificate.secretName } },
      },
    ],
    replacements: [
      {
        source: { kind: "Secret", name: certificate.secretName, fieldPath: "data.caBundle" },
        targets: [{ select: certificate.trustedBy, fieldPaths: [...CA_BUNDLE_FIELDS[certificate.trustedBy.kind]], options: { create: true } }],
      },
    ],
  };
}

function kustomization(addon: Addon): string {
  return toYaml({
    apiVersion: "kustomize.config.k8s.io/v1beta1",
    kind: "Kustomization",
    // Labels only: selectors of existing Deployments and DaemonSets cannot change.
    labels: [{ pairs: addonLabels(addon.name), includeSelectors: false }],
    resources: addon.resources,
    ...(addon.patches?.length ? { patches: addon.patches.map((path) => ({ path })) } : {}),
    ...(addon.servingCertificate ? servingCertificateKustomization(addon.servingCertificate) : {}),
  });
}

/**
 * The add-on specification: what the plan shows and the control plane
 * applies. Versions, sources with checksums, values and rendered files, each
 * add-on's kustomization among them. `kubernetesMinor` is the minor its
 * add-ons follow: during a minor upgrade, nodes hold it back until every
 * control-plane node runs that minor (apply-addons.sh).
 */
export function renderAddonSpec(addons: Addon[], kubernetesMinor: string): string {
  const sorted = [...addons].sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
  const folders = sorted.map((addon) => ({
    ...addon,
    files: { "kustomization.yaml": kustomization(addon), ...addon.files },
    // The node's renewal policy travels with the certificate, so the script holds no numbers of its own.
    ...(addon.servingCertificate
      ? { servingCertificate: { ...addon.servingCertificate, validDays: SERVING_CERTIFICATE_VALID_DAYS, renewBeforeDays: SERVING_CERTIFICATE_RENEW_BEFORE_DAYS } }
      : {}),
  }));
  return JSON.stringify({ apiVersion: "kubeadm-aws/v1", kind: "AddonSpec", kubernetesMinor, addons: folders }, null, 2);
}

/** Cluster-critical pods kept on control-plane nodes, away from workloads. */
export const CONTROL_PLANE_PLACEMENT = {
  nodeSelector: { "node-role.kubernetes.io/control-plane": "" },
  tolerations: [
    { key: "node-role.kubernetes.io/control-plane", effect: "NoSchedule" },
    { key: "CriticalAddonsOnly", operator: "Exists" },
  ],
  priorityClassName: "system-cluster-critical",
} as const;

/** Pods that run on control-plane nodes with the instance role's AWS credentials: host network (IMDS hop limit 1). */
const CONTROL_PLANE_POD = {
  hostNetwork: true,
  dnsPolicy: "ClusterFirstWithHostNet",
  ...CONTROL_PLANE_PLACEMENT,
} as const;

type Container = { name: string; env?: Array<{ name: string } & Record<string, unknown>>; volumeMounts?: object[] } & Record<string, unknown>;

/**
 * The pod of an add-on controller that calls AWS, on control-plane nodes. With its own role (`roleArn`, IAM roles
 * for service accounts) it runs on the pod network, where IMDS's hop limit of 1 keeps the instance role out of reach,
 * and its AWS containers get the projected STS token and the variables the AWS SDKs read. Without one (workload
 * identity off) it uses the host network and the instance role.
 */
export function awsControllerPod(identity: AddonAwsIdentity | undefined, awsContainers: string[], pod: { containers: Container[]; volumes?: object[] } & Record<string, unknown>) {
  if (!identity) return { ...CONTROL_PLANE_POD, ...pod };
  const parts = webIdentityPodParts(identity.roleArn, identity.region);
  const injected = new Set(parts.env.map((e) => e.name));
  return {
    ...CONTROL_PLANE_PLACEMENT,
    ...pod,
    containers: pod.containers.map((c) =>
      awsContainers.includes(c.name)
        ? { ...c, env: [...(c.env ?? []).filter((e) => !injected.has(e.name)), ...parts.env], volumeMounts: [...(c.volumeMounts ?? []), ...parts.volumeMounts] }
        : c,
    ),
    volumes: [...(pod.volumes ?? []), ...parts.volumes],
  };
}

/** An add-on controller's own IAM role, which its service account's pods assume. */
export interface AddonAwsIdentity {
  readonly roleArn: string;
  readonly region: string;
}

/** The container security context every add-on container gets unless it needs more. */
export const RESTRICTED_CONTAINER = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
} as const;

/** A Deployment in kube-system whose pods carry `labels`, which also select them. */
export function deployment(name: string, labels: Record<string, string>, spec: { replicas: number; strategy?: object }, pod: object) {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: "kube-system", labels },
    spec: { ...spec, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: pod } },
  };
}

export function podDisruptionBudget(name: string, selectorLabels: Record<string, string>, budget: { minAvailable: number } | { maxUnavailable: number }) {
  return { apiVersion: "policy/v1", kind: "PodDisruptionBudget", metadata: { name, namespace: "kube-system" }, spec: { ...budget, selector: { matchLabels: selectorLabels } } };
}

/** A ServiceAccount; with an AWS identity, annotated with its role as the pod identity webhook expects. */
export function serviceAccount(name: string, namespace = "kube-system", identity?: AddonAwsIdentity) {
  const annotations = identity ? { annotations: { [ROLE_ARN_ANNOTATION]: identity.roleArn } } : {};
  return { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace, ...annotations } };
}

export function clusterRoleWithBinding(name: string, account: string, rules: object[], namespace = "kube-system") {
  return [
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name }, rules },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
      subjects: [{ kind: "ServiceAccount", name: account, namespace }],
    },
  ];
}

export function roleWithBinding(name: string, account: string, rules: object[], namespace = "kube-system") {
  return [
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name, namespace }, rules },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, namespace },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name: account, namespace }],
    },
  ];
}
