/**
 * What must never reach Terraform state, plans, snapshots or user data:
 * material that would let a reader join, impersonate or decrypt the cluster.
 */
const SECRET_PATTERNS: Array<{ what: string; pattern: RegExp }> = [
  { what: "a PEM private key", pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----/g },
  { what: "a bootstrap token", pattern: /(?<![0-9a-z])[0-9a-z]{6}\.[0-9a-z]{16}(?![0-9a-z])/g },
  { what: "a kubeadm certificate key", pattern: /certificate[-_]?key["'\s:=]+[0-9a-f]{64}/gi },
  { what: "an encryption-at-rest key", pattern: /secret["'\s:=]+[A-Za-z0-9+/]{43}=/g },
  { what: "a client key in a kubeconfig", pattern: /client-key-data["'\s:=]+[A-Za-z0-9+/]{20,}/g },
];

/** Finds secrets in a text; each finding names what it looks like and where it starts. */
export function findSecrets(text: string): string[] {
  return SECRET_PATTERNS.flatMap(({ what, pattern }) =>
    [...text.matchAll(pattern)]
      // A rendered kubeadm config carries the token only as its placeholder; names like "ip-10-0-0-1.eu-west-1" are no token.
      .filter((m) => what !== "a bootstrap token" || !/\.(compute|internal|amazonaws)/.test(text.slice(m.index!, m.index! + 40)))
      .map((m) => `${what} at offset ${m.index}: ${m[0].slice(0, 24)}…`),
  );
}
