import { toYamlDocuments } from "../bootstrap/yaml";
import { METRICS_SERVER_IMAGE } from "../versions";
import { Addon, AddonServingCertificate, deployment, podDisruptionBudget, RESTRICTED_CONTAINER, clusterRoleWithBinding, serviceAccount } from "./addon";

/**
 * metrics-server, verifying kubelet serving certificates against the cluster
 * CA (never --kubelet-insecure-tls): kubelets request serving certificates
 * (serverTLSBootstrap), and the control plane's CSR approver signs only those
 * whose names and addresses belong to the EC2 instance that asks. The
 * apiserver in turn verifies metrics-server: it serves a certificate the
 * control plane makes and renews (see AddonServingCertificate), and the
 * APIService carries its CA bundle.
 */
export function metricsServer(): Addon {
  const labels = { "k8s-app": "metrics-server" };
  const servingCertificate: AddonServingCertificate = {
    secretName: "metrics-server-serving",
    dnsNames: ["metrics-server.kube-system.svc", "metrics-server.kube-system.svc.cluster.local"],
    trustedBy: { kind: "APIService", name: "v1beta1.metrics.k8s.io" },
  };
  const documents = [
    serviceAccount("metrics-server"),
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: {
        name: "system:aggregated-metrics-reader",
        labels: { "rbac.authorization.k8s.io/aggregate-to-view": "true", "rbac.authorization.k8s.io/aggregate-to-edit": "true", "rbac.authorization.k8s.io/aggregate-to-admin": "true" },
      },
      rules: [{ apiGroups: ["metrics.k8s.io"], resources: ["pods", "nodes"], verbs: ["get", "list", "watch"] }],
    },
    ...clusterRoleWithBinding("system:metrics-server", "metrics-server", [
      { apiGroups: [""], resources: ["nodes/metrics"], verbs: ["get"] },
      { apiGroups: [""], resources: ["pods", "nodes"], verbs: ["get", "list", "watch"] },
    ]),
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "metrics-server:system:auth-delegator" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:auth-delegator" },
      subjects: [{ kind: "ServiceAccount", name: "metrics-server", namespace: "kube-system" }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "metrics-server-auth-reader", namespace: "kube-system" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "extension-apiserver-authentication-reader" },
      subjects: [{ kind: "ServiceAccount", name: "metrics-server", namespace: "kube-system" }],
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "metrics-server", namespace: "kube-system", labels },
      spec: { selector: labels, ports: [{ name: "https", port: 443, protocol: "TCP", targetPort: "https", appProtocol: "https" }] },
    },
    deployment("metrics-server", labels, { replicas: 2, strategy: { rollingUpdate: { maxUnavailable: 1 } } }, {
      serviceAccountName: "metrics-server",
      priorityClassName: "system-cluster-critical",
      nodeSelector: { "kubernetes.io/os": "linux" },
      topologySpreadConstraints: [
        { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: labels } },
        { maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "DoNotSchedule", labelSelector: { matchLabels: labels } },
      ],
      containers: [
        {
          name: "metrics-server",
          image: METRICS_SERVER_IMAGE,
          args: [
            "--secure-port=10250",
            "--tls-cert-file=/etc/metrics-server/tls/tls.crt",
            "--tls-private-key-file=/etc/metrics-server/tls/tls.key",
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
            "--kubelet-use-node-status-port",
            "--metric-resolution=15s",
            // Kubelet serving certificates are signed by the cluster CA (see serverTLSBootstrap).
            "--kubelet-certificate-authority=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
          ],
          ports: [{ name: "https", containerPort: 10250, protocol: "TCP" }],
          readinessProbe: { httpGet: { path: "/readyz", port: "https", scheme: "HTTPS" }, initialDelaySeconds: 20, periodSeconds: 10, failureThreshold: 3 },
          livenessProbe: { httpGet: { path: "/livez", port: "https", scheme: "HTTPS" }, periodSeconds: 10, failureThreshold: 3 },
          resources: { requests: { cpu: "100m", memory: "200Mi" } },
          securityContext: { ...RESTRICTED_CONTAINER, runAsNonRoot: true, runAsUser: 1000 },
          volumeMounts: [
            { name: "tmp-dir", mountPath: "/tmp" },
            { name: "serving-certificate", mountPath: "/etc/metrics-server/tls", readOnly: true },
          ],
        },
      ],
      // The key is readable by the container's group only.
      securityContext: { fsGroup: 1000 },
      volumes: [
        { name: "tmp-dir", emptyDir: {} },
        // kustomize renames the Secret with its content hash, so a renewed certificate rolls the pods.
        { name: "serving-certificate", secret: { secretName: servingCertificate.secretName, defaultMode: 0o440 } },
      ],
    }),
    podDisruptionBudget("metrics-server", labels, { minAvailable: 1 }),
    {
      apiVersion: "apiregistration.k8s.io/v1",
      kind: "APIService",
      metadata: { name: "v1beta1.metrics.k8s.io", labels },
      spec: {
        group: "metrics.k8s.io",
        groupPriorityMinimum: 100,
        // caBundle: the certificate in the Secret, copied in by kustomize (see AddonServingCertificate).
        service: { name: "metrics-server", namespace: "kube-system" },
        version: "v1beta1",
        versionPriority: 100,
      },
    },
  ];
  return {
    name: "metrics-server",
    version: METRICS_SERVER_IMAGE.split(":")[1],
    order: 40,
    resources: ["manifest.yaml"],
    files: { "manifest.yaml": toYamlDocuments(documents) },
    downloads: [],
    servingCertificate,
  };
}
