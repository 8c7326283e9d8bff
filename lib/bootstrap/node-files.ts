/**
 * Paths on the node that renderers, scripts and kubeadm configs agree on.
 * Scripts get them through the environment file, never by string interpolation.
 */
export const NODE_FILES = {
  /** Environment file that configures every script. */
  envFile: "/etc/kubeadm-aws/node.env",
  /**
   * The same environment but for the bundle's own key and checksum, inside the bundle: a running control-plane node
   * that takes a new bundle (roll-control-plane.sh) takes its environment from it.
   */
  bundleEnvFile: "/etc/kubeadm-aws/bundle.env",
  scriptsDir: "/opt/kubeadm-aws/bin",
  kubeadmDir: "/etc/kubeadm-aws/kubeadm",
  /** Markers of completed steps, so a rerun skips them. */
  stateDir: "/var/lib/kubeadm-aws",
  auditPolicy: "/etc/kubernetes/audit/policy.yaml",
  auditLogDir: "/var/log/kubernetes/audit",
  encryptionConfig: "/etc/kubernetes/encryption/config.yaml",
  /** Structured authentication and admission configuration of the kube-apiserver (one read-only mount). */
  authenticationConfig: "/etc/kubernetes/apiserver/authentication.yaml",
  admissionConfig: "/etc/kubernetes/apiserver/admission.yaml",
  /** The cluster CA, which kubeadm writes and every component trusts. */
  clusterCa: "/etc/kubernetes/pki/ca.crt",
} as const;

/**
 * Values only the node knows, which scripts substitute into rendered kubeadm
 * configs with `envsubst` restricted to exactly these names.
 */
export const RUNTIME_PLACEHOLDERS = ["KUBERNETES_VERSION", "JOIN_TOKEN", "CA_CERT_HASH", "PUBLIC_API_HOST", "SERVICE_ACCOUNT_ISSUER"] as const;
export type RuntimePlaceholder = (typeof RUNTIME_PLACEHOLDERS)[number];
/** A worker's join configuration holds no ClusterConfiguration, so none of the control plane's own values. */
export const WORKER_PLACEHOLDERS: RuntimePlaceholder[] = ["KUBERNETES_VERSION", "JOIN_TOKEN", "CA_CERT_HASH", "PUBLIC_API_HOST"];

export function placeholder(name: RuntimePlaceholder): string {
  return `\${${name}}`;
}
