import { AutoscalingGroup } from "@cdktf/provider-aws/lib/autoscaling-group";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import { SsmParameter } from "@cdktf/provider-aws/lib/ssm-parameter";
import { Construct } from "constructs";
import { addonControllers, cniNodePorts, renderAddons } from "../addons";
import { renderAddonSpec } from "../addons/addon";
import { AwsEnvironment } from "../aws-environment";
import { ROLE_TAG_KEY } from "../bootstrap/node-roles";
import { encodeUserData, renderBundle, renderUserData } from "../bootstrap/user-data";
import { bundleReadStatements, storeBundle } from "../node-artifacts";
import { IClusterKey } from "../cluster-key";
import type { ClusterServices } from "../cluster-services";
import { PolicyStatement } from "../iam";
import { Architecture } from "../instance-types";
import { iamRoleName, resourceName, rolloutParameters, validateClusterName } from "../naming";
import { IClusterNetwork } from "../network/cluster-network";
import { egressDependencies } from "../network/egress";
import { clusterTags, stackDefaultTags } from "../tags";
import { ApiEndpoint } from "./api-endpoint";
import { ClusterSecrets } from "./cluster-secrets";
import { ETCD_METRIC_NAMESPACE, EtcdBackup } from "../etcd-backup/etcd-backup";
import { ETCD_DEFAULT_QUOTA_BYTES, GROUP_METRICS, autoScalingGroupAlarms, controlPlaneAlarms } from "../observability/alarms";
import { logWriteStatements } from "../observability/logs";
import { CONTROL_PLANE_METRIC_NAMESPACE } from "../observability/settings";
import { NodeRole } from "../node-role";
import { cloudControllerManagerStatements } from "../node-permissions";
import { controlPlanePolicies } from "./control-plane-policies";
import { ADDON_SPEC_PREFIX, controlPlaneNode } from "./control-plane-user-data";
import { JoinParameters, versionGuard } from "./join-parameters";
import { IServiceAccountIssuer, ServiceAccountIssuer } from "../identity/service-account-issuer";
import { ServiceAccountRole } from "../identity/service-account-role";
import { ConfigError } from "../errors";
import { ClusterSecurityGroups } from "./security-groups";
import { ControlPlaneOptions, ControlPlaneSettings, resolveControlPlaneSettings } from "./settings";

/** What node groups, in this stack or another, need from a control plane. */
export interface IControlPlane {
  readonly clusterName: string;
  /** host:port of the API, a name known at synth time. */
  readonly endpoint: string;
  readonly workerSecurityGroupId: string;
  /** SSM parameter names of the join token, the CA cert hash and the exact Kubernetes version. */
  readonly joinParameters: { readonly token: string; readonly caCertHash: string; readonly kubernetesVersion: string };
  readonly kubernetesVersion: string;
  readonly clusterDomain: string;
  readonly serviceCidr: string;
  /** The issuer that IAM roles for service accounts trust, unless workload identity is off. */
  readonly serviceAccountIssuer?: IServiceAccountIssuer;
}

export interface ControlPlaneProps extends ControlPlaneOptions {
  /** DNS-1123 label, at most 20 characters; it prefixes every name and tag. */
  readonly clusterName: string;
  /** The network the nodes and the API load balancer live in. */
  readonly network: IClusterNetwork;
  /**
   * The cluster's shared services: the node-artifacts bucket the nodes boot from, log groups and alarm topic. The
   * control plane adds its add-on specification, its dashboard and (with the node termination handler) the
   * termination queue to them.
   */
  readonly services: ClusterServices;
  /** The KMS key that encrypts volumes and secrets. @default - the services' key */
  readonly encryptionKey?: IClusterKey;
}

/** Key prefix of the control plane's bundles in the node-artifacts bucket. */
const BUNDLE_PREFIX = "control-plane";

/** Read of the one snapshot a new control plane is restored from. */
function restoreStatements(env: AwsEnvironment, uri: string, keyArn: string): PolicyStatement[] {
  const [bucket, ...key] = uri.replace("s3://", "").split("/");
  return [
    { Sid: "ReadRestoreSnapshot", Effect: "Allow", Action: "s3:GetObject", Resource: `arn:${env.partition}:s3:::${bucket}/${key.join("/")}` },
    {
      Sid: "DecryptRestoreSnapshot",
      Effect: "Allow",
      Action: "kms:Decrypt",
      Resource: keyArn,
      Condition: { StringEquals: { "kms:ViaService": `s3.${env.region}.${env.dnsSuffix}` } },
    },
  ];
}

/** Canonical's public SSM parameter for the newest Ubuntu 24.04 LTS AMI. */
export function ubuntuAmiParameter(architecture: Architecture): string {
  return `/aws/service/canonical/ubuntu/server/24.04/stable/current/${architecture}/hvm/ebs-gp3/ami-id`;
}

/**
 * A highly available kubeadm control plane: the nodes, their endpoint and
 * their secrets. One Auto Scaling group of one instance per node, spread over
 * the zones, behind the API load balancers. Nodes elect the one that runs
 * `kubeadm init`; the others join with CA material from Secrets Manager. No
 * secret passes through Terraform. What the whole cluster shares lives in
 * `ClusterServices`.
 */
export class ControlPlane extends Construct implements IControlPlane {
  readonly clusterName: string;
  readonly settings: ControlPlaneSettings;
  readonly endpoint: string;
  readonly endpointHost: string;
  readonly workerSecurityGroupId: string;
  readonly securityGroups: ClusterSecurityGroups;
  readonly apiEndpoint: ApiEndpoint;
  readonly secrets: ClusterSecrets;
  readonly role: NodeRole;
  /** The service-account issuer AWS IAM trusts and its OpenID Connect provider, unless workload identity is off. */
  readonly serviceAccountIssuer?: ServiceAccountIssuer;
  /** Roles of the add-on controllers that call AWS (EBS CSI, cluster autoscaler, termination handler), with workload identity. */
  readonly addonRoles: ServiceAccountRole[];
  /** The etcd backup bucket and alarm, unless backups are off. */
  readonly etcdBackup?: EtcdBackup;
  readonly joinParameters: { readonly token: string; readonly caCertHash: string; readonly kubernetesVersion: string };
  readonly kubernetesVersion: string;
  readonly clusterDomain: string;
  readonly serviceCidr: string;
  readonly autoScalingGroupNames: string[];
  /** Shell command that prints the admin kubeconfig. */
  readonly adminKubeconfigCommand: string;
  /** Shell command that opens a shell on a control-plane node through Session Manager. */
  readonly sessionCommand: string;

  constructor(scope: Construct, id: string, props: ControlPlaneProps) {
    super(scope, id);
    validateClusterName(props.clusterName);
    const cluster = props.clusterName;
    const services = props.services;
    if (services.clusterName !== cluster) {
      throw new ConfigError("services", `belong to cluster ${JSON.stringify(services.clusterName)}, not ${JSON.stringify(cluster)}`);
    }
    const settings = resolveControlPlaneSettings(props, props.network.vpcCidr, services.observabilitySettings);
    const env = AwsEnvironment.of(this);
    const key = props.encryptionKey ?? services.encryptionKey;
    this.clusterName = cluster;
    this.settings = settings;

    this.securityGroups = new ClusterSecurityGroups(this, "security-groups", {
      clusterName: cluster,
      vpcId: props.network.vpcId,
      publicAllowedCidrs: settings.apiServer.publicAllowedCidrs,
      cniPorts: cniNodePorts(settings.addons.cni),
    });
    this.apiEndpoint = new ApiEndpoint(this, "api", {
      clusterName: cluster,
      vpcId: props.network.vpcId,
      privateSubnetIds: props.network.privateSubnetIds,
      publicSubnetIds: props.network.publicSubnetIds,
      securityGroupId: this.securityGroups.apiLoadBalancerId,
      publicSecurityGroupId: this.securityGroups.publicApiLoadBalancerId,
      deletionProtection: settings.deletionProtection,
    });
    this.secrets = new ClusterSecrets(this, "secrets", { clusterName: cluster, encryptionKey: key, recoveryWindowDays: settings.secretsRecoveryWindowDays });
    const joinParameters = new JoinParameters(this, "join-parameters", { clusterName: cluster, encryptionKey: key });
    const groupPrefix = resourceName(cluster, "control-plane");
    const observability = settings.observability;
    const alarmTopic = services.alarmTopic;
    const terminationQueue = settings.addons.nodeTerminationHandler ? services.enableTerminationHandling() : undefined;
    if (settings.etcd.backup) {
      this.etcdBackup = new EtcdBackup(this, "etcd-backup", {
        clusterName: cluster,
        encryptionKey: key,
        settings: settings.etcd.backup,
        alarmActions: alarmTopic ? [alarmTopic.topicArn] : undefined,
        // By name: the role's policies include the bucket's statements, so the role comes later.
        nodeRoleArn: env.arn("iam", `role/${iamRoleName(cluster, "control-plane")}`, { region: "" }),
        readers: settings.adminPrincipalArns,
      });
    }
    if (settings.workloadIdentity) {
      this.serviceAccountIssuer = new ServiceAccountIssuer(this, "service-account-issuer", {
        clusterName: cluster,
        // By name, as for the backup bucket: the role's policies name the issuer's bucket.
        publisherRoleArn: env.arn("iam", `role/${iamRoleName(cluster, "control-plane")}`, { region: "" }),
      });
    }
    // With workload identity, the add-on controllers that call AWS take roles of their own through their service
    // accounts, and the control-plane role keeps only the cloud controller manager's statements.
    const controllers = addonControllers(settings.addons, env, cluster, key.keyArn, terminationQueue);
    const issuer = this.serviceAccountIssuer;
    this.addonRoles = issuer
      ? controllers.map(
          (c) =>
            new ServiceAccountRole(this, `addon-role-${c.addon}`, {
              cluster: { clusterName: cluster, controlPlane: { serviceAccountIssuer: issuer } },
              namespace: "kube-system",
              name: c.serviceAccount,
              policyStatements: c.statements,
            }),
        )
      : [];
    this.role = new NodeRole(this, "role", {
      name: iamRoleName(cluster, "control-plane"),
      description: `Kubernetes control-plane nodes of ${cluster}`,
      policies: {
        ...controlPlanePolicies(env, {
          clusterName: cluster,
          encryptionKeyArn: key.keyArn,
          secretArns: [this.secrets.pkiSecretArn, this.secrets.adminKubeconfigSecretArn],
          autoScalingGroupPrefix: groupPrefix,
        }),
        "node-bundle": bundleReadStatements(env, services.nodeArtifacts, [BUNDLE_PREFIX, ADDON_SPEC_PREFIX], key.keyArn),
        ...(this.etcdBackup ? { "etcd-backup": this.etcdBackup.nodeStatements(env, key.keyArn) } : {}),
        ...(this.serviceAccountIssuer ? { "service-account-issuer": this.serviceAccountIssuer.publisherStatements() } : {}),
        ...(observability.logs ? { "ship-logs": logWriteStatements(env, cluster, "control-plane") } : {}),
        metrics: [
          {
            // PutMetricData takes no resource; the namespace condition scopes it.
            Sid: "PublishClusterMetrics",
            Effect: "Allow",
            Action: "cloudwatch:PutMetricData",
            Resource: "*",
            Condition: { StringEquals: { "cloudwatch:namespace": [CONTROL_PLANE_METRIC_NAMESPACE, ETCD_METRIC_NAMESPACE] } },
          },
        ],
        ...(settings.etcd.restoreFrom ? { "etcd-restore": restoreStatements(env, settings.etcd.restoreFrom, key.keyArn) } : {}),
      },
      // The add-on controllers' permissions are large; as managed policies they keep the inline ones under IAM's size limit.
      managedPolicies: {
        "cloud-controller-manager": cloudControllerManagerStatements(env, cluster),
        ...(issuer ? {} : Object.fromEntries(controllers.map((c) => [c.addon, c.statements]))),
      },
    });

    this.secrets.restrictAccess(this.role.roleArn, settings.adminPrincipalArns);

    const node = controlPlaneNode({
      clusterName: cluster,
      region: env.region,
      settings,
      endpointHost: this.apiEndpoint.host,
      endpoint: this.apiEndpoint.endpoint,
      kmsKeyAlias: key.aliasName,
      pkiSecretName: this.secrets.pkiSecretName,
      adminKubeconfigSecretName: this.secrets.adminKubeconfigSecretName,
      publicLoadBalancerName: this.apiEndpoint.publicLoadBalancerName,
    });
    const bundle = renderBundle(node, BUNDLE_PREFIX);
    const bundleObject = storeBundle(this, "bundle", services.nodeArtifacts, bundle);
    // Running control-plane nodes take this bundle, one at a time (roll-control-plane.sh); written after the object exists.
    new SsmParameter(this, "rollout-bundle", {
      name: rolloutParameters(cluster).bundle,
      description: `Kubernetes cluster ${cluster}: the node bundle every control-plane node must run; nodes roll to it one at a time`,
      type: "String",
      // Not sensitive: a plan shows which bundle the control plane will roll to.
      insecureValue: `${bundle.key} ${bundle.sha256}`,
      dependsOn: [bundleObject],
    });
    // The add-on specification, in the cluster's services: readable in the plan; the control plane applies it whenever it changes.
    const addons = renderAddons(
      settings.addons,
      {
        clusterName: cluster,
        region: env.region,
        kubernetesMinor: settings.version.minor,
        podCidr: settings.podCidr,
        encryptionKeyAliasArn: env.arn("kms", key.aliasName),
        controlPlaneArchitecture: settings.architecture,
        terminationQueueUrl: terminationQueue?.queueUrl,
        // By name: known at plan, so the plan shows the whole specification.
        controllerRoleArns: Object.fromEntries(this.addonRoles.map((r) => [r.serviceAccountName, env.arn("iam", `role/${r.roleName}`, { region: "" })])),
      },
      settings.version.release,
    );
    const addonSpecChecksum = services.storeAddonSpecification(
      renderAddonSpec(addons, settings.version.minor),
      // Handlers start polling the queue, and controllers assume their roles, as soon as nodes apply the specification.
      [...(terminationQueue ? [terminationQueue.queue] : []), ...this.addonRoles.flatMap((r) => r.dependables)],
    );
    const tags = { ...stackDefaultTags(cluster), ...clusterTags(cluster), [ROLE_TAG_KEY]: "control-plane", Name: groupPrefix };
    const launchTemplate = new LaunchTemplate(this, "launch-template", {
      name: groupPrefix,
      description: `Kubernetes ${settings.version.minor} control-plane nodes of ${cluster}`,
      // EC2 resolves the parameter at each launch, so Terraform needs no AMI lookup.
      imageId: settings.ami ?? `resolve:ssm:${ubuntuAmiParameter(settings.architecture)}`,
      instanceType: settings.instanceType,
      iamInstanceProfile: { arn: this.role.instanceProfileArn },
      vpcSecurityGroupIds: [this.securityGroups.controlPlaneId],
      // IMDSv2 only; hop limit 1 keeps instance credentials away from pods (host-network pods still reach it).
      metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
      // A node that cannot bootstrap and cannot reach the Auto Scaling API powers itself off; it must not linger stopped.
      instanceInitiatedShutdownBehavior: "terminate",
      // A minor change of a running cluster stops at plan time, before any node is replaced.
      lifecycle: { precondition: versionGuard(joinParameters, settings.version) },
      blockDeviceMappings: [
        {
          deviceName: "/dev/sda1",
          ebs: { volumeSize: settings.rootVolumeSizeGiB, volumeType: "gp3", encrypted: "true", kmsKeyId: key.keyArn, deleteOnTermination: "true" },
        },
      ],
      userData: encodeUserData(renderUserData(node, bundle)),
      updateDefaultVersion: true,
      tagSpecifications: [
        { resourceType: "instance", tags },
        { resourceType: "volume", tags },
      ],
    });

    const zones = props.network.availabilityZones;
    this.autoScalingGroupNames = [...Array(settings.count).keys()].map((i) => {
      const name = `${groupPrefix}-${i}`;
      new AutoscalingGroup(this, `node-${i}`, {
        name,
        // One node; two while a minor upgrade replaces it: its successor joins before it leaves (roll-control-plane.sh).
        minSize: 1,
        maxSize: 2,
        desiredCapacity: 1,
        // Node i lives in zone i (round robin when there are more nodes than zones).
        vpcZoneIdentifier: [props.network.privateSubnetIds[i % zones.length]],
        launchTemplate: { id: launchTemplate.id, version: launchTemplate.latestVersion.toString() },
        targetGroupArns: this.apiEndpoint.targetGroupArns,
        // EC2 health checks only: ELB checks would let an etcd outage (every /readyz failing) terminate every
        // control-plane node at once. A node whose bootstrap fails marks itself unhealthy instead.
        healthCheckType: "EC2",
        healthCheckGracePeriod: 600,
        // The deploy returns only once this node serves the API.
        waitForElbCapacity: 1,
        waitForCapacityTimeout: "40m",
        enabledMetrics: GROUP_METRICS,
        tag: Object.entries({ ...tags, Name: name }).map(([key, value]) => ({ key, value, propagateAtLaunch: false })),
        // A booting node downloads packages through the network's egress first, then fetches both objects.
        // The join parameters: on destroy the nodes that write them go first, so none can create one again.
        // The first node publishes the service-account issuer's documents into its bucket after kubeadm init.
        dependsOn: [
          ...egressDependencies(this, props.network),
          bundleObject,
          addonSpecChecksum,
          ...joinParameters.parameters,
          ...(this.serviceAccountIssuer ? [this.serviceAccountIssuer.bucket] : []),
        ],
      });
      if (alarmTopic) autoScalingGroupAlarms(new Construct(this, `node-${i}-alarms`), { clusterName: cluster, topicArn: alarmTopic.topicArn }, name);
      return name;
    });
    const internal = this.apiEndpoint.internal;
    if (alarmTopic && observability.alarms) {
      controlPlaneAlarms(this, {
        clusterName: cluster,
        topicArn: alarmTopic.topicArn,
        loadBalancerArnSuffix: internal.loadBalancerArnSuffix,
        targetGroupArnSuffix: internal.targetGroupArnSuffix,
        certificateDaysThreshold: observability.alarms.certificateDaysThreshold,
        etcdQuotaBytes: Number(settings.etcd.extraArgs["quota-backend-bytes"] ?? ETCD_DEFAULT_QUOTA_BYTES),
        etcdQuotaUsedPercent: observability.alarms.etcdQuotaUsedPercent,
      });
    }
    services.addDashboard({
      loadBalancerArnSuffix: internal.loadBalancerArnSuffix,
      targetGroupArnSuffix: internal.targetGroupArnSuffix,
      controlPlaneGroups: this.autoScalingGroupNames,
    });

    this.endpoint = this.apiEndpoint.endpoint;
    this.endpointHost = this.apiEndpoint.host;
    this.workerSecurityGroupId = this.securityGroups.workersId;
    this.joinParameters = joinParameters.names;
    this.kubernetesVersion = settings.version.patch;
    this.clusterDomain = settings.clusterDomain;
    this.serviceCidr = settings.serviceCidr;
    this.adminKubeconfigCommand = `aws secretsmanager get-secret-value --region ${env.region} --secret-id ${this.secrets.adminKubeconfigSecretName} --query SecretString --output text`;
    this.sessionCommand =
      `aws ssm start-session --region ${env.region} --target $(aws ec2 describe-instances --region ${env.region} ` +
      `--filters Name=tag:${ROLE_TAG_KEY},Values=control-plane Name=tag:kubernetes.io/cluster/${cluster},Values=owned Name=instance-state-name,Values=running ` +
      `--query 'Reservations[0].Instances[0].InstanceId' --output text)`;
  }
}
