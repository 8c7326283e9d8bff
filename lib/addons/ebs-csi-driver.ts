import { toYamlDocuments } from "../bootstrap/yaml";
import { AwsEnvironment } from "../aws-environment";
import { PolicyStatement } from "../iam";
import { EBS_CSI_DRIVER } from "../versions";
import { Addon, AddonAwsIdentity, awsControllerPod, deployment, podDisruptionBudget, RESTRICTED_CONTAINER, clusterRoleWithBinding, roleWithBinding, serviceAccount } from "./addon";

const LABELS = { "app.kubernetes.io/name": "aws-ebs-csi-driver" };
/** The tag the driver puts on every volume it creates, valued with the --k8s-tag-cluster-id. */
const EBS_CLUSTER_TAG = "ebs.csi.aws.com/cluster-name";
const SOCKET = "/var/lib/csi/sockets/pluginproxy/";
/** The controller's service account, whose role (or, without workload identity, the control-plane role) calls EC2. */
export const EBS_CSI_CONTROLLER_ACCOUNT = "ebs-csi-controller-sa";
const sidecarResources = { requests: { cpu: "10m", memory: "40Mi" }, limits: { memory: "256Mi" } };

function sidecar(name: string, image: string, args: string[]) {
  return {
    name,
    image,
    args: ["--csi-address=$(ADDRESS)", "--v=2", "--leader-election=true", ...args],
    env: [{ name: "ADDRESS", value: `${SOCKET}csi.sock` }],
    volumeMounts: [{ name: "socket-dir", mountPath: SOCKET }],
    resources: sidecarResources,
    securityContext: RESTRICTED_CONTAINER,
  };
}

/**
 * The AWS EBS CSI driver: the controller runs on control-plane nodes with a
 * role of its own (`identity`), or else the instance role; the node plugin
 * runs on every worker and learns its zone and instance from the Node object
 * (set by the cloud controller manager), so it needs no AWS access. Volumes are tagged with the cluster and, through the
 * default StorageClass, encrypted gp3 with the cluster key. Snapshots are left
 * out: they need the VolumeSnapshot CRDs and controller, which we do not ship.
 */
export function ebsCsiDriver(options: { clusterName: string; region: string; encryptionKey: string; defaultStorageClass: boolean; identity?: AddonAwsIdentity }): Addon {
  const images = EBS_CSI_DRIVER.images;
  const controllerLabels = { app: "ebs-csi-controller", ...LABELS };
  const nodeLabels = { app: "ebs-csi-node", ...LABELS };
  const documents = [
    serviceAccount(EBS_CSI_CONTROLLER_ACCOUNT, "kube-system", options.identity),
    serviceAccount("ebs-csi-node-sa"),
    ...clusterRoleWithBinding("ebs-external-provisioner-role", EBS_CSI_CONTROLLER_ACCOUNT, [
      { apiGroups: [""], resources: ["persistentvolumes"], verbs: ["get", "list", "watch", "create", "patch", "delete"] },
      { apiGroups: [""], resources: ["persistentvolumeclaims"], verbs: ["get", "list", "watch", "update"] },
      { apiGroups: ["storage.k8s.io"], resources: ["storageclasses"], verbs: ["get", "list", "watch"] },
      { apiGroups: [""], resources: ["events"], verbs: ["list", "watch", "create", "update", "patch"] },
      { apiGroups: ["storage.k8s.io"], resources: ["csinodes"], verbs: ["get", "list", "watch"] },
      { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["storage.k8s.io"], resources: ["volumeattachments"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["storage.k8s.io"], resources: ["volumeattributesclasses"], verbs: ["get"] },
    ]),
    ...clusterRoleWithBinding("ebs-external-attacher-role", EBS_CSI_CONTROLLER_ACCOUNT, [
      { apiGroups: [""], resources: ["persistentvolumes"], verbs: ["get", "list", "watch", "patch"] },
      { apiGroups: ["storage.k8s.io"], resources: ["csinodes"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["storage.k8s.io"], resources: ["volumeattachments"], verbs: ["get", "list", "watch", "patch"] },
      { apiGroups: ["storage.k8s.io"], resources: ["volumeattachments/status"], verbs: ["patch"] },
    ]),
    ...clusterRoleWithBinding("ebs-external-resizer-role", EBS_CSI_CONTROLLER_ACCOUNT, [
      { apiGroups: [""], resources: ["persistentvolumes"], verbs: ["get", "list", "watch", "patch"] },
      { apiGroups: [""], resources: ["persistentvolumeclaims"], verbs: ["get", "list", "watch"] },
      { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
      { apiGroups: [""], resources: ["persistentvolumeclaims/status"], verbs: ["patch"] },
      { apiGroups: [""], resources: ["events"], verbs: ["list", "watch", "create", "update", "patch"] },
      { apiGroups: ["storage.k8s.io"], resources: ["volumeattributesclasses"], verbs: ["get", "list", "watch"] },
    ]),
    ...clusterRoleWithBinding("ebs-csi-node-role", "ebs-csi-node-sa", [
      { apiGroups: ["storage.k8s.io"], resources: ["volumeattachments"], verbs: ["get", "list", "watch"] },
      { apiGroups: [""], resources: ["nodes"], verbs: ["get", "patch", "list", "watch"] },
      { apiGroups: ["storage.k8s.io"], resources: ["csinodes"], verbs: ["get"] },
    ]),
    ...roleWithBinding("ebs-csi-leases-role", EBS_CSI_CONTROLLER_ACCOUNT, [
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "watch", "list", "delete", "update", "create"] },
    ]),
    {
      apiVersion: "storage.k8s.io/v1",
      kind: "CSIDriver",
      metadata: { name: "ebs.csi.aws.com", labels: LABELS },
      spec: { attachRequired: true, podInfoOnMount: false, fsGroupPolicy: "File" },
    },
    deployment("ebs-csi-controller", controllerLabels, { replicas: 2, strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } } }, awsControllerPod(options.identity, ["ebs-plugin"], {
      serviceAccountName: EBS_CSI_CONTROLLER_ACCOUNT,
      affinity: {
        podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: controllerLabels }, topologyKey: "kubernetes.io/hostname" }] },
      },
      containers: [
        {
          name: "ebs-plugin",
          image: images.driver,
          args: ["controller", "--endpoint=$(CSI_ENDPOINT)", `--k8s-tag-cluster-id=${options.clusterName}`, "--batching=true", "--logging-format=text", "--v=2"],
          env: [
            { name: "CSI_ENDPOINT", value: `unix://${SOCKET}csi.sock` },
            { name: "CSI_NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
            { name: "AWS_REGION", value: options.region },
          ],
          ports: [{ name: "healthz", containerPort: 9808, protocol: "TCP" }],
          livenessProbe: { httpGet: { path: "/healthz", port: "healthz" }, initialDelaySeconds: 10, timeoutSeconds: 3, periodSeconds: 10, failureThreshold: 5 },
          volumeMounts: [{ name: "socket-dir", mountPath: SOCKET }],
          resources: sidecarResources,
          securityContext: RESTRICTED_CONTAINER,
        },
        sidecar("csi-provisioner", images.provisioner, ["--timeout=60s", "--feature-gates=Topology=true", "--extra-create-metadata", "--default-fstype=ext4"]),
        sidecar("csi-attacher", images.attacher, ["--timeout=6m"]),
        sidecar("csi-resizer", images.resizer, ["--timeout=60s", "--handle-volume-inuse-error=false"]),
        {
          name: "liveness-probe",
          image: images.livenessProbe,
          args: ["--csi-address=/csi/csi.sock"],
          volumeMounts: [{ name: "socket-dir", mountPath: "/csi" }],
          resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "32Mi" } },
          securityContext: RESTRICTED_CONTAINER,
        },
      ],
      volumes: [{ name: "socket-dir", emptyDir: {} }],
    })),
    podDisruptionBudget("ebs-csi-controller", controllerLabels, { maxUnavailable: 1 }),
    {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "ebs-csi-node", namespace: "kube-system", labels: nodeLabels },
      spec: {
        selector: { matchLabels: nodeLabels },
        updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "10%" } },
        template: {
          metadata: { labels: nodeLabels },
          spec: {
            serviceAccountName: "ebs-csi-node-sa",
            priorityClassName: "system-node-critical",
            nodeSelector: { "kubernetes.io/os": "linux" },
            // Every tainted worker, but no control-plane node: the plugin is privileged (it mounts block devices),
            // which on a control-plane node would be root beside the cluster's PKI, and no volume is used there.
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "node-role.kubernetes.io/control-plane", operator: "DoesNotExist" }] }] },
              },
            },
            tolerations: [{ operator: "Exists" }],
            terminationGracePeriodSeconds: 30,
            containers: [
              {
                name: "ebs-plugin",
                image: images.driver,
                // The Node object (zone, instance id, type from the cloud controller manager) replaces IMDS,
                // which pods cannot reach with a hop limit of 1.
                args: ["node", "--endpoint=$(CSI_ENDPOINT)", "--metadata-sources=kubernetes", "--logging-format=text", "--v=2"],
                env: [
                  { name: "CSI_ENDPOINT", value: "unix:/csi/csi.sock" },
                  { name: "CSI_NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
                ],
                volumeMounts: [
                  { name: "kubelet-dir", mountPath: "/var/lib/kubelet", mountPropagation: "Bidirectional" },
                  { name: "plugin-dir", mountPath: "/csi" },
                  { name: "device-dir", mountPath: "/dev" },
                ],
                ports: [{ name: "healthz", containerPort: 9808, protocol: "TCP" }],
                livenessProbe: { httpGet: { path: "/healthz", port: "healthz" }, initialDelaySeconds: 10, timeoutSeconds: 3, periodSeconds: 10, failureThreshold: 5 },
                resources: sidecarResources,
                // Mounting block devices needs a privileged container.
                securityContext: { privileged: true, readOnlyRootFilesystem: true },
                lifecycle: { preStop: { exec: { command: ["/bin/aws-ebs-csi-driver", "pre-stop-hook"] } } },
              },
              {
                name: "node-driver-registrar",
                image: images.nodeDriverRegistrar,
                args: ["--csi-address=$(ADDRESS)", "--kubelet-registration-path=$(DRIVER_REG_SOCK_PATH)", "--v=2"],
                env: [
                  { name: "ADDRESS", value: "/csi/csi.sock" },
                  { name: "DRIVER_REG_SOCK_PATH", value: "/var/lib/kubelet/plugins/ebs.csi.aws.com/csi.sock" },
                ],
                volumeMounts: [
                  { name: "plugin-dir", mountPath: "/csi" },
                  { name: "registration-dir", mountPath: "/registration" },
                ],
                resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "32Mi" } },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true },
              },
              {
                name: "liveness-probe",
                image: images.livenessProbe,
                args: ["--csi-address=/csi/csi.sock"],
                volumeMounts: [{ name: "plugin-dir", mountPath: "/csi" }],
                resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "32Mi" } },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true },
              },
            ],
            volumes: [
              { name: "kubelet-dir", hostPath: { path: "/var/lib/kubelet", type: "Directory" } },
              { name: "plugin-dir", hostPath: { path: "/var/lib/kubelet/plugins/ebs.csi.aws.com/", type: "DirectoryOrCreate" } },
              { name: "registration-dir", hostPath: { path: "/var/lib/kubelet/plugins_registry/", type: "Directory" } },
              { name: "device-dir", hostPath: { path: "/dev", type: "Directory" } },
            ],
          },
        },
      },
    },
    {
      apiVersion: "storage.k8s.io/v1",
      kind: "StorageClass",
      metadata: {
        name: "gp3-encrypted",
        ...(options.defaultStorageClass ? { annotations: { "storageclass.kubernetes.io/is-default-class": "true" } } : {}),
      },
      provisioner: "ebs.csi.aws.com",
      parameters: { type: "gp3", encrypted: "true", kmsKeyId: options.encryptionKey, "csi.storage.k8s.io/fstype": "ext4" },
      volumeBindingMode: "WaitForFirstConsumer",
      allowVolumeExpansion: true,
      reclaimPolicy: "Delete",
    },
  ];
  return {
    name: "aws-ebs-csi-driver",
    version: EBS_CSI_DRIVER.version,
    order: 30,
    resources: ["manifest.yaml"],
    files: { "manifest.yaml": toYamlDocuments(documents) },
    downloads: [],
  };
}

/**
 * The controller's permissions, after the driver's AmazonEBSCSIDriverPolicyV2
 * but scoped to this cluster: with --k8s-tag-cluster-id the driver tags every
 * volume ebs.csi.aws.com/cluster-name=<cluster>, so it may create only volumes
 * so tagged and change only those. It uses the cluster key only through EBS.
 */
export function ebsCsiDriverStatements(env: AwsEnvironment, clusterName: string, keyArn: string): PolicyStatement[] {
  const ec2 = (resource: string) => env.arn("ec2", resource);
  return [
    {
      Sid: "EbsCsiReads",
      Effect: "Allow",
      // Describe calls take no resource ARN.
      Action: [
        "ec2:DescribeAvailabilityZones",
        "ec2:DescribeInstances",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeSnapshots",
        "ec2:DescribeVolumes",
        "ec2:DescribeVolumesModifications",
        "ec2:DescribeVolumeStatus",
      ],
      Resource: "*",
    },
    {
      Sid: "EbsCsiCreatesClusterVolumes",
      Effect: "Allow",
      Action: "ec2:CreateVolume",
      Resource: ec2("volume/*"),
      Condition: { StringEquals: { [`aws:RequestTag/${EBS_CLUSTER_TAG}`]: clusterName } },
    },
    {
      Sid: "EbsCsiManagesClusterVolumes",
      Effect: "Allow",
      Action: ["ec2:ModifyVolume", "ec2:AttachVolume", "ec2:DetachVolume", "ec2:DeleteVolume"],
      Resource: ec2("volume/*"),
      Condition: { StringEquals: { [`ec2:ResourceTag/${EBS_CLUSTER_TAG}`]: clusterName } },
    },
    { Sid: "EbsCsiAttachesToInstances", Effect: "Allow", Action: ["ec2:AttachVolume", "ec2:DetachVolume"], Resource: ec2("instance/*") },
    {
      Sid: "EbsCsiTagsOnCreate",
      Effect: "Allow",
      Action: "ec2:CreateTags",
      Resource: ec2("volume/*"),
      Condition: { StringEquals: { "ec2:CreateAction": ["CreateVolume"] } },
    },
    {
      Sid: "EbsCsiUsesClusterKeyForVolumes",
      Effect: "Allow",
      Action: ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncrypt*"],
      Resource: keyArn,
      Condition: { StringEquals: { "kms:ViaService": `ec2.${env.region}.${env.dnsSuffix}` } },
    },
    {
      Sid: "EbsCsiGrantsClusterKeyToEbs",
      Effect: "Allow",
      Action: "kms:CreateGrant",
      Resource: keyArn,
      Condition: { Bool: { "kms:GrantIsForAWSResource": true } },
    },
  ];
}
