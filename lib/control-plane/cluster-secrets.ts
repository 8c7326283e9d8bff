import { SecretsmanagerSecret } from "@cdktf/provider-aws/lib/secretsmanager-secret";
import { SecretsmanagerSecretPolicy } from "@cdktf/provider-aws/lib/secretsmanager-secret-policy";
import { Fn } from "cdktf";
import { Construct } from "constructs";
import { AwsEnvironment } from "../aws-environment";
import { IClusterKey } from "../cluster-key";
import { policyDocument } from "../iam";
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
   * Resource policies that deny reading a secret to every principal but the
   * named ones, whatever their IAM policies allow: IAM admins of the account
   * cannot read the cluster's PKI, and only `adminReaders` the admin kubeconfig.
   *
   * @param controlPlaneRoleArn nodes read both secrets when they join
   * @param adminReaders IAM role or user ARNs (wildcards allowed); undefined
   *   means the principal that runs the deploy
   */
  restrictReaders(controlPlaneRoleArn: string, adminReaders: string[] | undefined): void {
    const readers = adminReaders ?? this.deployingPrincipal();
    const onlyFor = (sid: string, secret: SecretsmanagerSecret, principals: string[]) =>
      new SecretsmanagerSecretPolicy(this, `${secret.node.id}-policy`, {
        secretArn: secret.arn,
        policy: policyDocument([
          {
            Sid: sid,
            Effect: "Deny",
            Principal: { AWS: "*" },
            Action: "secretsmanager:GetSecretValue",
            Resource: "*",
            Condition: { ArnNotLike: { "aws:PrincipalArn": principals } },
          },
        ]),
      });
    onlyFor("OnlyControlPlaneNodesReadThePki", this.pki, [controlPlaneRoleArn]);
    onlyFor("OnlyNamedPrincipalsReadTheAdminKubeconfig", this.adminKubeconfig, [controlPlaneRoleArn, ...readers]);
  }

  /**
   * The deployer as `aws:PrincipalArn` names it: an assumed-role session
   * becomes its role (with or without a path), a user stays itself.
   */
  private deployingPrincipal(): string[] {
    const caller = AwsEnvironment.of(this).callerArn();
    // Terraform's replace() takes a /regex/; inner slashes need no escape, and HCL would reject "\/".
    const session = "/^arn:([^:]+):sts::([0-9]+):assumed-role/([^/]+)/.*$/";
    return [Fn.replace(caller, session, "arn:$1:iam::$2:role/$3"), Fn.replace(caller, session, "arn:$1:iam::$2:role/*/$3")];
  }
}
