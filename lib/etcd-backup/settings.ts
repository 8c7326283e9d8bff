import { ConfigError } from "../errors";

export interface EtcdBackupOptions {
  /** Whether etcd snapshots go to the backup bucket. Rollouts need them. @default true */
  readonly enabled?: boolean;
  /** Minutes between snapshots (5 to 1440). @default 15 */
  readonly intervalMinutes?: number;
  /** How long snapshots are kept. @default - frequent snapshots 7 days, one daily snapshot 90 days */
  readonly retention?: {
    /** Days every snapshot is kept. @default 7 */
    readonly frequentDays?: number;
    /** Days the first snapshot of each day is kept. @default 90 */
    readonly dailyDays?: number;
  };
  /**
   * S3 Object Lock on the bucket, so snapshots cannot be deleted or overwritten
   * for `days`, not even by an administrator in COMPLIANCE mode. Set at bucket
   * creation only.
   * @default - off
   */
  readonly objectLock?: {
    /** COMPLIANCE: nobody can delete a locked snapshot; GOVERNANCE: principals with a bypass permission can. */
    readonly mode: "GOVERNANCE" | "COMPLIANCE";
    /** Days each snapshot stays locked. */
    readonly days: number;
  };
}

export interface EtcdBackupSettings {
  readonly intervalMinutes: number;
  readonly frequentDays: number;
  readonly dailyDays: number;
  readonly objectLock?: { readonly mode: "GOVERNANCE" | "COMPLIANCE"; readonly days: number };
}

/** Snapshot keys: <prefix>/frequent/<UTC timestamp>-rev<revision>.db, and the first of each day under daily/. */
export const BACKUP_PREFIX = "etcd";

export function resolveEtcdBackupSettings(options: EtcdBackupOptions): EtcdBackupSettings | undefined {
  if (options.enabled === false) return undefined;
  const whole = (value: number, property: string, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(property, `${value} is not allowed; use a whole number from ${min} to ${max}`);
    return value;
  };
  const settings = {
    intervalMinutes: whole(options.intervalMinutes ?? 15, "etcd.backup.intervalMinutes", 5, 1440),
    frequentDays: whole(options.retention?.frequentDays ?? 7, "etcd.backup.retention.frequentDays", 1, 3650),
    dailyDays: whole(options.retention?.dailyDays ?? 90, "etcd.backup.retention.dailyDays", 1, 3650),
    objectLock: options.objectLock,
  };
  if (options.objectLock) {
    if (!["GOVERNANCE", "COMPLIANCE"].includes(options.objectLock.mode)) {
      throw new ConfigError("etcd.backup.objectLock.mode", `${JSON.stringify(options.objectLock.mode)} is not one of GOVERNANCE, COMPLIANCE`);
    }
    whole(options.objectLock.days, "etcd.backup.objectLock.days", 1, settings.dailyDays);
  }
  return settings;
}

/** `s3://bucket/key` of a snapshot to restore a new control plane from. */
export function validateRestoreSource(uri: string): string {
  if (!/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/\S+\.db$/.test(uri)) {
    throw new ConfigError("etcd.restoreFrom", `${JSON.stringify(uri)} is not a snapshot location such as "s3://prod-etcd-111122223333-eu-west-1/etcd/daily/20261128T101500Z-rev1234.db"`);
  }
  return uri;
}
