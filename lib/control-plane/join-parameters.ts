import { SsmParameter } from "@cdktf/provider-aws/lib/ssm-parameter";
import { Fn, Op, Precondition } from "cdktf";
import { Construct } from "constructs";
import { IClusterKey } from "../cluster-key";
import { ssmParameterName } from "../naming";
import { ResolvedKubernetesVersion } from "../versions";

/** The value Terraform creates the join parameters with; nodes treat it as "not published yet". */
export const UNSET_PARAMETER_VALUE = "kubeadm-aws:unset";

/** SSM parameters the first control-plane node publishes and joining nodes read. */
export function joinParameterNames(clusterName: string) {
  return {
    token: ssmParameterName(clusterName, "join", "token"),
    caCertHash: ssmParameterName(clusterName, "join", "ca-cert-hash"),
    kubernetesVersion: ssmParameterName(clusterName, "join", "kubernetes-version"),
  };
}

export interface JoinParametersProps {
  readonly clusterName: string;
  readonly encryptionKey: IClusterKey;
}

/**
 * The join parameters, owned by Terraform so that a destroy removes them and a
 * cluster re-created under the same name never reads the old one's token, CA
 * hash or version. Terraform creates them unset and never changes their value
 * again (nodes write it); their names are known at synth time, so nodes need no
 * Terraform value.
 */
export class JoinParameters extends Construct {
  readonly names: ReturnType<typeof joinParameterNames>;
  /** The version the first control-plane node recorded, as refreshed at plan time; UNSET_PARAMETER_VALUE before. */
  readonly recordedVersion: string;

  constructor(scope: Construct, id: string, props: JoinParametersProps) {
    super(scope, id);
    this.names = joinParameterNames(props.clusterName);
    const parameter = (name: string, description: string, secure: boolean) =>
      new SsmParameter(this, name.split("/").pop()!, {
        name,
        description,
        type: secure ? "SecureString" : "String",
        ...(secure ? { keyId: props.encryptionKey.keyArn } : {}),
        value: UNSET_PARAMETER_VALUE,
        // Nodes own the value from the first write on.
        lifecycle: { ignoreChanges: ["value"] },
      });
    parameter(this.names.token, `Kubernetes cluster ${props.clusterName}: the current bootstrap token, kept fresh by the control plane`, true);
    // Not a secret, but it decides whom joining nodes trust: only the control plane may write it, under the cluster key.
    parameter(this.names.caCertHash, `Kubernetes cluster ${props.clusterName}: sha256 of the cluster CA's public key, which joining nodes pin`, true);
    this.recordedVersion = parameter(this.names.kubernetesVersion, `Kubernetes cluster ${props.clusterName}: the version the cluster was created with`, false).value;
  }
}

/**
 * A precondition that refuses a change of the Kubernetes minor on a running
 * cluster: Terraform refreshes the recorded version while it plans, so the
 * plan fails with this message before anything is replaced. Patches of the
 * running minor pass; so does a cluster not created yet.
 */
export function versionGuard(parameters: JoinParameters, version: ResolvedKubernetesVersion): Precondition {
  const recorded = parameters.recordedVersion;
  return {
    condition: Op.or(Op.eq(recorded, UNSET_PARAMETER_VALUE), Fn.startswith(recorded, `v${version.minor}.`)),
    errorMessage:
      // The provider marks every parameter value sensitive; a version is not.
      `kubernetesVersion: the cluster runs ${Fn.nonsensitive(recorded)} (SSM ${parameters.names.kubernetesVersion}), and ${version.minor} is another minor. ` +
      `Upgrading a running cluster's minor is not automated yet; keep the running minor, or a patch of it.`,
  };
}
