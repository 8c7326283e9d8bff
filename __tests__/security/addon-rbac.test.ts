import { parseAllDocuments } from "yaml";
import { KUBERNETES_RELEASES } from "../../lib/versions";
import { addonSpec } from "../helpers/control-plane-fixture";
import { applyExceptions, readExceptions } from "./exceptions";

/**
 * RBAC of the add-ons we render (check KA-RBAC-DANGEROUS): every permission
 * that lets its holder become someone else or grant itself more (minting
 * service-account tokens, escalate, bind, impersonate, wildcards, reading
 * every Secret) is listed, and fails unless SECURITY.md records why the
 * add-on needs it. Scope: "<add-on>/<Role or ClusterRole>:<verb> <resource>".
 */

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  nonResourceURLs?: string[];
}

interface Finding {
  readonly check: "KA-RBAC-DANGEROUS";
  readonly subject: string;
}

function dangerous(rule: Rule, clusterWide: boolean): string[] {
  const verbs = rule.verbs ?? [];
  const resources = rule.resources ?? [];
  const out: string[] = [];
  for (const verb of verbs) {
    for (const resource of resources) {
      const wildcard = verb === "*" || resource === "*" || (rule.apiGroups ?? []).includes("*");
      const escalating = ["escalate", "bind", "impersonate"].includes(verb);
      const mintsTokens = resource === "serviceaccounts/token" && ["create", "*"].includes(verb);
      const readsSecrets = clusterWide && resource === "secrets" && ["get", "list", "watch", "*"].includes(verb);
      if (wildcard || escalating || mintsTokens || readsSecrets) out.push(`${verb} ${resource}`);
    }
  }
  return out;
}

function findings(): Finding[] {
  const subjects = new Set<string>();
  for (const minor of Object.keys(KUBERNETES_RELEASES)) {
    for (const cni of ["calico", "cilium"] as const) {
      for (const addon of JSON.parse(addonSpec({ kubernetesVersion: minor, addons: { cni } })).addons as Array<{ name: string; files: Record<string, string> }>) {
        for (const text of Object.values(addon.files)) {
          for (const doc of parseAllDocuments(text).map((d) => d.toJS())) {
            if (doc?.kind !== "ClusterRole" && doc?.kind !== "Role") continue;
            for (const rule of (doc.rules ?? []) as Rule[]) {
              for (const permission of dangerous(rule, doc.kind === "ClusterRole")) subjects.add(`${addon.name}/${doc.metadata.name}:${permission}`);
            }
          }
        }
      }
    }
  }
  return [...subjects].map((subject) => ({ check: "KA-RBAC-DANGEROUS", subject }));
}

describe("the add-ons' RBAC", () => {
  const found = findings();
  const exceptions = readExceptions().filter((e) => e.check === "KA-RBAC-DANGEROUS");

  it("grants no permission to mint tokens, escalate, bind, impersonate, use wildcards or read every Secret, but for the exceptions in SECURITY.md", () => {
    expect(applyExceptions(found, exceptions, (f) => f.subject).open).toEqual([]);
  });

  it("has no stale exception", () => {
    const { used } = applyExceptions(found, exceptions, (f) => f.subject);
    expect(exceptions.filter((e) => !used.has(e))).toEqual([]);
  });

  it("finds each kind of dangerous permission in a rule", () => {
    expect(dangerous({ apiGroups: [""], resources: ["serviceaccounts/token"], verbs: ["create"] }, true)).toEqual(["create serviceaccounts/token"]);
    expect(dangerous({ apiGroups: ["rbac.authorization.k8s.io"], resources: ["clusterroles"], verbs: ["bind", "escalate"] }, true)).toEqual(["bind clusterroles", "escalate clusterroles"]);
    expect(dangerous({ apiGroups: [""], resources: ["users"], verbs: ["impersonate"] }, true)).toEqual(["impersonate users"]);
    expect(dangerous({ apiGroups: ["*"], resources: ["pods"], verbs: ["get"] }, true)).toEqual(["get pods"]);
    expect(dangerous({ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }, true)).toEqual(["get secrets"]);
    expect(dangerous({ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }, false)).toEqual([]);
    expect(dangerous({ apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] }, true)).toEqual([]);
  });
});
