import { SecretsmanagerSecret } from "@cdktf/provider-aws/lib/secretsmanager-secret";
import { Construct } from "constructs";
import { IClusterKey } from "../cluster-key";
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

  constructor(scope: Construct, id: string, props: ClusterSecretsProps) {
    super(scope, id);
    const secret = (purpose: "pki" | "admin-kubeconfig", description: string) =>
      new SecretsmanagerSecret(this, purpose, {
        name: secretName(props.clusterName, purpose),
        description,
        kmsKeyId: props.encryptionKey.keyArn,
        recoveryWindowInDays: props.recoveryWindowDays,
      });
    const pki = secret("pki", `Kubernetes cluster ${props.clusterName}: CA keys, service-account key and encryption key, written by the first control-plane node`);
    const admin = secret("admin-kubeconfig", `Kubernetes cluster ${props.clusterName}: admin kubeconfig, written by the first control-plane node`);
    this.pkiSecretArn = pki.arn;
    this.adminKubeconfigSecretArn = admin.arn;
    // Names, not resource attributes: nodes get them at synth time, without waiting for the secrets.
    this.pkiSecretName = secretName(props.clusterName, "pki");
    this.adminKubeconfigSecretName = secretName(props.clusterName, "admin-kubeconfig");
  }
}
