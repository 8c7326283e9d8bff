import { CloudwatchDashboard } from "@cdktf/provider-aws/lib/cloudwatch-dashboard";
import { SsmParameter } from "@cdktf/provider-aws/lib/ssm-parameter";
import { Fn, ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { TerminationQueue } from "./addons/node-termination-handler";
import { AwsEnvironment } from "./aws-environment";
import { IClusterKey } from "./cluster-key";
import { ADDON_SPEC_KEY } from "./control-plane/control-plane-user-data";
import { validatePrincipalArns } from "./iam";
import { ConfigError } from "./errors";
import { INodeArtifacts, NodeArtifacts, storeNodeArtifact } from "./node-artifacts";
import { addonSpecChecksumParameter } from "./naming";
import { AlarmTopic } from "./observability/alarms";
import { DashboardInputs, renderDashboard } from "./observability/dashboard";
import { ClusterLogGroups } from "./observability/logs";
import { ObservabilityOptions, ObservabilitySettings, resolveObservabilitySettings } from "./observability/settings";

/** What node groups, in this stack or another, need from the cluster's shared services. */
export interface IClusterServices {
  /** The bucket node groups store their bundles in. */
  readonly nodeArtifacts: INodeArtifacts;
  /** Whether nodes ship logs, and the topic alarms notify (when alarms are on). */
  readonly observability: { readonly logsEnabled: boolean; readonly alarmTopicArn?: string };
  /** Whether node groups get a terminating lifecycle hook that the node termination handler completes. */
  readonly terminationHandling: boolean;
}

export interface ClusterServicesProps {
  /** DNS-1123 label, at most 20 characters; the cluster these services belong to. */
  readonly clusterName: string;
  /** The cluster's KMS key: it encrypts the bucket, the log groups, the alarm topic and the termination queue. */
  readonly encryptionKey: IClusterKey;
  /** Logs, alarms and the dashboard; each can be turned off. @default - all on */
  readonly observability?: ObservabilityOptions;
  /**
   * IAM role or user ARNs, besides the deploying principal, that may write the node-artifacts bucket: the
   * principals that deploy node groups in stacks of their own (wildcards allowed in the path). Nodes run what
   * this bucket holds, so everyone else is denied, whatever their IAM policies say.
   * @default - none
   */
  readonly nodeArtifactWriterArns?: string[];
}

/**
 * What the whole cluster shares, rather than its control-plane nodes: the
 * node-artifacts bucket every node boots from, the log groups, the alarm
 * topic, the dashboard, the add-on specification and the node-termination
 * queue. The control plane that uses these services adds the last three
 * (`ControlPlane` calls the methods below), because they describe it.
 */
export class ClusterServices extends Construct implements IClusterServices {
  readonly clusterName: string;
  readonly encryptionKey: IClusterKey;
  readonly observabilitySettings: ObservabilitySettings;
  readonly nodeArtifacts: NodeArtifacts;
  readonly logGroups?: ClusterLogGroups;
  readonly alarmTopic?: AlarmTopic;
  readonly observability: { readonly logsEnabled: boolean; readonly alarmTopicArn?: string };
  private queue?: TerminationQueue;

  constructor(scope: Construct, id: string, props: ClusterServicesProps) {
    super(scope, id);
    const cluster = props.clusterName;
    const observability = resolveObservabilitySettings(props.observability ?? {});
    const writers = props.nodeArtifactWriterArns?.length ? validatePrincipalArns(props.nodeArtifactWriterArns, "nodeArtifactWriterArns") : [];
    this.clusterName = cluster;
    this.encryptionKey = props.encryptionKey;
    this.observabilitySettings = observability;
    this.nodeArtifacts = new NodeArtifacts(this, "node-artifacts", { clusterName: cluster, encryptionKey: props.encryptionKey, additionalWriters: writers });
    if (observability.logs) {
      this.logGroups = new ClusterLogGroups(this, "logs", { clusterName: cluster, encryptionKey: props.encryptionKey, ...observability.logs });
    }
    if (observability.alarms) {
      this.alarmTopic = new AlarmTopic(this, "alarms", { clusterName: cluster, encryptionKey: props.encryptionKey, emails: observability.alarms.emails });
    }
    this.observability = { logsEnabled: observability.logs !== undefined, alarmTopicArn: this.alarmTopic?.topicArn };
  }

  /** The node-termination queue and its EventBridge rules, once the control plane turned the handler on. */
  get terminationQueue(): TerminationQueue | undefined {
    return this.queue;
  }

  get terminationHandling(): boolean {
    return this.queue !== undefined;
  }

  /** Creates the queue the node termination handler reads (once); node groups created after this get a terminating hook. */
  enableTerminationHandling(): TerminationQueue {
    this.queue ??= new TerminationQueue(this, "termination-queue", { clusterName: this.clusterName, encryptionKey: this.encryptionKey });
    return this.queue;
  }

  /**
   * Stores the add-on specification the control plane applies, and its checksum in SSM, written after the object:
   * a node that reads the new checksum finds the new specification. Returns the checksum parameter, which booting
   * control-plane nodes must wait for. One control plane per cluster, so one specification.
   */
  storeAddonSpecification(content: string, dependsOn: ITerraformDependable[]): SsmParameter {
    if (this.node.tryFindChild("addon-spec")) {
      throw new ConfigError("services", `the cluster services of ${this.clusterName} already serve a control plane; create one ClusterServices per cluster`);
    }
    const spec = storeNodeArtifact(this, "addon-spec", this.nodeArtifacts, { key: ADDON_SPEC_KEY, content, contentType: "application/json", dependsOn });
    return new SsmParameter(this, "addon-spec-sha256", {
      name: addonSpecChecksumParameter(this.clusterName),
      description: `Kubernetes cluster ${this.clusterName}: sha256 of s3://${this.nodeArtifacts.bucketName}/${ADDON_SPEC_KEY}, the only add-on specification control-plane nodes apply`,
      type: "String",
      value: Fn.sha256(spec.content),
    });
  }

  /** The cluster's dashboard, unless observability turned it off. */
  addDashboard(inputs: Omit<DashboardInputs, "clusterName" | "region">): void {
    if (!this.observabilitySettings.dashboard) return;
    new CloudwatchDashboard(this, "dashboard", {
      dashboardName: this.clusterName,
      dashboardBody: renderDashboard({ ...inputs, clusterName: this.clusterName, region: AwsEnvironment.of(this).region }),
    });
  }
}
