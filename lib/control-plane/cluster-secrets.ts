import { SecretsmanagerSecret } from "@cdktf/provider-aws/lib/secretsmanager-secret";
import { SecretsmanagerSecretPolicy } from "@cdktf/provider-aws/lib/secretsmanager-secret-policy";
import { Construct } from "constructs";
import { AwsEnvironment } from "../aws-environment";
import { IClusterKey } from "../cluster-key";
import { PolicyStatement, policyDocument } from "../iam";
import { secretName } from "../naming";

export interface ClusterSecretsProps {
  readonly clusterName: string;
  readonly encryptionKey: IClusterKey;
  readonly recoveryWindowDays: number;
}

/**
 * Empty Secrets Manager containers for what the first control-plane node
 * creates: the PKI (CAs, service-account key, encryption key) and the admin
 * kubeconfig. Terraform never sees a value, so none reaches its state.
 */
export class ClusterSecrets extends Construct {
  readonly pkiSecretArn: string;
  readonly pkiSecretName: string;
  readonly adminKubeconfigSecretArn: string;
  readonly adminKubeconfigSecretName: string;
  private readonly pki: SecretsmanagerSecret;
  private readonly adminKubeconfig: SecretsmanagerSecret;

  constructor(scope: Construct, id: string, props: ClusterSecretsProps) {
    super(scope, id);
    const secret = (purpose: "pki" | "admin-kubeconfig", description: string) =>
      new SecretsmanagerSecret(this, purpose, {
        name: secretName(props.clusterName, purpose),
        description,
        kmsKeyId: props.encryptionKey.keyArn,
        recoveryWindowInDays: props.recoveryWindowDays,
      });
    this.pki = secret("pki", `Kubernetes cluster ${props.clusterName}: CA keys, service-account key and encryption key, written by the first control-plane node`);
    this.adminKubeconfig = secret("admin-kubeconfig", `Kubernetes cluster ${props.clusterName}: admin kubeconfig, written by the first control-plane node`);
    this.pkiSecretArn = this.pki.arn;
    this.adminKubeconfigSecretArn = this.adminKubeconfig.arn;
    // Names, not resource attributes: nodes get them at synth time, without waiting for the secrets.
    this.pkiSecretName = secretName(props.clusterName, "pki");
    this.adminKubeconfigSecretName = secretName(props.clusterName, "admin-kubeconfig");
  }

  /**
   * Resource policies that hold whatever IAM policies allow:
   * - reading: the PKI only by control-plane nodes, the admin kubeconfig also
   *   by `adminReaders`, so IAM admins of the account cannot read the PKI;
   * - writing a value: only control-plane nodes and the deploying principal,
   *   so nobody can plant a CA that the next replacement node installs;
   * - changing or deleting the secret or its policy: only the deploying
   *   principal (Terraform) and the named admins, so the denials above cannot
   *   be lifted by others. Secrets Manager has no root escape from such a
   *   denial: the named admins are the break-glass when the deployer changes.
   *
   * @param controlPlaneRoleArn nodes read both secrets when they join, and the first one writes them
   * @param adminReaders IAM role or user ARNs (wildcards allowed); undefined
   *   means the principal that runs the deploy
   */
  restrictAccess(controlPlaneRoleArn: string, adminReaders: string[] | undefined): void {
    const deployer = AwsEnvironment.of(this).deployingPrincipalArns();
    const readers = adminReaders ?? deployer;
    const deny = (sid: string, action: string | string[], principals: string[]): PolicyStatement => ({
      Sid: sid,
      Effect: "Deny",
      Principal: { AWS: "*" },
      Action: action,
      Resource: "*",
      Condition: { ArnNotLike: { "aws:PrincipalArn": principals } },
    });
    const guard = (secret: SecretsmanagerSecret, read: PolicyStatement) =>
      new SecretsmanagerSecretPolicy(this, `${secret.node.id}-policy`, {
        secretArn: secret.arn,
        policy: policyDocument([
          read,
          deny("OnlyControlPlaneNodesAndTheDeployerWriteValues", SECRET_VALUE_WRITES, [controlPlaneRoleArn, ...deployer]),
          deny("OnlyTheDeployerAndAdminsManageTheSecret", SECRET_MANAGEMENT, [...deployer, ...(adminReaders ?? [])]),
        ]),
      });
    guard(this.pki, deny("OnlyControlPlaneNodesReadThePki", "secretsmanager:GetSecretValue", [controlPlaneRoleArn]));
    guard(this.adminKubeconfig, deny("OnlyNamedPrincipalsReadTheAdminKubeconfig", "secretsmanager:GetSecretValue", [controlPlaneRoleArn, ...readers]));
  }
}

/** Actions that change a secret's value. */
export const SECRET_VALUE_WRITES = ["secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"];

/** Actions that change the secret itself, its policy or its rotation, or delete or restore it. */
export const SECRET_MANAGEMENT = [
  "secretsmanager:UpdateSecret",
  "secretsmanager:DeleteSecret",
  "secretsmanager:RestoreSecret",
  "secretsmanager:PutResourcePolicy",
  "secretsmanager:DeleteResourcePolicy",
  "secretsmanager:RotateSecret",
  "secretsmanager:CancelRotateSecret",
  "secretsmanager:ReplicateSecretToRegions",
  "secretsmanager:RemoveRegionsFromReplication",
  "secretsmanager:StopReplicationToReplica",
  "secretsmanager:TagResource",
  "secretsmanager:UntagResource",
];
