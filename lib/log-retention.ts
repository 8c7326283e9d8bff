import { ConfigError } from "./errors";

/** The only retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

export function validateRetentionDays(days: number, property: string): number {
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(days)) {
    throw new ConfigError(property, `${days} is not a CloudWatch Logs retention period; allowed: ${LOG_RETENTION_DAYS.join(", ")}`);
  }
  return days;
}
