import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule";
import { CloudwatchEventTarget } from "@cdktf/provider-aws/lib/cloudwatch-event-target";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { SqsQueuePolicy } from "@cdktf/provider-aws/lib/sqs-queue-policy";
import { Construct } from "constructs";
import { AwsEnvironment } from "../aws-environment";
import { toYamlDocuments } from "../bootstrap/yaml";
import { IClusterKey } from "../cluster-key";
import { PolicyStatement, policyDocument } from "../iam";
import { resourceName } from "../naming";
import { clusterTagKey } from "../tags";
import { NODE_TERMINATION_HANDLER_IMAGE } from "../versions";
import { Addon, AddonAwsIdentity, awsControllerPod, deployment, RESTRICTED_CONTAINER, clusterRoleWithBinding, serviceAccount } from "./addon";

/** The handler's service account, whose role (or, without workload identity, the control-plane role) reads the queue. */
export const NODE_TERMINATION_HANDLER_ACCOUNT = "aws-node-termination-handler";
/** Instances carrying this tag key are drained by the handler; node groups tag theirs. */
export const NTH_MANAGED_TAG = "aws-node-termination-handler/managed";
/** Every node group's terminating lifecycle hook: the handler drains the node, then completes it. */
export const TERMINATION_HOOK = { name: "node-termination", heartbeatTimeout: 300 } as const;

/** The EventBridge rules that feed the queue, by purpose. */
export function terminationEventPatterns(clusterName: string): Record<string, object> {
  return {
    "asg-termination": {
      source: ["aws.autoscaling"],
      "detail-type": ["EC2 Instance-terminate Lifecycle Action"],
      // Only this cluster's groups.
      detail: { AutoScalingGroupName: [{ prefix: `${clusterName}-` }] },
    },
    "spot-interruption": { source: ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"] },
    "rebalance-recommendation": { source: ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"] },
    "instance-state-change": { source: ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"] },
  };
}

export interface TerminationQueueProps {
  readonly clusterName: string;
  readonly encryptionKey: IClusterKey;
}

/**
 * The queue the node termination handler reads: ASG terminations (scale-in,
 * instance refresh), spot interruptions, rebalance recommendations and state
 * changes arrive through EventBridge. Encrypted with the cluster key.
 */
export class TerminationQueue extends Construct {
  /** Built from the name and known at plan time, so the add-on specification shows it. */
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly queue: SqsQueue;

  constructor(scope: Construct, id: string, props: TerminationQueueProps) {
    super(scope, id);
    const env = AwsEnvironment.of(this);
    const name = resourceName(props.clusterName, "node-termination");
    this.queue = new SqsQueue(this, "queue", {
      name,
      // Events older than five minutes are no longer actionable.
      messageRetentionSeconds: 300,
      kmsMasterKeyId: props.encryptionKey.keyArn,
    });
    // Built from the name, so the policy shows in full in the plan.
    this.queueArn = env.arn("sqs", name);
    this.queueUrl = `https://sqs.${env.region}.${env.dnsSuffix}/${env.accountId}/${name}`;
    const rules = Object.entries(terminationEventPatterns(props.clusterName)).map(([purpose, pattern]) => {
      const rule = new CloudwatchEventRule(this, `${purpose}-rule`, {
        name: resourceName(props.clusterName, purpose),
        description: `${props.clusterName}: ${purpose} events for the node termination handler`,
        eventPattern: JSON.stringify(pattern),
      });
      new CloudwatchEventTarget(this, `${purpose}-target`, { rule: rule.name, targetId: "node-termination-queue", arn: this.queue.arn });
      return env.arn("events", `rule/${rule.name}`);
    });
    new SqsQueuePolicy(this, "policy", {
      queueUrl: this.queue.url,
      policy: policyDocument([
        {
          Sid: "EventBridgeRulesOfThisCluster",
          Effect: "Allow",
          Principal: { Service: env.servicePrincipal("events") },
          Action: "sqs:SendMessage",
          Resource: this.queueArn,
          Condition: { ArnEquals: { "aws:SourceArn": rules } },
        },
        {
          Sid: "DenyInsecureTransport",
          Effect: "Deny",
          Principal: "*",
          Action: "sqs:*",
          Resource: this.queueArn,
          Condition: { Bool: { "aws:SecureTransport": "false" } },
        },
      ]),
    });
  }

  /** The handler reads and deletes messages, completes hooks of this cluster's groups, and reads what it drains. */
  handlerStatements(env: AwsEnvironment, clusterName: string, keyArn: string): PolicyStatement[] {
    return [
      { Sid: "TerminationQueue", Effect: "Allow", Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage"], Resource: this.queueArn },
      {
        Sid: "DecryptTerminationQueue",
        Effect: "Allow",
        Action: "kms:Decrypt",
        Resource: keyArn,
        Condition: { StringEquals: { "kms:ViaService": `sqs.${env.region}.${env.dnsSuffix}` } },
      },
      {
        Sid: "TerminationReads",
        Effect: "Allow",
        // Describe calls take no resource ARN.
        Action: ["autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeTags", "ec2:DescribeInstances"],
        Resource: "*",
      },
      {
        Sid: "CompleteClusterTerminationHooks",
        Effect: "Allow",
        Action: "autoscaling:CompleteLifecycleAction",
        Resource: "*",
        Condition: { StringEquals: { [`aws:ResourceTag/${clusterTagKey(clusterName)}`]: "owned" } },
      },
    ];
  }
}

/** aws-node-termination-handler in queue mode: cordons and drains a node before it goes away. */
export function nodeTerminationHandler(options: { region: string; queueUrl: string; identity?: AddonAwsIdentity }): Addon {
  const labels = { "app.kubernetes.io/name": "aws-node-termination-handler" };
  const env = (name: string, value: string) => ({ name, value });
  const documents = [
    serviceAccount(NODE_TERMINATION_HANDLER_ACCOUNT, "kube-system", options.identity),
    ...clusterRoleWithBinding("aws-node-termination-handler", NODE_TERMINATION_HANDLER_ACCOUNT, [
      { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "patch", "update"] },
      { apiGroups: [""], resources: ["pods"], verbs: ["list", "get"] },
      { apiGroups: [""], resources: ["pods/eviction"], verbs: ["create"] },
      { apiGroups: ["apps"], resources: ["daemonsets"], verbs: ["get"] },
      { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
    ]),
    deployment("aws-node-termination-handler", labels, { replicas: 1 }, awsControllerPod(options.identity, ["aws-node-termination-handler"], {
      serviceAccountName: NODE_TERMINATION_HANDLER_ACCOUNT,
      securityContext: { fsGroup: 1000 },
      containers: [
        {
          name: "aws-node-termination-handler",
          image: NODE_TERMINATION_HANDLER_IMAGE,
          env: [
            { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
            { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
            { name: "NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
            env("ENABLE_SQS_TERMINATION_DRAINING", "true"),
            env("QUEUE_URL", options.queueUrl),
            env("AWS_REGION", options.region),
            env("CHECK_TAG_BEFORE_DRAINING", "true"),
            env("MANAGED_TAG", NTH_MANAGED_TAG),
            // Nodes are named after the private DNS name; the provider id is the sure match.
            env("USE_PROVIDER_ID", "true"),
            env("DELETE_SQS_MSG_IF_NODE_NOT_FOUND", "true"),
            env("IGNORE_DAEMON_SETS", "true"),
            env("DELETE_LOCAL_DATA", "true"),
            env("POD_TERMINATION_GRACE_PERIOD", "-1"),
            env("NODE_TERMINATION_GRACE_PERIOD", "120"),
            env("EMIT_KUBERNETES_EVENTS", "true"),
            env("ENABLE_PROBES_SERVER", "true"),
            env("PROBES_SERVER_PORT", "8080"),
            env("PROBES_SERVER_ENDPOINT", "/healthz"),
            env("JSON_LOGGING", "true"),
          ],
          ports: [{ name: "liveness-probe", containerPort: 8080, protocol: "TCP" }],
          livenessProbe: { httpGet: { path: "/healthz", port: 8080 }, initialDelaySeconds: 5, periodSeconds: 5 },
          resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "128Mi" } },
          securityContext: { ...RESTRICTED_CONTAINER, runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000 },
        },
      ],
    })),
  ];
  return {
    name: "aws-node-termination-handler",
    version: NODE_TERMINATION_HANDLER_IMAGE.split(":")[1],
    order: 60,
    resources: ["manifest.yaml"],
    files: { "manifest.yaml": toYamlDocuments(documents) },
    downloads: [],
  };
}
