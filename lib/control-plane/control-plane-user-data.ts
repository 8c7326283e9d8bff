import { renderAdmissionConfig, renderAuthenticationConfig } from "../bootstrap/apiserver-config";
import { renderAuditPolicy } from "../bootstrap/audit-policy";
import { containerdInstall } from "../bootstrap/host-config";
import { goDuration, JOIN_TOKEN_DESCRIPTION, renderControlPlaneJoinConfig, renderInitConfig } from "../bootstrap/kubeadm-config";
import { NODE_FILES, RUNTIME_PLACEHOLDERS, placeholder } from "../bootstrap/node-files";
import { CLUSTER_WAIT_SECONDS, LOCK_TIMEOUT_SECONDS, POLL_SECONDS, ROLE_TAG_KEY } from "../bootstrap/node-roles";
import { NodeEnvironment } from "../bootstrap/node-env";
import { longRunningService, periodicJob } from "../bootstrap/systemd";
import { NodeDefinition } from "../bootstrap/user-data";
import { BACKUP_PREFIX } from "../etcd-backup/settings";
import { ETCD_METRIC_NAMESPACE } from "../etcd-backup/etcd-backup";
import { addonSpecChecksumParameter, rolloutParameters, ssmParameterName } from "../naming";
import { UNSET_PARAMETER_VALUE, joinParameterNames } from "./join-parameters";
import { observabilityFiles, observabilityUnits } from "../observability/node-files";
import { CONTROL_PLANE_METRIC_NAMESPACE } from "../observability/settings";
import { clusterTagKey } from "../tags";
import { AWS_CLI_SNAP_CHANNEL, KUBERNETES_APT_KEY_FINGERPRINT } from "../versions";
import { ISSUER_DOCUMENT_KEYS, inClusterIssuer } from "../identity/service-account-issuer";
import { ControlPlaneSettings } from "./settings";

/** Everything a control-plane node's user data depends on: all known at synth time. */
export interface ControlPlaneBootstrap {
  readonly clusterName: string;
  readonly region: string;
  readonly settings: ControlPlaneSettings;
  readonly endpointHost: string;
  readonly endpoint: string;
  readonly kmsKeyAlias: string;
  readonly pkiSecretName: string;
  readonly adminKubeconfigSecretName: string;
  readonly publicLoadBalancerName?: string;
}

/** Bundle scripts of a control-plane node (lib.sh arrives in user data). */
export const CONTROL_PLANE_SCRIPTS = [
  "prepare-node.sh",
  "init-lock.sh",
  "rollout-lock.sh",
  "etcd-members.sh",
  "control-plane.sh",
  "apply-addons.sh",
  "rotate-join-token.sh",
  "etcd.sh",
  "etcd-backup.sh",
  "etcd-restore.sh",
  "publish-metrics.sh",
  "log-shipper.py",
  "approve-node-certificates.sh",
  "renew-admin-kubeconfig.sh",
  "renew-certificates.sh",
  "roll-control-plane.sh",
];

/**
 * How long a control-plane node replaced in a minor upgrade waits for its successor to join (launch, packages,
 * `kubeadm join`) before the rollout stops there.
 */
export const REPLACEMENT_TIMEOUT_SECONDS = 40 * 60;

/** Where the add-on specification lives in the node-artifacts bucket. */
export const ADDON_SPEC_PREFIX = "addons";
export const ADDON_SPEC_KEY = `${ADDON_SPEC_PREFIX}/spec.json`;

function rolloutParameterEnvironment(clusterName: string): NodeEnvironment {
  const p = rolloutParameters(clusterName);
  return { SSM_ROLLOUT_BUNDLE: p.bundle, SSM_ROLLOUT_LOCK: p.lock, SSM_ROLLOUT_STATUS: p.status, SSM_ROLLOUT_PAUSED: p.paused };
}

/**
 * When the join token is renewed: once half its lifetime is gone, by a timer
 * that looks every sixth of it (at most hourly). A published token so keeps a
 * third of its lifetime, less the timer's random spread: over 11 h of a day.
 */
export function joinTokenRotation(ttlMinutes: number): { renewBeforeSeconds: number; everyMinutes: number } {
  return { renewBeforeSeconds: ttlMinutes * 30, everyMinutes: Math.min(60, Math.floor(ttlMinutes / 6)) };
}

export function controlPlaneEnvironment(b: ControlPlaneBootstrap): NodeEnvironment {
  const join = joinParameterNames(b.clusterName);
  return {
    CLUSTER_NAME: b.clusterName,
    AWS_REGION: b.region,
    API_ENDPOINT_HOST: b.endpointHost,
    KUBERNETES_MINOR: b.settings.version.minor,
    KUBERNETES_PATCH_VERSION: b.settings.version.patch,
    KUBERNETES_APT_REPO: b.settings.version.release.aptRepository,
    KUBERNETES_APT_KEY_FINGERPRINT,
    ...containerdInstall(b.settings.version.release.containerd).env,
    AWS_CLI_SNAP_CHANNEL,
    KMS_KEY_ID: b.kmsKeyAlias,
    SECRET_PKI: b.pkiSecretName,
    SECRET_ADMIN_KUBECONFIG: b.adminKubeconfigSecretName,
    SSM_UNSET_VALUE: UNSET_PARAMETER_VALUE,
    SSM_JOIN_TOKEN: join.token,
    SSM_CA_CERT_HASH: join.caCertHash,
    SSM_KUBERNETES_VERSION: join.kubernetesVersion,
    SSM_CONTROL_PLANE_VERSION: join.controlPlaneVersion,
    SSM_INIT_LOCK: ssmParameterName(b.clusterName, "control-plane", "init-lock"),
    ...rolloutParameterEnvironment(b.clusterName),
    // A minor upgrade replaces nodes: the last one finishes it when this many run the new minor.
    CONTROL_PLANE_COUNT: b.settings.count,
    REPLACEMENT_TIMEOUT_SECONDS,
    DRAIN_TIMEOUT_SECONDS: 5 * 60,
    PUBLIC_LB_NAME: b.publicLoadBalancerName ?? "",
    // Control-plane nodes publish the issuer's documents, as their apiserver serves them, to the issuer's bucket.
    WORKLOAD_IDENTITY: b.settings.workloadIdentity,
    ENCRYPTION_AT_REST: b.settings.apiServer.encryptionAtRest,
    ENCRYPTION_CONFIG: NODE_FILES.encryptionConfig,
    KUBEADM_DIR: NODE_FILES.kubeadmDir,
    STATE_DIR: NODE_FILES.stateDir,
    RUNTIME_PLACEHOLDERS: RUNTIME_PLACEHOLDERS.map(placeholder).join(" "),
    CLUSTER_TAG_KEY: clusterTagKey(b.clusterName),
    ROLE_TAG_KEY,
    CLUSTER_WAIT_SECONDS,
    LOCK_TIMEOUT_SECONDS,
    POLL_SECONDS,
    BACKUP_ENABLED: b.settings.etcd.backup !== undefined,
    BACKUP_PREFIX: BACKUP_PREFIX,
    SNAPSHOT_DIR: "/var/lib/etcd",
    METRIC_NAMESPACE: ETCD_METRIC_NAMESPACE,
    RESTORE_FROM: b.settings.etcd.restoreFrom ?? "",
    LOG_SHIPPING: b.settings.observability.logs !== undefined,
    METRICS_ENABLED: b.settings.observability.alarms !== undefined || b.settings.observability.dashboard,
    CONTROL_PLANE_METRIC_NAMESPACE,
    // kubeadm's etcd serves its metrics on loopback.
    ETCD_METRICS_URL: "http://127.0.0.1:2381/metrics",
    ADDON_SPEC_KEY,
    SSM_ADDON_SPEC_SHA256: addonSpecChecksumParameter(b.clusterName),
    // A new instance may wait for the cluster, then install packages, before it asks for its certificate.
    NODE_CLIENT_MAX_INSTANCE_AGE_SECONDS: CLUSTER_WAIT_SECONDS + 45 * 60,
    AUTOAPPROVE_BOOTSTRAP_BINDING: "kubeadm:node-autoapprove-bootstrap",
    JOIN_TOKEN_TTL: goDuration(b.settings.joinTokenTtlMinutes),
    JOIN_TOKEN_TTL_SECONDS: b.settings.joinTokenTtlMinutes * 60,
    JOIN_TOKEN_DESCRIPTION,
    JOIN_TOKEN_RENEW_BEFORE_SECONDS: joinTokenRotation(b.settings.joinTokenTtlMinutes).renewBeforeSeconds,
    // The node's certificates and the stored admin kubeconfig, renewed by daily timers this many days before they expire.
    CERTIFICATE_RENEW_BEFORE_DAYS: b.settings.certificateRenewalDaysBeforeExpiry,
    ADMIN_KUBECONFIG_VALIDITY_DAYS: 365,
  };
}

/** A control-plane node: its environment and the contents of its bundle. */
export function controlPlaneNode(b: ControlPlaneBootstrap): NodeDefinition {
  const s = b.settings;
  const kubeadm = {
    clusterName: b.clusterName,
    controlPlaneEndpoint: b.endpoint,
    podCidr: s.podCidr,
    serviceCidr: s.serviceCidr,
    clusterDomain: s.clusterDomain,
    apiServer: {
      ...s.apiServer,
      publicEndpoint: b.publicLoadBalancerName !== undefined,
      // The issuer's URL names the account, which the node learns at boot (control-plane.sh, service_account_issuer).
      serviceAccountIssuers: s.workloadIdentity
        ? { issuers: [placeholder("SERVICE_ACCOUNT_ISSUER"), inClusterIssuer(s.clusterDomain)], jwksUri: `${placeholder("SERVICE_ACCOUNT_ISSUER")}/${ISSUER_DOCUMENT_KEYS.keys}` }
        : undefined,
    },
    controllerManager: s.controllerManager,
    scheduler: s.scheduler,
    etcd: s.etcd,
    joinTokenTtlMinutes: s.joinTokenTtlMinutes,
  };
  return {
    role: "control-plane",
    env: controlPlaneEnvironment(b),
    scripts: CONTROL_PLANE_SCRIPTS,
    bootstrapScript: "control-plane.sh",
    units: [
      ...periodicJob("kubeadm-aws-join-token", "rotate-join-token.sh", "kubeadm-aws: keep a valid join token in SSM", joinTokenRotation(s.joinTokenTtlMinutes).everyMinutes),
      ...(s.etcd.backup ? periodicJob("kubeadm-aws-etcd-backup", "etcd-backup.sh", "kubeadm-aws: snapshot etcd to S3", s.etcd.backup.intervalMinutes) : []),
      ...periodicJob("kubeadm-aws-metrics", "publish-metrics.sh", "kubeadm-aws: publish certificate, memory and etcd metrics", 5),
      ...periodicJob("kubeadm-aws-addons", "apply-addons.sh", "kubeadm-aws: apply the add-on specification when it changes", 2),
      ...periodicJob("kubeadm-aws-admin-kubeconfig", "renew-admin-kubeconfig.sh", "kubeadm-aws: renew the stored admin kubeconfig before it expires", 24 * 60),
      ...periodicJob("kubeadm-aws-rollout", "roll-control-plane.sh", "kubeadm-aws: take the control plane's current bundle, one node at a time", 2),
      ...periodicJob("kubeadm-aws-certificates", "renew-certificates.sh", "kubeadm-aws: renew this node's kubeadm-managed certificates before they expire", 24 * 60),
      ...containerdInstall(s.version.release.containerd).units,
      longRunningService(
        "kubeadm-aws-approve-node-certificates",
        `${NODE_FILES.scriptsDir}/approve-node-certificates.sh`,
        "kubeadm-aws: approve the certificate requests of this cluster's new instances",
      ),
      ...observabilityUnits(),
    ],
    pauseImage: s.version.release.pauseImage,
    files: [
      { path: `${NODE_FILES.kubeadmDir}/init.yaml`, content: renderInitConfig(kubeadm), permissions: "0600" },
      { path: `${NODE_FILES.kubeadmDir}/join.yaml`, content: renderControlPlaneJoinConfig(kubeadm), permissions: "0600" },
      { path: NODE_FILES.auditPolicy, content: renderAuditPolicy(), permissions: "0600" },
      { path: NODE_FILES.authenticationConfig, content: renderAuthenticationConfig(), permissions: "0600" },
      { path: NODE_FILES.admissionConfig, content: renderAdmissionConfig(s.apiServer.podSecurity), permissions: "0600" },
      ...observabilityFiles(b.clusterName, b.region, "control-plane"),
    ],
  };
}
