import { SsmParameter } from "@cdktf/provider-aws/lib/ssm-parameter";
import { Fn, Op, Precondition, Token } from "cdktf";
import { Construct } from "constructs";
import { IClusterKey } from "../cluster-key";
import { ssmParameterName } from "../naming";
import { ResolvedKubernetesVersion } from "../versions";

/** The value Terraform creates the join parameters with; nodes treat it as "not published yet". */
export const UNSET_PARAMETER_VALUE = "kubeadm-aws:unset";

/**
 * SSM parameters the first control-plane node publishes and joining nodes read. During a minor upgrade the two
 * versions differ: `controlPlaneVersion` is the one kube-system/kubeadm-config names, which control-plane nodes of
 * that minor join with; `kubernetesVersion` moves to it once every control-plane node runs it, and workers and the
 * add-ons that follow the minor wait for that.
 */
export function joinParameterNames(clusterName: string) {
  return {
    token: ssmParameterName(clusterName, "join", "token"),
    caCertHash: ssmParameterName(clusterName, "join", "ca-cert-hash"),
    kubernetesVersion: ssmParameterName(clusterName, "join", "kubernetes-version"),
    controlPlaneVersion: ssmParameterName(clusterName, "join", "control-plane-version"),
  };
}

export interface JoinParametersProps {
  readonly clusterName: string;
  readonly encryptionKey: IClusterKey;
}

/**
 * The join parameters, owned by Terraform so that a destroy removes them and a
 * cluster re-created under the same name never reads the old one's token, CA
 * hash or version. Terraform creates them unset and never changes them again
 * (`ignore_changes: all`): nodes write the values. Their names are known at
 * synth time, so nodes need no Terraform value.
 *
 * The token and the CA hash are write-only in Terraform (`value_wo`,
 * Terraform 1.11): a refresh never reads what nodes wrote into the state. The
 * version is no secret, and the plan reads it (`versionGuard`).
 */
export class JoinParameters extends Construct {
  readonly names: ReturnType<typeof joinParameterNames>;
  /** The parameters, for what must be destroyed before them (the nodes that write them). */
  readonly parameters: SsmParameter[];
  /** The version the first control-plane node recorded, as refreshed at plan time; UNSET_PARAMETER_VALUE before. */
  readonly recordedVersion: string;
  /** The version the stored ClusterConfiguration names (ahead of `recordedVersion` during a minor upgrade), as refreshed at plan time. */
  readonly recordedControlPlaneVersion: string;

  constructor(scope: Construct, id: string, props: JoinParametersProps) {
    super(scope, id);
    this.names = joinParameterNames(props.clusterName);
    // An update would write the placeholder over what nodes published: Terraform creates and deletes, nothing else.
    const ownedByNodes = { ignoreChanges: "all" as const };
    const secure = (name: string, description: string) =>
      new SsmParameter(this, name.split("/").pop()!, {
        name,
        description,
        type: "SecureString",
        keyId: props.encryptionKey.keyArn,
        valueWo: UNSET_PARAMETER_VALUE,
        valueWoVersion: 1,
        lifecycle: ownedByNodes,
      });
    const token = secure(this.names.token, `Kubernetes cluster ${props.clusterName}: the current bootstrap token, kept fresh by the control plane`);
    // Not a secret, but it decides whom joining nodes trust: only the control plane may write it, under the cluster key.
    const caCertHash = secure(this.names.caCertHash, `Kubernetes cluster ${props.clusterName}: sha256 of the cluster CA's public key, which joining nodes pin`);
    const version = new SsmParameter(this, "kubernetes-version", {
      name: this.names.kubernetesVersion,
      description: `Kubernetes cluster ${props.clusterName}: the version every control-plane node runs, which workers join with`,
      type: "String",
      insecureValue: UNSET_PARAMETER_VALUE,
      lifecycle: ownedByNodes,
    });
    const controlPlaneVersion = new SsmParameter(this, "control-plane-version", {
      name: this.names.controlPlaneVersion,
      description: `Kubernetes cluster ${props.clusterName}: the version its stored ClusterConfiguration names, which control-plane nodes join with`,
      type: "String",
      insecureValue: UNSET_PARAMETER_VALUE,
      lifecycle: ownedByNodes,
    });
    this.parameters = [token, caCertHash, version, controlPlaneVersion];
    // Null only for a parameter imported into the state (import fills `value`): then the guard has nothing to compare.
    this.recordedVersion = Fn.coalesce([version.insecureValue, UNSET_PARAMETER_VALUE]);
    this.recordedControlPlaneVersion = Fn.coalesce([controlPlaneVersion.insecureValue, UNSET_PARAMETER_VALUE]);
  }
}

/**
 * Preconditions that apply Kubernetes' version skew rules to a change of
 * `kubernetesVersion` on a running cluster: Terraform refreshes the recorded
 * version while it plans, so the plan fails with one of these messages before
 * anything is replaced. Patches of the running minor and the next minor pass
 * (nodes roll to them: roll-control-plane.sh); so does a cluster not created
 * yet. Each rule has its own message: a downgrade of the minor, a skip of a
 * minor, and, while a minor upgrade runs (the control plane's version ahead of
 * the cluster's), a return to the old minor, which would leave the new nodes
 * waiting and roll the old ones back.
 */
export function versionGuard(parameters: JoinParameters, version: ResolvedKubernetesVersion): Precondition[] {
  const recorded = parameters.recordedVersion;
  const where = `the cluster runs ${recorded} (SSM ${parameters.names.kubernetesVersion})`;
  // The running minor as a number, -1 before the first node recorded one. Terraform 1.11's || does not
  // short-circuit, so the parse must not fail on the placeholder: try() turns that into -1.
  const [major, minor] = version.minor.split(".").map(Number);
  const minorOf = (recordedVersion: string) => Fn.try([Fn.tonumber(Fn.element(Fn.regex(`^v?${major}[.]([0-9]+)[.]`, recordedVersion), 0)), -1]);
  const running = minorOf(recorded);
  const upgrading = parameters.recordedControlPlaneVersion;
  const target = minorOf(upgrading);
  const allowed = `allowed: "${major}.${running}" or a patch of it, or the next minor "${major}.${Token.asString(Op.add(running, 1))}"`;
  return [
    {
      condition: Op.lte(running, minor),
      errorMessage: `kubernetesVersion: ${where}, and ${version.minor} would downgrade its minor, which Kubernetes does not support; ${allowed}.`,
    },
    {
      condition: Op.or(Op.eq(running, -1), Op.gte(running, minor - 1)),
      errorMessage: `kubernetesVersion: ${where}, and ${version.minor} skips a minor; upgrade one minor at a time; ${allowed}.`,
    },
    {
      // No upgrade running (the two versions agree, or the control plane's is unset), or the configured minor is its target.
      condition: Op.or(Op.lte(target, running), Op.lte(target, minor)),
      errorMessage:
        `kubernetesVersion: the control plane is being upgraded to ${upgrading} (SSM ${parameters.names.controlPlaneVersion}) from ${recorded}, ` +
        `and ${version.minor} would return to the old minor half-way, leaving the new nodes waiting; a minor is not rolled back in place. ` +
        `allowed: "${major}.${Token.asString(target)}" or a patch of it, to let the upgrade go on (README, "Upgrading the minor").`,
    },
  ];
}
