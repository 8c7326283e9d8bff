import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { App, TerraformOutput, TerraformStack } from "cdktf";
// In your own project: import { AwsEnvironment, KubernetesCluster, NodeGroup, ServiceAccountRole } from "cdktf-kubeadm-aws";
import { AwsEnvironment, KubernetesCluster, NodeGroup, ServiceAccountRole } from "../../lib";

export interface TwoStackOptions {
  readonly region: string;
  /** @default - looked up with STS */
  readonly accountId?: string;
}

/**
 * A platform team owns the cluster stack; a product team owns its node group
 * in a stack of its own. The team's stack receives the cluster as a typed
 * object: cdktf turns every Terraform value it uses (subnet ids, the worker
 * security group, the key ARN) into a cross-stack reference, read from the
 * cluster stack's state. Names and versions are plain values known at synth.
 * The team's pods read its bucket through a role of their own service account,
 * which trusts the cluster's issuer (IAM roles for service accounts).
 */
export function buildTwoStackApp(app: App, options: TwoStackOptions) {
  const platform = new TerraformStack(app, "platform");
  new AwsProvider(platform, "aws", { region: options.region });
  new AwsEnvironment(platform, options);
  const cluster = new KubernetesCluster(platform, "cluster", {
    clusterName: "shared",
    network: { availabilityZones: [`${options.region}a`, `${options.region}b`, `${options.region}c`] },
    nodeGroups: [{ name: "system", instanceTypes: ["m7i.large"], minSize: 2, maxSize: 4 }],
  });

  const team = new TerraformStack(app, "team-data");
  new AwsProvider(team, "aws", { region: options.region });
  new AwsEnvironment(team, options);
  new NodeGroup(team, "data", {
    cluster,
    name: "data",
    instanceTypes: ["r7i.xlarge", "r6i.xlarge"],
    minSize: 0,
    maxSize: 10,
    capacity: { onDemandBase: 0, onDemandPercentageAboveBase: 0 },
    labels: { team: "data" },
    taints: [{ key: "dedicated", value: "data", effect: "NoSchedule" }],
  });
  const reader = new ServiceAccountRole(team, "reports-reader", {
    cluster,
    namespace: "data",
    name: "reports-reader",
    policyStatements: [
      { Sid: "ListReports", Effect: "Allow", Action: "s3:ListBucket", Resource: `arn:aws:s3:::data-reports-${options.region}` },
      { Sid: "ReadReports", Effect: "Allow", Action: "s3:GetObject", Resource: `arn:aws:s3:::data-reports-${options.region}/*` },
    ],
  });
  // Annotate the ServiceAccount data/reports-reader with it (eks.amazonaws.com/role-arn).
  new TerraformOutput(team, "reports_reader_role_arn", { value: reader.roleArn });
  // The team's stack deploys after the platform's.
  team.addDependency(platform);
  return { platform, team, reader };
}
