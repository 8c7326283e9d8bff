import { readFileSync } from "node:fs";
import { join } from "node:path";

/** One accepted exception: a check id, the resources or component it covers, and why. */
export interface SecurityException {
  readonly check: string;
  /** Glob over resource addresses (our checks, checkov) or a component name (CIS checks); `*` matches anything. */
  readonly scope: string;
  readonly reason: string;
}

export const SECURITY_MD = join(__dirname, "../../SECURITY.md");

/**
 * The exceptions table of SECURITY.md, the one place an exception may be
 * written: rows of "| `CHECK-ID` | `scope` | reason |" under "## Accepted exceptions".
 * The ids are ours (`KA-...`), CIS items (`CIS-...`) and checkov's
 * (`CKV_AWS_...`, `CKV2_AWS_...`); a checkov row is a skip, scoped by resource address.
 */
export function readExceptions(markdown = readFileSync(SECURITY_MD, "utf8")): SecurityException[] {
  const section = markdown.split(/^## /m).find((s) => s.startsWith("Accepted exceptions"));
  if (!section) throw new Error('SECURITY.md has no "## Accepted exceptions" section');
  return section
    .split("\n")
    .map((line) => /^\|\s*`([A-Z0-9._-]+)`\s*\|\s*`([^`]+)`\s*\|\s*(.+?)\s*\|\s*$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map(([, check, scope, reason]) => ({ check, scope, reason }));
}

export function scopeMatches(scope: string, subject: string): boolean {
  const pattern = new RegExp(`^${scope.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
  return pattern.test(subject);
}

/** Splits findings into those an exception covers and those it does not; also returns exceptions nothing used. */
export function applyExceptions<T extends { check: string }>(
  findings: T[],
  exceptions: SecurityException[],
  subjectOf: (finding: T) => string,
): { open: T[]; excepted: T[]; used: Set<SecurityException> } {
  const used = new Set<SecurityException>();
  const open: T[] = [];
  const excepted: T[] = [];
  for (const f of findings) {
    const exception = exceptions.find((e) => e.check === f.check && scopeMatches(e.scope, subjectOf(f)));
    if (exception) {
      used.add(exception);
      excepted.push(f);
    } else {
      open.push(f);
    }
  }
  return { open, excepted, used };
}
