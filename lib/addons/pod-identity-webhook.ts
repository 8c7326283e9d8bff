import { toYamlDocuments } from "../bootstrap/yaml";
import { ROLE_ARN_ANNOTATION, STS_AUDIENCE, WEB_IDENTITY_TOKEN_DIR } from "../identity/web-identity";
import { POD_IDENTITY_WEBHOOK_IMAGE } from "../versions";
import { Addon, AddonServingCertificate, CONTROL_PLANE_PLACEMENT, RESTRICTED_CONTAINER, clusterRoleWithBinding, deployment, podDisruptionBudget, serviceAccount } from "./addon";

const NAME = "pod-identity-webhook";
const PORT = 9443;
/** A pod with this label is left alone (the upstream webhook's own opt-out). */
export const SKIP_POD_IDENTITY_LABEL = "eks.amazonaws.com/skip-pod-identity-webhook";

/**
 * The Amazon EKS Pod Identity Webhook: a pod whose ServiceAccount carries `eks.amazonaws.com/role-arn` gets the
 * projected STS token and the variables the AWS SDKs read, as `webIdentityPodParts` renders them. It serves a
 * certificate the control plane makes and renews (AddonServingCertificate, `--in-cluster=false`: no CSR, no
 * cert-manager), which the MutatingWebhookConfiguration's caBundle trusts.
 *
 * It leaves kube-system alone: our controllers there carry their token already, and the webhook's own pods must
 * start without it. A failed call admits the pod unchanged (failurePolicy Ignore), so a webhook that is down never
 * stops pods from starting; they start without AWS credentials.
 */
export function podIdentityWebhook(options: { region: string }): Addon {
  const labels = { app: NAME };
  const servingCertificate: AddonServingCertificate = {
    secretName: `${NAME}-serving`,
    dnsNames: [`${NAME}.kube-system.svc`, `${NAME}.kube-system.svc.cluster.local`],
    trustedBy: { kind: "MutatingWebhookConfiguration", name: NAME },
  };
  const documents = [
    serviceAccount(NAME),
    // It caches ServiceAccounts to read their annotations; nothing else.
    ...clusterRoleWithBinding(NAME, NAME, [{ apiGroups: [""], resources: ["serviceaccounts"], verbs: ["get", "watch", "list"] }]),
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: NAME, namespace: "kube-system", labels },
      spec: { selector: labels, ports: [{ name: "https", port: 443, protocol: "TCP", targetPort: "https" }] },
    },
    deployment(NAME, labels, { replicas: 2, strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } } }, {
      ...CONTROL_PLANE_PLACEMENT,
      serviceAccountName: NAME,
      affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: labels }, topologyKey: "kubernetes.io/hostname" }] } },
      // The key is readable by the container's group only.
      securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: NAME,
          image: POD_IDENTITY_WEBHOOK_IMAGE,
          command: [
            "/webhook",
            "--in-cluster=false",
            `--port=${PORT}`,
            "--tls-cert=/etc/webhook/certs/tls.crt",
            "--tls-key=/etc/webhook/certs/tls.key",
            `--annotation-prefix=${ROLE_ARN_ANNOTATION.split("/")[0]}`,
            `--token-audience=${STS_AUDIENCE}`,
            `--token-mount-path=${WEB_IDENTITY_TOKEN_DIR}`,
            `--aws-default-region=${options.region}`,
            "--sts-regional-endpoint=true",
            "--logtostderr",
          ],
          ports: [{ name: "https", containerPort: PORT, protocol: "TCP" }],
          readinessProbe: { httpGet: { path: "/healthz", port: "https", scheme: "HTTPS" }, periodSeconds: 10 },
          livenessProbe: { httpGet: { path: "/healthz", port: "https", scheme: "HTTPS" }, periodSeconds: 10, failureThreshold: 3 },
          resources: { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "256Mi" } },
          securityContext: RESTRICTED_CONTAINER,
          volumeMounts: [{ name: "serving-certificate", mountPath: "/etc/webhook/certs", readOnly: true }],
        },
      ],
      // kustomize renames the Secret with its content hash, so a renewed certificate rolls the pods.
      volumes: [{ name: "serving-certificate", secret: { secretName: servingCertificate.secretName, defaultMode: 0o440 } }],
    }),
    podDisruptionBudget(NAME, labels, { minAvailable: 1 }),
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "MutatingWebhookConfiguration",
      metadata: { name: NAME, labels },
      webhooks: [
        {
          name: "pod-identity-webhook.amazonaws.com",
          // caBundle: the certificate in the Secret, copied in by kustomize (see AddonServingCertificate).
          clientConfig: { service: { name: NAME, namespace: "kube-system", path: "/mutate", port: 443 } },
          failurePolicy: "Ignore",
          timeoutSeconds: 10,
          rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"], scope: "Namespaced" }],
          namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["kube-system"] }] },
          objectSelector: { matchExpressions: [{ key: SKIP_POD_IDENTITY_LABEL, operator: "DoesNotExist" }] },
          sideEffects: "None",
          // v0.6.17 answers admission.k8s.io/v1beta1 reviews only.
          admissionReviewVersions: ["v1beta1"],
          reinvocationPolicy: "Never",
        },
      ],
    },
  ];
  return {
    name: NAME,
    version: POD_IDENTITY_WEBHOOK_IMAGE.split(":")[1].split("@")[0],
    order: 25,
    resources: ["manifest.yaml"],
    files: { "manifest.yaml": toYamlDocuments(documents) },
    downloads: [],
    servingCertificate,
  };
}
