import { readFileSync } from "node:fs";
import { join } from "node:path";
import { IamPolicy } from "@cdktf/provider-aws/lib/iam-policy";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { App, TerraformStack } from "cdktf";
import { AwsEnvironment } from "../../lib/aws-environment";
import { KubernetesCluster } from "../../lib/cluster";
import { ControlPlaneOptions } from "../../lib/control-plane/settings";
import { INTERFACE_ENDPOINT_SERVICES } from "../../lib/network/endpoints";
import { StackPlan, synthApp } from "../../lib/plan/offline-plan";
import { plannedResources, sharedPlan, tempDir } from "../helpers/plan";
import { PlanUnderReview } from "./policy-checks";

export interface ReviewedStack {
  readonly name: string;
  readonly plan: PlanUnderReview;
  /** Text of everything a reviewer or an attacker with read access sees: plan JSON and synthesized Terraform. */
  readonly texts: Record<string, string>;
}

/** The longest cluster name we allow, so every derived name is as long as it gets. */
export const LONGEST_CLUSTER_NAME = "platform-prod-euw1-a";

/** Control-plane options of the maximal configuration; the CIS evaluator reads them too. */
export const MAXIMAL_CONTROL_PLANE: ControlPlaneOptions = {
  count: 5,
  deletionProtection: true,
  adminAccess: { principalArns: ["arn:aws:iam::111122223333:role/platform/cluster-admin", "arn:aws:iam::111122223333:role/break-glass"] },
  apiServer: {
    publicAccess: { allowedCidrs: ["203.0.113.0/24", "198.51.100.17/32"] },
    certSANs: ["k8s.example.com"],
    podSecurity: { enforce: "restricted", exemptNamespaces: ["kube-system", "ingress-nginx"] },
  },
  etcd: {
    backup: { intervalMinutes: 5, retention: { frequentDays: 14, dailyDays: 365 }, objectLock: { mode: "COMPLIANCE", days: 7 } },
    restoreFrom: "s3://platform-prod-euw1-a-etcd-111122223333-eu-west-1/etcd/snapshot-20261101T000000Z-r42.db",
  },
};

/** A cluster with every option on: public API, endpoints, object lock, restore, alarms by mail, Cilium, spot workers. */
export function buildMaximalCluster(app: App): void {
  const stack = new TerraformStack(app, "maximal");
  new AwsProvider(stack, "aws", { region: "eu-west-1" });
  new AwsEnvironment(stack, { region: "eu-west-1", accountId: "111122223333" });
  const cluster = new KubernetesCluster(stack, "cluster", {
    clusterName: LONGEST_CLUSTER_NAME,
    network: {
      availabilityZones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
      natGateways: "perAz",
      interfaceEndpoints: [...INTERFACE_ENDPOINT_SERVICES],
      flowLogs: { retentionDays: 365 },
    },
    controlPlane: MAXIMAL_CONTROL_PLANE,
    addons: { cni: "cilium", clusterAutoscaler: { expander: "priority" } },
    observability: { alarms: { emails: ["oncall@example.com"] }, logs: { retentionDays: 365, auditRetentionDays: 3653 } },
    nodeGroups: [
      { name: "general", instanceTypes: ["m7i.large", "m6i.large"], minSize: 3, maxSize: 30, ecrRepositories: ["platform/*", "base-images"] },
      {
        name: "spot-batch-workers-a",
        instanceTypes: ["c7i.2xlarge", "c6i.2xlarge", "c5.2xlarge"],
        minSize: 0,
        maxSize: 100,
        availabilityZones: ["eu-west-1a", "eu-west-1b"],
        capacity: { onDemandBase: 0, onDemandPercentageAboveBase: 0, spotAllocationStrategy: "price-capacity-optimized" },
        rootVolumeSizeGiB: 200,
        rootVolumeType: "io2",
        labels: { "workload.example.com/class": "batch" },
        taints: [{ key: "workload.example.com/batch", value: "true", effect: "NoSchedule" }],
        kubelet: { maxPods: 58, systemReserved: { cpu: "250m", memory: "512Mi" } },
      },
    ],
  });
  // A customer-managed policy, attached by its ARN (known only at apply).
  const readJobs = new IamPolicy(stack, "batch-jobs-read", {
    name: "batch-jobs-read",
    policy: JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Sid: "ReadJobs", Effect: "Allow", Action: ["sqs:ReceiveMessage", "sqs:GetQueueAttributes"], Resource: "arn:aws:sqs:eu-west-1:111122223333:batch-jobs" }],
    }),
  });
  // Names as long as Kubernetes allows, so the role's name is cut to IAM's 64 characters.
  cluster.addServiceAccount("batch-results", {
    namespace: "workload-batch-processing-with-a-namespace-name-of-63-character",
    name: "results-writer-service-account-with-a-name-of-63-characters-xyz",
    policyStatements: [{ Sid: "WriteResults", Effect: "Allow", Action: "s3:PutObject", Resource: "arn:aws:s3:::batch-results-111122223333/*" }],
    managedPolicyArns: [readJobs.arn],
  });
}

function underReview(name: string, result: StackPlan, stackDir: string): ReviewedStack {
  const synthesized = readFileSync(join(stackDir, "cdk.tf.json"), "utf8");
  const configuration: PlanUnderReview["configuration"] = {};
  for (const [type, byName] of Object.entries((JSON.parse(synthesized).resource ?? {}) as Record<string, Record<string, any>>)) {
    for (const [resourceName, block] of Object.entries(byName)) configuration[`${type}.${resourceName}`] = block;
  }
  return {
    name,
    plan: { resources: plannedResources(result.plan), configuration },
    texts: { [`${name} plan JSON`]: JSON.stringify(result.plan), [`${name} synthesized Terraform`]: synthesized },
  };
}

/** The default app of main.ts, planned offline. */
export async function reviewDefaultApp(): Promise<ReviewedStack> {
  const outdir = tempDir("security-default");
  await synthApp(join(__dirname, "../.."), outdir);
  const stackDir = join(outdir, "stacks/kubeadm");
  return underReview("default", await sharedPlan(stackDir, join(outdir, "offline-plan/kubeadm")), stackDir);
}

/** The maximal configuration, planned offline. */
export async function reviewMaximalCluster(): Promise<ReviewedStack> {
  const outdir = tempDir("security-maximal");
  const app = new App({ outdir, skipValidation: false });
  buildMaximalCluster(app);
  app.synth();
  const stackDir = join(outdir, "stacks/maximal");
  return underReview("maximal", await sharedPlan(stackDir, join(outdir, "offline-plan/maximal")), stackDir);
}
