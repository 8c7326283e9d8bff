import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { LocalBackend, S3Backend, TerraformOutput, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { AwsEnvironment } from "../aws-environment";
import { KubernetesCluster } from "../cluster";
import { stackDefaultTags } from "../tags";
import { AppConfig } from "./config";

/** The deployable stack of main.ts: provider, state backend, one cluster and its outputs. */
export class ClusterStack extends TerraformStack {
  readonly cluster: KubernetesCluster;

  constructor(scope: Construct, id: string, config: AppConfig) {
    super(scope, id);
    new AwsProvider(this, "aws", { region: config.region, defaultTags: [{ tags: stackDefaultTags(config.clusterName) }] });
    new AwsEnvironment(this, { region: config.region, accountId: config.accountId });
    if (config.stateBackend) {
      const backend = new S3Backend(this, { ...config.stateBackend, encrypt: true });
      // S3-native locking (Terraform >= 1.10); S3Backend has no prop for it yet.
      backend.addOverride("use_lockfile", true);
    } else {
      new LocalBackend(this, { path: `terraform.${id}.tfstate` });
    }
    this.cluster = new KubernetesCluster(this, "cluster", {
      clusterName: config.clusterName,
      network: config.network,
      controlPlane: config.controlPlane,
      observability: config.observability,
      nodeGroups: config.nodeGroups,
    });

    const network = this.cluster.network;
    new TerraformOutput(this, "vpc_id", { value: network.vpcId });
    new TerraformOutput(this, "private_subnet_ids", { value: network.privateSubnetIds });
    new TerraformOutput(this, "public_subnet_ids", { value: network.publicSubnetIds });
    const controlPlane = this.cluster.controlPlane;
    new TerraformOutput(this, "api_endpoint", { value: `https://${controlPlane.endpoint}`, description: "Kubernetes API, resolvable inside the VPC" });
    if (controlPlane.apiEndpoint.publicDnsName) {
      new TerraformOutput(this, "public_api_endpoint", { value: `https://${controlPlane.apiEndpoint.publicDnsName}:6443` });
    }
    new TerraformOutput(this, "admin_kubeconfig_command", { value: controlPlane.adminKubeconfigCommand, description: "Prints the admin kubeconfig" });
    new TerraformOutput(this, "node_group_names", { value: this.cluster.nodeGroups.map((g) => g.autoScalingGroupName), description: "Worker Auto Scaling groups" });
    new TerraformOutput(this, "control_plane_session_command", { value: controlPlane.sessionCommand, description: "Opens a shell on a control-plane node" });
    const issuer = controlPlane.serviceAccountIssuer;
    if (issuer) {
      new TerraformOutput(this, "service_account_issuer", { value: issuer.urls.issuer, description: "The issuer of service-account tokens that AWS IAM trusts" });
      new TerraformOutput(this, "oidc_provider_arn", { value: issuer.providerArn, description: "The IAM OpenID Connect provider that roles for service accounts trust" });
    }
  }
}
