import { Token } from "cdktf";
import { ConfigError } from "../errors";
import { validatePrincipalArns } from "../iam";
import { Architecture, validateControlPlaneInstanceType } from "../instance-types";
import { cidrsOverlap, parseCidr } from "../network/cidr";
import { AddonsOptions, AddonsSettings, resolveAddonsSettings } from "../addons";
import { ObservabilitySettings, resolveObservabilitySettings } from "../observability/settings";
import { EtcdBackupOptions, EtcdBackupSettings, resolveEtcdBackupSettings, validateRestoreSource } from "../etcd-backup/settings";
import { ANONYMOUS_PATHS, POD_SECURITY_LEVELS, PodSecurityDefaults, PodSecurityLevel } from "../bootstrap/apiserver-config";
import { DEFAULT_KUBERNETES_VERSION, ResolvedKubernetesVersion, resolveKubernetesVersion } from "../versions";

/** kube-apiserver settings. */
export interface ApiServerOptions {
  /** Flags as name to value, without "--"; they override ours by name. @default - none */
  readonly extraArgs?: Record<string, string>;
  /** Extra names and IPs for the serving certificate. @default - the endpoint names only */
  readonly certSANs?: string[];
  /**
   * An internet-facing endpoint, open only to these CIDRs.
   * @default - none: the API is reachable from inside the VPC only
   */
  readonly publicAccess?: {
    /** IPv4 CIDRs allowed to reach the public endpoint on 6443. */
    readonly allowedCidrs: string[];
  };
  /** Audit log rotation on the node. @default - 30 days, 10 files of 100 MiB */
  readonly audit?: {
    /** Days a rotated audit log file is kept (1 to 3650). @default 30 */
    readonly maxAgeDays?: number;
    /** Rotated audit log files kept (1 to 1000). @default 10 */
    readonly maxBackups?: number;
    /** Size in MiB at which the audit log rotates (1 to 10240). @default 100 */
    readonly maxSizeMiB?: number;
  };
  /** Encrypt Secrets at rest, with a key born on the first node. @default true */
  readonly encryptionAtRest?: boolean;
  /**
   * Cluster-wide Pod Security Admission defaults. A namespace can still choose
   * its own level with the `pod-security.kubernetes.io/*` labels.
   * @default - enforce "baseline", audit and warn "restricted", kube-system exempt
   */
  readonly podSecurity?: PodSecurityOptions;
}

export interface PodSecurityOptions {
  /** Pods that break this level are rejected. @default "baseline" */
  readonly enforce?: PodSecurityLevel;
  /** Pods that break this level are recorded in the audit log. @default "restricted" */
  readonly audit?: PodSecurityLevel;
  /** Pods that break this level produce a warning for the client. @default "restricted" */
  readonly warn?: PodSecurityLevel;
  /** Namespaces never checked: those that run node-level system pods. @default ["kube-system"] */
  readonly exemptNamespaces?: string[];
}

/** Who may read the admin kubeconfig from Secrets Manager. */
export interface AdminAccessOptions {
  /**
   * IAM role or user ARNs allowed to read the admin kubeconfig; everyone else
   * is denied by the secret's resource policy, whatever their IAM policies say.
   * Wildcards are allowed in the path (`arn:aws:iam::111122223333:role/platform/*`).
   * @default - the principal that runs the deploy (read with `aws_caller_identity`)
   */
  readonly principalArns?: string[];
}

export interface ComponentOptions {
  /** Flags as name to value, without "--". @default - none */
  readonly extraArgs?: Record<string, string>;
}

/** etcd, stacked on the control-plane nodes. */
export interface EtcdOptions extends ComponentOptions {
  /** Scheduled snapshots to S3. @default - every 15 minutes, kept 7 days, dailies 90 days */
  readonly backup?: EtcdBackupOptions;
  /**
   * Build the control plane from this snapshot ("s3://bucket/key.db"), reusing
   * the PKI kept in Secrets Manager, after losing every control-plane node.
   * @default - a new, empty cluster
   */
  readonly restoreFrom?: string;
}

export interface ControllerManagerOptions extends ComponentOptions {
  /**
   * The --controllers list.
   * @default ["*", "bootstrapsigner", "tokencleaner"]: every default controller (node, replication,
   * endpoint, service-account and the rest) plus the two that bootstrap tokens need
   */
  readonly controllers?: string[];
}

export interface ControlPlaneOptions {
  /** Control-plane nodes: 1, 3 or 5, one Auto Scaling group each, spread over the zones. @default 3 */
  readonly count?: number;
  /** At least 2 vCPU and 2 GiB. @default "m7i.large" */
  readonly instanceType?: string;
  /** A supported minor ("1.35") or an exact patch ("1.35.2"). @default "1.35" */
  readonly kubernetesVersion?: string;
  /** The pods' address range; it must not overlap the VPC or the service range. @default "192.168.0.0/16" */
  readonly podCidr?: string;
  /** The Services' virtual address range; it must not overlap the VPC or the pod range. @default "10.96.0.0/12" */
  readonly serviceCidr?: string;
  /** The DNS domain of Services (`<service>.<namespace>.svc.<domain>`). @default "cluster.local" */
  readonly clusterDomain?: string;
  /**
   * An explicit AMI id (Ubuntu 24.04 based). Pin one to control when nodes change.
   * @default - the newest Ubuntu 24.04 LTS, resolved by EC2 at each launch from Canonical's public SSM parameter
   */
  readonly ami?: string;
  /** Size of each control-plane node's encrypted gp3 root volume, which holds etcd's data (20 to 16384). @default 50 */
  readonly rootVolumeSizeGiB?: number;
  /** Deletion protection on the API load balancers. @default false */
  readonly deletionProtection?: boolean;
  /** Days Secrets Manager keeps the cluster's secrets after a destroy (0 deletes at once, or 7 to 30). @default 7 */
  readonly secretsRecoveryWindowDays?: number;
  /** The CNI and the add-ons the control plane applies. @default - Calico and every add-on */
  readonly addons?: AddonsOptions;
  /** Who may read the admin kubeconfig. @default - the deploying principal */
  readonly adminAccess?: AdminAccessOptions;
  /**
   * Lifetime, in minutes (6 to 1440), of the bootstrap tokens new nodes join with. The control plane keeps one in SSM
   * and renews it once half its lifetime is gone, checking every sixth of it (at most hourly), so a joining node
   * always reads a token with about a third of its lifetime left; the node reads it just before `kubeadm join`.
   * A shorter lifetime narrows the use of a leaked token.
   * @default 1440 (a day)
   */
  readonly joinTokenTtlMinutes?: number;
  /**
   * Days (2 to 180) before expiry at which the control plane renews its kubeadm-managed certificates (apiserver,
   * etcd, front proxy, the components' kubeconfigs) and the stored admin kubeconfig, with no manual step. kubeadm
   * issues them for a year. The nodes take turns, a day apart, because renewing restarts a node's etcd member and
   * components; the certificate alarm (`observability.alarms.certificateDaysThreshold`) must fire only after the
   * last node's turn.
   * @default 30
   */
  readonly certificateRenewalDaysBeforeExpiry?: number;
  /**
   * IAM roles for service accounts: kube-apiserver signs service-account tokens as an issuer that AWS IAM trusts
   * (an S3 bucket serving the issuer's discovery document and public keys, and an IAM OpenID Connect provider),
   * keeping the in-cluster issuer for tokens it signed before. The keys are born on the first control-plane node.
   * The account's S3 Block Public Access must allow public bucket policies (README, "Workload identity"); turn this
   * off where it cannot.
   * @default true
   */
  readonly workloadIdentity?: boolean;
  /** kube-apiserver settings. A change rolls out to the running control plane ("Upgrading"). @default - see ApiServerOptions */
  readonly apiServer?: ApiServerOptions;
  /** etcd settings: flags, backups and a restore. @default - see EtcdOptions */
  readonly etcd?: EtcdOptions;
  /** kube-scheduler flags. A change rolls out to the running control plane. @default - kubeadm's, with ours */
  readonly scheduler?: ComponentOptions;
  /** kube-controller-manager settings. A change rolls out to the running control plane. @default - see ControllerManagerOptions */
  readonly controllerManager?: ControllerManagerOptions;
}

/** Props resolved and checked: what the constructs and renderers use. */
export interface ControlPlaneSettings {
  readonly count: number;
  readonly instanceType: string;
  readonly architecture: Architecture;
  readonly version: ResolvedKubernetesVersion;
  readonly podCidr: string;
  readonly serviceCidr: string;
  readonly clusterDomain: string;
  readonly ami?: string;
  readonly rootVolumeSizeGiB: number;
  readonly deletionProtection: boolean;
  readonly secretsRecoveryWindowDays: number;
  readonly observability: ObservabilitySettings;
  readonly addons: AddonsSettings;
  readonly apiServer: {
    readonly extraArgs: Record<string, string>;
    readonly certSANs: string[];
    readonly publicAllowedCidrs?: string[];
    readonly audit: { readonly maxAgeDays: number; readonly maxBackups: number; readonly maxSizeMiB: number };
    readonly encryptionAtRest: boolean;
    readonly podSecurity: PodSecurityDefaults;
  };
  /** Principals allowed to read the admin kubeconfig; undefined means the deploying principal. */
  readonly adminPrincipalArns?: string[];
  readonly workloadIdentity: boolean;
  readonly joinTokenTtlMinutes: number;
  readonly certificateRenewalDaysBeforeExpiry: number;
  readonly etcd: { readonly extraArgs: Record<string, string>; readonly backup?: EtcdBackupSettings; readonly restoreFrom?: string };
  readonly scheduler: { readonly extraArgs: Record<string, string> };
  readonly controllerManager: { readonly extraArgs: Record<string, string>; readonly controllers: string[] };
}

export const CONTROL_PLANE_COUNTS = [1, 3, 5];
export const DEFAULT_CONTROLLERS = ["*", "bootstrapsigner", "tokencleaner"];
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const FLAG_NAME = /^[a-z0-9][a-z0-9-]*$/;
const CONTROLLER = /^-?([a-z0-9][a-z0-9-]*|\*)$/;
const IPV4 = /^(\d{1,3}\.){3}\d{1,3}$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * `observability`: the cluster services' settings (`ClusterServices`), which the nodes follow (log shipping, metrics)
 * and the certificate renewal is checked against.
 */
export function resolveControlPlaneSettings(
  options: ControlPlaneOptions,
  vpcCidr: string,
  observability: ObservabilitySettings = resolveObservabilitySettings({}),
): ControlPlaneSettings {
  const count = options.count ?? 3;
  if (!CONTROL_PLANE_COUNTS.includes(count)) {
    throw new ConfigError("count", `${count} is not allowed; use 1, 3 or 5 (an odd count keeps etcd's quorum)`);
  }
  const instanceType = options.instanceType ?? "m7i.large";
  const architecture = validateControlPlaneInstanceType(instanceType, "instanceType");
  const version = resolveKubernetesVersion(options.kubernetesVersion ?? DEFAULT_KUBERNETES_VERSION);
  const podCidr = options.podCidr ?? "192.168.0.0/16";
  const serviceCidr = options.serviceCidr ?? "10.96.0.0/12";
  validateClusterCidrs(podCidr, serviceCidr, vpcCidr);
  const clusterDomain = options.clusterDomain ?? "cluster.local";
  if (!DNS_NAME.test(clusterDomain)) throw new ConfigError("clusterDomain", `${JSON.stringify(clusterDomain)} is not a DNS name such as "cluster.local"`);
  if (options.ami !== undefined && !/^ami-[0-9a-f]{8,17}$/.test(options.ami)) {
    throw new ConfigError("ami", `${JSON.stringify(options.ami)} is not an AMI id such as "ami-0123456789abcdef0"`);
  }
  const rootVolumeSizeGiB = wholeNumber(options.rootVolumeSizeGiB ?? 50, "rootVolumeSizeGiB", 20, 16384);
  const secretsRecoveryWindowDays = options.secretsRecoveryWindowDays ?? 7;
  if (secretsRecoveryWindowDays !== 0) wholeNumber(secretsRecoveryWindowDays, "secretsRecoveryWindowDays", 7, 30);
  const certificateRenewalDaysBeforeExpiry = resolveCertificateRenewal(options.certificateRenewalDaysBeforeExpiry ?? 30, count, observability);

  const apiServer = options.apiServer ?? {};
  const audit = apiServer.audit ?? {};
  const controllers = options.controllerManager?.controllers ?? DEFAULT_CONTROLLERS;
  validateControllers(controllers);
  const controllerManagerArgs = extraArgs(options.controllerManager?.extraArgs, "controllerManager.extraArgs");
  if ("controllers" in controllerManagerArgs) {
    throw new ConfigError("controllerManager.extraArgs", 'sets "controllers"; use controllerManager.controllers instead');
  }
  return {
    count,
    instanceType,
    architecture,
    version,
    podCidr,
    serviceCidr,
    clusterDomain,
    ami: options.ami,
    rootVolumeSizeGiB,
    deletionProtection: options.deletionProtection ?? false,
    secretsRecoveryWindowDays,
    observability,
    addons: resolveAddonsSettings(options.addons ?? {}, options.workloadIdentity ?? true),
    adminPrincipalArns: options.adminAccess?.principalArns === undefined ? undefined : validatePrincipalArns(options.adminAccess.principalArns, "adminAccess.principalArns"),
    workloadIdentity: options.workloadIdentity ?? true,
    joinTokenTtlMinutes: wholeNumber(options.joinTokenTtlMinutes ?? 24 * 60, "joinTokenTtlMinutes", 6, 24 * 60),
    certificateRenewalDaysBeforeExpiry,
    apiServer: {
      extraArgs: apiServerExtraArgs(apiServer.extraArgs, options.workloadIdentity ?? true),
      certSANs: validateCertSans(apiServer.certSANs ?? []),
      publicAllowedCidrs: apiServer.publicAccess ? validateAllowedCidrs(apiServer.publicAccess.allowedCidrs) : undefined,
      audit: {
        maxAgeDays: wholeNumber(audit.maxAgeDays ?? 30, "apiServer.audit.maxAgeDays", 1, 3650),
        maxBackups: wholeNumber(audit.maxBackups ?? 10, "apiServer.audit.maxBackups", 1, 1000),
        maxSizeMiB: wholeNumber(audit.maxSizeMiB ?? 100, "apiServer.audit.maxSizeMiB", 1, 10240),
      },
      encryptionAtRest: apiServer.encryptionAtRest ?? true,
      podSecurity: resolvePodSecurity(apiServer.podSecurity ?? {}),
    },
    etcd: {
      extraArgs: etcdExtraArgs(options.etcd ?? {}),
      backup: resolveEtcdBackupSettings(options.etcd?.backup ?? {}),
      restoreFrom: options.etcd?.restoreFrom === undefined ? undefined : validateRestoreSource(options.etcd.restoreFrom),
    },
    scheduler: { extraArgs: extraArgs(options.scheduler?.extraArgs, "scheduler.extraArgs") },
    controllerManager: { extraArgs: controllerManagerArgs, controllers },
  };
}

/**
 * The renewal days, checked against the alarm that backs them up: node n renews n days after the first, so the
 * alarm must stay quiet until the last node's turn has passed, or it fires on every healthy cluster once a year.
 */
function resolveCertificateRenewal(days: number, count: number, observability: ObservabilitySettings): number {
  wholeNumber(days, "certificateRenewalDaysBeforeExpiry", 2, 180);
  const lastTurn = days - (count - 1);
  const alarmDays = observability.alarms?.certificateDaysThreshold;
  if (alarmDays !== undefined && alarmDays >= lastTurn) {
    throw new ConfigError(
      "certificateRenewalDaysBeforeExpiry",
      `${days} lets the last of ${count} control-plane nodes renew at ${lastTurn} days left, but observability.alarms.certificateDaysThreshold (${alarmDays}) ` +
        `fires first; renew at ${alarmDays + count} days or more, or lower the alarm threshold below ${lastTurn}`,
    );
  }
  return days;
}

function validateClusterCidrs(podCidr: string, serviceCidr: string, vpcCidr: string): void {
  const pods = parseCidr(podCidr, "podCidr");
  const services = parseCidr(serviceCidr, "serviceCidr");
  if (pods.prefix > 24) throw new ConfigError("podCidr", `${podCidr} is too small; use a /24 or larger (Calico hands out /26 blocks per node)`);
  if (services.prefix > 24 || services.prefix < 12) {
    throw new ConfigError("serviceCidr", `${serviceCidr} has prefix /${services.prefix}; the apiserver accepts /12 to /24`);
  }
  if (cidrsOverlap(pods, services)) throw new ConfigError("podCidr", `${podCidr} overlaps serviceCidr ${serviceCidr}; they must be disjoint`);
  if (Token.isUnresolved(vpcCidr)) return;
  const vpc = parseCidr(vpcCidr, "vpcCidr");
  if (cidrsOverlap(pods, vpc)) throw new ConfigError("podCidr", `${podCidr} overlaps the VPC CIDR ${vpcCidr}; pod addresses must be outside the VPC`);
  if (cidrsOverlap(services, vpc)) throw new ConfigError("serviceCidr", `${serviceCidr} overlaps the VPC CIDR ${vpcCidr}; service addresses must be outside the VPC`);
}

function extraArgs(args: Record<string, string> | undefined, property: string): Record<string, string> {
  for (const [name, value] of Object.entries(args ?? {})) {
    if (!FLAG_NAME.test(name)) {
      throw new ConfigError(property, `flag name ${JSON.stringify(name)} is invalid; give names without "--", such as "v" or "audit-log-maxage"`);
    }
    if (typeof value !== "string") throw new ConfigError(property, `value of ${name} must be a string, got ${JSON.stringify(value)}`);
  }
  return { ...(args ?? {}) };
}

/**
 * Flags that cannot be combined with the structured authentication
 * configuration: the apiserver refuses to start with them.
 */
const CONFLICTS_WITH_AUTHENTICATION_CONFIG = /^(anonymous-auth|oidc-.+)$/;

/** Flags that workloadIdentity sets: the issuers (ours first) and where the public keys are. */
const SET_BY_WORKLOAD_IDENTITY = ["service-account-issuer", "service-account-jwks-uri"];

function apiServerExtraArgs(args: Record<string, string> | undefined, workloadIdentity: boolean): Record<string, string> {
  const resolved = extraArgs(args, "apiServer.extraArgs");
  const issuerFlag = workloadIdentity ? Object.keys(resolved).find((name) => SET_BY_WORKLOAD_IDENTITY.includes(name)) : undefined;
  if (issuerFlag !== undefined) {
    throw new ConfigError("apiServer.extraArgs", `sets "${issuerFlag}", which workloadIdentity sets (the issuer AWS IAM trusts); remove it, or set workloadIdentity to false`);
  }
  const conflict = Object.keys(resolved).find((name) => CONFLICTS_WITH_AUTHENTICATION_CONFIG.test(name));
  if (conflict !== undefined) {
    throw new ConfigError(
      "apiServer.extraArgs",
      `sets "${conflict}", which kube-apiserver rejects next to --authentication-config (anonymous access is already limited to ${ANONYMOUS_PATHS.join(", ")}); remove it`,
    );
  }
  return resolved;
}

function resolvePodSecurity(options: PodSecurityOptions): PodSecurityDefaults {
  const level = (value: string | undefined, property: string, fallback: PodSecurityLevel): PodSecurityLevel => {
    const chosen = value ?? fallback;
    if (!(POD_SECURITY_LEVELS as readonly string[]).includes(chosen)) {
      throw new ConfigError(`apiServer.podSecurity.${property}`, `${JSON.stringify(chosen)} is not a Pod Security level; use one of ${POD_SECURITY_LEVELS.join(", ")}`);
    }
    return chosen as PodSecurityLevel;
  };
  const exemptNamespaces = options.exemptNamespaces ?? ["kube-system"];
  const bad = exemptNamespaces.find((ns) => !NAMESPACE.test(ns));
  if (bad !== undefined) throw new ConfigError("apiServer.podSecurity.exemptNamespaces", `${JSON.stringify(bad)} is not a namespace name (lowercase DNS label)`);
  return {
    enforce: level(options.enforce, "enforce", "baseline"),
    audit: level(options.audit, "audit", "restricted"),
    warn: level(options.warn, "warn", "restricted"),
    exemptNamespaces: [...new Set(exemptNamespaces)],
  };
}

/** Backups upload a snapshot in one S3 request, which carries at most 5 GiB: the database may not outgrow it. */
export const MAX_BACKED_UP_ETCD_QUOTA_BYTES = 5 * 1024 ** 3;

function etcdExtraArgs(etcd: EtcdOptions): Record<string, string> {
  const args = extraArgs(etcd.extraArgs, "etcd.extraArgs");
  const quota = args["quota-backend-bytes"];
  if (quota !== undefined && etcd.backup?.enabled !== false && !(Number(quota) > 0 && Number(quota) <= MAX_BACKED_UP_ETCD_QUOTA_BYTES)) {
    throw new ConfigError(
      'etcd.extraArgs["quota-backend-bytes"]',
      `${JSON.stringify(quota)} is not allowed with backups on; use a number of bytes up to ${MAX_BACKED_UP_ETCD_QUOTA_BYTES} (5 GiB, what one S3 upload carries)`,
    );
  }
  return args;
}


function validateControllers(controllers: string[]): void {
  const bad = controllers.find((c) => !CONTROLLER.test(c));
  if (bad !== undefined || controllers.length === 0) {
    throw new ConfigError(
      "controllerManager.controllers",
      `${JSON.stringify(bad ?? controllers)} is invalid; list "*" (the defaults), controller names such as "bootstrapsigner", or "-name" to disable one`,
    );
  }
}

function validateCertSans(sans: string[]): string[] {
  const bad = sans.find((san) => !DNS_NAME.test(san) && !IPV4.test(san) && !/^\*\.[a-z0-9.-]+$/.test(san));
  if (bad !== undefined) throw new ConfigError("apiServer.certSANs", `${JSON.stringify(bad)} is neither a DNS name nor an IPv4 address`);
  return sans;
}

function validateAllowedCidrs(cidrs: string[]): string[] {
  if (cidrs.length === 0) {
    throw new ConfigError("apiServer.publicAccess.allowedCidrs", 'must list at least one CIDR; write "0.0.0.0/0" explicitly to open the API to the internet');
  }
  cidrs.forEach((cidr) => parseCidr(cidr, "apiServer.publicAccess.allowedCidrs"));
  return cidrs;
}

function wholeNumber(value: number, property: string, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(property, `${value} is not allowed; use a whole number from ${min} to ${max}`);
  }
  return value;
}
