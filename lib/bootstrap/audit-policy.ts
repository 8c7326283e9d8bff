import { toYaml } from "./yaml";

/**
 * The apiserver audit policy: metadata for everything, request bodies for
 * writes, and never the bodies of Secrets, ConfigMaps or token requests, which
 * would copy secrets into the log. High-volume read noise is dropped.
 */
export function renderAuditPolicy(): string {
  const core = (resources: string[]) => ({ group: "", resources });
  return toYaml({
    apiVersion: "audit.k8s.io/v1",
    kind: "Policy",
    omitStages: ["RequestReceived"],
    rules: [
      { level: "None", nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/version"] },
      { level: "None", users: ["system:kube-proxy"], verbs: ["watch"], resources: [core(["endpoints", "services", "services/status"])] },
      { level: "None", userGroups: ["system:nodes"], verbs: ["get"], resources: [core(["nodes", "nodes/status"])] },
      { level: "None", verbs: ["get", "list", "watch"], resources: [{ group: "coordination.k8s.io", resources: ["leases"] }] },
      { level: "None", resources: [core(["events"]), { group: "events.k8s.io", resources: ["events"] }] },
      {
        level: "Metadata",
        resources: [core(["secrets", "configmaps", "serviceaccounts/token"]), { group: "authentication.k8s.io", resources: ["tokenreviews"] }],
      },
      { level: "Request", verbs: ["create", "update", "patch", "delete", "deletecollection"] },
      { level: "Metadata" },
    ],
  });
}
