import { toYamlDocuments } from "./yaml";

/** Pod Security Standards levels, from most to least permissive. */
export const POD_SECURITY_LEVELS = ["privileged", "baseline", "restricted"] as const;
export type PodSecurityLevel = (typeof POD_SECURITY_LEVELS)[number];

/** Cluster-wide Pod Security Admission defaults; a namespace label overrides them for that namespace. */
export interface PodSecurityDefaults {
  readonly enforce: PodSecurityLevel;
  readonly audit: PodSecurityLevel;
  readonly warn: PodSecurityLevel;
  /** Namespaces the admission plugin never checks: those of node-level system pods. */
  readonly exemptNamespaces: string[];
}

/** The ConfigMap a joining node reads, unauthenticated, to discover the cluster (kubeadm's bootstrap-token discovery). */
export const CLUSTER_INFO_PATH = "/api/v1/namespaces/kube-public/configmaps/cluster-info";

/**
 * Paths anonymous requests may reach: the health probes, which the load
 * balancer and kubelet call without credentials, and the cluster-info
 * ConfigMap, which `kubeadm join` reads before it has any credential (it
 * checks the CA it finds there against the pinned hash). RBAC still decides:
 * kubeadm grants anonymous users `get` on that one ConfigMap and nothing else.
 */
export const ANONYMOUS_PATHS = ["/livez", "/readyz", "/healthz", CLUSTER_INFO_PATH] as const;

/**
 * Structured authentication configuration (apiserver.config.k8s.io/v1, GA in
 * Kubernetes 1.34). Anonymous requests are allowed only on ANONYMOUS_PATHS
 * (exact matches); every other anonymous request is rejected with 401 before
 * authorization runs.
 */
export function renderAuthenticationConfig(): string {
  return toYamlDocuments([
    {
      apiVersion: "apiserver.config.k8s.io/v1",
      kind: "AuthenticationConfiguration",
      anonymous: { enabled: true, conditions: ANONYMOUS_PATHS.map((path) => ({ path })) },
    },
  ]);
}

/**
 * Event limits: generous for the whole server, tighter per namespace and per
 * user, so one noisy controller or kubelet cannot flood etcd with events.
 */
export const EVENT_RATE_LIMITS = [
  { type: "Server", qps: 500, burst: 1000 },
  { type: "Namespace", qps: 50, burst: 100, cacheSize: 2000 },
  { type: "User", qps: 20, burst: 100, cacheSize: 2000 },
] as const;

/** Configuration of the admission plugins that need one: PodSecurity and EventRateLimit. */
export function renderAdmissionConfig(podSecurity: PodSecurityDefaults): string {
  return toYamlDocuments([
    {
      apiVersion: "apiserver.config.k8s.io/v1",
      kind: "AdmissionConfiguration",
      plugins: [
        {
          name: "PodSecurity",
          configuration: {
            apiVersion: "pod-security.admission.config.k8s.io/v1",
            kind: "PodSecurityConfiguration",
            defaults: {
              enforce: podSecurity.enforce,
              "enforce-version": "latest",
              audit: podSecurity.audit,
              "audit-version": "latest",
              warn: podSecurity.warn,
              "warn-version": "latest",
            },
            exemptions: { usernames: [], runtimeClasses: [], namespaces: [...podSecurity.exemptNamespaces].sort() },
          },
        },
        {
          name: "EventRateLimit",
          configuration: {
            apiVersion: "eventratelimit.admission.k8s.io/v1alpha1",
            kind: "Configuration",
            limits: EVENT_RATE_LIMITS.map((limit) => ({ ...limit })),
          },
        },
      ],
    },
  ]);
}
