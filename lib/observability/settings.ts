import { ConfigError } from "../errors";
import { validateRetentionDays } from "../log-retention";

export interface ObservabilityOptions {
  /** CloudWatch log groups fed from every node. @default - on, 90 days, audit log 365 days */
  readonly logs?: {
    /** Whether nodes ship their logs. @default true */
    readonly enabled?: boolean;
    /** Days the system and component logs are kept (a CloudWatch retention value). @default 90 */
    readonly retentionDays?: number;
    /** Days the apiserver's audit log is kept (a CloudWatch retention value). @default 365 */
    readonly auditRetentionDays?: number;
  };
  /** Alarms through an encrypted SNS topic. @default - on, no subscribers, certificates alarm below 14 days (renewal starts at 30), etcd at 80% of its quota */
  readonly alarms?: {
    /** Whether the alarms and their topic are created. @default true */
    readonly enabled?: boolean;
    /** Addresses subscribed to the topic (each must confirm by mail). @default - none */
    readonly emails?: string[];
    /**
     * Days left on the first certificate to expire below which the alarm fires. It backs up the automatic renewal
     * (`certificateRenewalDaysBeforeExpiry`), so it must be below the last control-plane node's renewal day.
     * @default 14
     */
    readonly certificateDaysThreshold?: number;
    /** Percent of etcd's backend quota in use above which the alarm fires. @default 80 */
    readonly etcdQuotaUsedPercent?: number;
  };
  /** One CloudWatch dashboard for the cluster. @default - on */
  readonly dashboard?: {
    /** Whether the dashboard is created. @default true */
    readonly enabled?: boolean;
  };
}

export interface ObservabilitySettings {
  readonly logs?: { readonly retentionDays: number; readonly auditRetentionDays: number };
  readonly alarms?: { readonly emails: string[]; readonly certificateDaysThreshold: number; readonly etcdQuotaUsedPercent: number };
  readonly dashboard: boolean;
}

export const CONTROL_PLANE_METRIC_NAMESPACE = "KubeadmAws/ControlPlane";

export function resolveObservabilitySettings(options: ObservabilityOptions): ObservabilitySettings {
  const { logs = {}, alarms = {}, dashboard = {} } = options;
  const emails = alarms.emails ?? [];
  const badEmail = emails.find((e) => !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(e));
  if (badEmail !== undefined) throw new ConfigError("observability.alarms.emails", `${JSON.stringify(badEmail)} is not an e-mail address`);
  const whole = (value: number, property: string, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(property, `${value} is not allowed; use a whole number from ${min} to ${max}`);
    return value;
  };
  return {
    logs:
      logs.enabled === false
        ? undefined
        : {
            retentionDays: validateRetentionDays(logs.retentionDays ?? 90, "observability.logs.retentionDays"),
            auditRetentionDays: validateRetentionDays(logs.auditRetentionDays ?? 365, "observability.logs.auditRetentionDays"),
          },
    alarms:
      alarms.enabled === false
        ? undefined
        : {
            emails,
            certificateDaysThreshold: whole(alarms.certificateDaysThreshold ?? 14, "observability.alarms.certificateDaysThreshold", 1, 365),
            etcdQuotaUsedPercent: whole(alarms.etcdQuotaUsedPercent ?? 80, "observability.alarms.etcdQuotaUsedPercent", 10, 99),
          },
    dashboard: dashboard.enabled !== false,
  };
}
