import { LOOPBACK_API_NAMES } from "../bootstrap/kubeadm-config";
import { toYamlDocuments } from "../bootstrap/yaml";
import { Addon } from "./addon";

const NAME = "aws-cloud-controller-manager";
const SERVICE_ACCOUNT = "cloud-controller-manager";
const NAMESPACE = "kube-system";

/**
 * The AWS cloud controller manager: initializes nodes (provider id, addresses,
 * zone labels, removes the "uninitialized" taint), deletes nodes whose
 * instance is gone, and runs Service load balancers. It runs on control-plane
 * nodes with the instance role's permissions.
 */
export function awsCloudControllerManager(options: { clusterName: string; image: string }): Addon {
  const labels = { "k8s-app": NAME };
  const documents = [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: SERVICE_ACCOUNT, namespace: NAMESPACE } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "system:cloud-controller-manager" },
      rules: [
        { apiGroups: [""], resources: ["events"], verbs: ["create", "patch", "update"] },
        // Initializes nodes (addresses, providerID, the uninitialized taint) and deletes those whose instance is gone.
        { apiGroups: [""], resources: ["nodes"], verbs: ["delete", "get", "list", "patch", "update", "watch"] },
        { apiGroups: [""], resources: ["nodes/status"], verbs: ["patch"] },
        { apiGroups: [""], resources: ["services", "services/status"], verbs: ["list", "patch", "update", "watch"] },
        { apiGroups: [""], resources: ["persistentvolumes"], verbs: ["get", "list", "update", "watch"] },
        { apiGroups: [""], resources: ["endpoints"], verbs: ["create", "get", "list", "watch", "update"] },
        { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create", "get", "list", "watch", "update"] },
        { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
        { apiGroups: ["authorization.k8s.io"], resources: ["subjectaccessreviews"], verbs: ["create"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "system:cloud-controller-manager" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:cloud-controller-manager" },
      subjects: [{ kind: "ServiceAccount", name: SERVICE_ACCOUNT, namespace: NAMESPACE }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "cloud-controller-manager:apiserver-authentication-reader", namespace: NAMESPACE },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "extension-apiserver-authentication-reader" },
      subjects: [{ kind: "ServiceAccount", name: SERVICE_ACCOUNT, namespace: NAMESPACE }],
    },
    {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: NAME, namespace: NAMESPACE, labels },
      spec: {
        selector: { matchLabels: labels },
        updateStrategy: { type: "RollingUpdate" },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: SERVICE_ACCOUNT,
            priorityClassName: "system-node-critical",
            // Host network: it reads instance metadata (IMDS hop limit 1) and must run before the CNI.
            hostNetwork: true,
            dnsPolicy: "Default",
            nodeSelector: { "node-role.kubernetes.io/control-plane": "" },
            tolerations: [
              { key: "node.cloudprovider.kubernetes.io/uninitialized", value: "true", effect: "NoSchedule" },
              { key: "node-role.kubernetes.io/control-plane", effect: "NoSchedule" },
              { key: "node.kubernetes.io/not-ready", effect: "NoSchedule" },
            ],
            containers: [
              {
                name: NAME,
                image: options.image,
                args: [
                  "--v=2",
                  "--cloud-provider=aws",
                  `--cluster-name=${options.clusterName}`,
                  // Every controller acts as this account, with the role above. With per-controller accounts it would
                  // need to mint tokens for any service account, which is cluster-admin for anyone who takes this pod.
                  "--use-service-account-credentials=false",
                  // Pod routes come from the CNI; with routes on and no --cluster-cidr it exits at start.
                  "--configure-cloud-routes=false",
                ],
                // The local apiserver, reachable before kube-proxy and the CNI are up; its
                // certificate carries the loopback address (LOOPBACK_API_NAMES).
                env: [
                  { name: "KUBERNETES_SERVICE_HOST", value: LOOPBACK_API_NAMES[0] },
                  { name: "KUBERNETES_SERVICE_PORT", value: "6443" },
                ],
                resources: { requests: { cpu: "200m", memory: "128Mi" } },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ["ALL"] },
                  seccompProfile: { type: "RuntimeDefault" },
                },
              },
            ],
          },
        },
      },
    },
  ];
  return {
    name: NAME,
    version: options.image.split(":")[1].split("@")[0],
    order: 10,
    resources: ["manifest.yaml"],
    files: { "manifest.yaml": toYamlDocuments(documents) },
    downloads: [],
  };
}
