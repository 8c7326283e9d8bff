import { toYamlDocuments } from "../bootstrap/yaml";
import { AwsEnvironment } from "../aws-environment";
import { PolicyStatement } from "../iam";
import { Addon, AddonAwsIdentity, awsControllerPod, deployment, RESTRICTED_CONTAINER, clusterRoleWithBinding, roleWithBinding, serviceAccount } from "./addon";

/** The autoscaler's service account, whose role (or, without workload identity, the control-plane role) resizes groups. */
export const CLUSTER_AUTOSCALER_ACCOUNT = "cluster-autoscaler";

export const AUTOSCALER_EXPANDERS = ["least-waste", "random", "most-pods", "priority", "price"] as const;

export interface ClusterAutoscalerOptions {
  /** How the autoscaler picks the group to grow. @default "least-waste" */
  readonly expander?: (typeof AUTOSCALER_EXPANDERS)[number];
  /** Scale a node down below this share of requested resources. @default 0.5 */
  readonly scaleDownUtilizationThreshold?: number;
}

/**
 * The cluster autoscaler, matched to the Kubernetes minor, discovering this
 * cluster's node groups by tag. It runs on control-plane nodes with a role of
 * its own (`identity`), or else the instance role; either may resize only
 * groups tagged for this cluster.
 */
export function clusterAutoscaler(options: { clusterName: string; region: string; image: string; identity?: AddonAwsIdentity } & ClusterAutoscalerOptions): Addon {
  const labels = { app: "cluster-autoscaler" };
  const documents = [
    serviceAccount(CLUSTER_AUTOSCALER_ACCOUNT, "kube-system", options.identity),
    ...clusterRoleWithBinding("cluster-autoscaler", CLUSTER_AUTOSCALER_ACCOUNT, [
      { apiGroups: [""], resources: ["events", "endpoints"], verbs: ["create", "patch"] },
      { apiGroups: [""], resources: ["pods/eviction"], verbs: ["create"] },
      { apiGroups: [""], resources: ["pods/status"], verbs: ["update"] },
      { apiGroups: [""], resources: ["endpoints"], resourceNames: ["cluster-autoscaler"], verbs: ["get", "update"] },
      { apiGroups: [""], resources: ["nodes"], verbs: ["watch", "list", "get", "update"] },
      { apiGroups: [""], resources: ["namespaces", "pods", "services", "replicationcontrollers", "persistentvolumeclaims", "persistentvolumes", "configmaps"], verbs: ["watch", "list", "get"] },
      { apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: ["watch", "list"] },
      { apiGroups: ["apps"], resources: ["statefulsets", "replicasets", "daemonsets"], verbs: ["watch", "list", "get"] },
      // Dynamic resource allocation is always on in 1.35 and later.
      { apiGroups: ["resource.k8s.io"], resources: ["deviceclasses", "resourceslices", "resourceclaims"], verbs: ["watch", "list", "get"] },
      { apiGroups: ["storage.k8s.io"], resources: ["storageclasses", "csinodes", "csidrivers", "csistoragecapacities", "volumeattachments"], verbs: ["watch", "list", "get"] },
      { apiGroups: ["batch"], resources: ["jobs", "cronjobs"], verbs: ["get", "list", "watch", "patch"] },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: ["cluster-autoscaler"], verbs: ["get", "update"] },
    ]),
    ...roleWithBinding("cluster-autoscaler", CLUSTER_AUTOSCALER_ACCOUNT, [
      { apiGroups: [""], resources: ["configmaps"], verbs: ["create", "list", "watch"] },
      { apiGroups: [""], resources: ["configmaps"], resourceNames: ["cluster-autoscaler-status", "cluster-autoscaler-priority-expander"], verbs: ["delete", "get", "update", "watch"] },
    ]),
    deployment("cluster-autoscaler", labels, { replicas: 1 }, awsControllerPod(options.identity, ["cluster-autoscaler"], {
      serviceAccountName: CLUSTER_AUTOSCALER_ACCOUNT,
      securityContext: { runAsNonRoot: true, runAsUser: 65534, fsGroup: 65534, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: "cluster-autoscaler",
          image: options.image,
          command: [
            "./cluster-autoscaler",
            "--v=4",
            "--stderrthreshold=info",
            "--cloud-provider=aws",
            `--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/${options.clusterName}`,
            `--expander=${options.expander ?? "least-waste"}`,
            `--scale-down-utilization-threshold=${options.scaleDownUtilizationThreshold ?? 0.5}`,
            "--balance-similar-node-groups",
            "--skip-nodes-with-local-storage=false",
            "--skip-nodes-with-system-pods=false",
          ],
          env: [{ name: "AWS_REGION", value: options.region }],
          ports: [{ name: "http", containerPort: 8085, protocol: "TCP" }],
          livenessProbe: { httpGet: { path: "/health-check", port: "http" } },
          resources: { requests: { cpu: "100m", memory: "300Mi" }, limits: { memory: "600Mi" } },
          securityContext: RESTRICTED_CONTAINER,
        },
      ],
    })),
  ];
  return {
    name: "cluster-autoscaler",
    version: options.image.split(":")[1].split("@")[0],
    order: 50,
    resources: ["manifest.yaml"],
    files: { "manifest.yaml": toYamlDocuments(documents) },
    downloads: [],
  };
}

/** Reads everywhere; resizes and terminates only in Auto Scaling groups tagged for this cluster. */
export function clusterAutoscalerStatements(_env: AwsEnvironment, clusterName: string): PolicyStatement[] {
  return [
    {
      Sid: "AutoscalerReads",
      Effect: "Allow",
      // Describe calls take no resource ARN.
      Action: [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeAutoScalingInstances",
        "autoscaling:DescribeLaunchConfigurations",
        "autoscaling:DescribeScalingActivities",
        "ec2:DescribeImages",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:GetInstanceTypesFromInstanceRequirements",
      ],
      Resource: "*",
    },
    {
      Sid: "AutoscalerResizesClusterGroups",
      Effect: "Allow",
      Action: ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
      Resource: "*",
      Condition: { StringEquals: { [`aws:ResourceTag/k8s.io/cluster-autoscaler/${clusterName}`]: "owned" } },
    },
  ];
}
