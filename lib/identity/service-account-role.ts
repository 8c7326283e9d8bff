import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment";
import { ITerraformDependable, Token } from "cdktf";
import { Construct } from "constructs";
import { ConfigError } from "../errors";
import { PolicyStatement, policyDocument } from "../iam";
import { DNS_1123_LABEL } from "../naming";
import { IServiceAccountIssuer } from "./service-account-issuer";
import { ROLE_ARN_ANNOTATION, STS_AUDIENCE, serviceAccountRoleName, serviceAccountSubject } from "./web-identity";

/** IAM limits a role's policies must fit: characters of all inline policies (without whitespace), managed policies attached (default quota). */
const MAX_INLINE_POLICY_CHARS = 10240;
const MAX_MANAGED_POLICIES = 10;
const MANAGED_POLICY_ARN = /^arn:aws(-cn|-us-gov)?:iam::(aws|\d{12}):policy\/[\w+=,.@\/-]+$/;

/** Who may take a role, and with what. */
export interface ServiceAccountRoleOptions {
  /** The ServiceAccount's namespace: a DNS-1123 label. */
  readonly namespace: string;
  /** The ServiceAccount's name: a DNS-1123 label. */
  readonly name: string;
  /**
   * Statements of the role's inline policy. At least one of this and `managedPolicyArns` must grant something.
   * @default - none
   */
  readonly policyStatements?: PolicyStatement[];
  /**
   * Managed policies to attach, by ARN (AWS managed or your own), at most 10.
   * @default - none
   */
  readonly managedPolicyArns?: string[];
}

/** What a service account's role needs of its cluster; a `KubernetesCluster` (`IKubernetesCluster`) is one. */
export interface IServiceAccountCluster {
  readonly clusterName: string;
  readonly controlPlane: { readonly serviceAccountIssuer?: IServiceAccountIssuer };
}

export interface ServiceAccountRoleProps extends ServiceAccountRoleOptions {
  /** The cluster whose service-account tokens may assume the role; in another stack, its references cross stacks. */
  readonly cluster: IServiceAccountCluster;
}

/** The trust policy: tokens of exactly one service account, issued by the cluster, for the STS audience. */
export function serviceAccountTrustPolicy(issuer: IServiceAccountIssuer, namespace: string, name: string): PolicyStatement[] {
  return [
    {
      Sid: "ServiceAccountTokens",
      Effect: "Allow",
      Principal: { Federated: issuer.providerArn },
      Action: "sts:AssumeRoleWithWebIdentity",
      Condition: {
        StringEquals: { [`${issuer.providerHost}:sub`]: serviceAccountSubject(namespace, name), [`${issuer.providerHost}:aud`]: STS_AUDIENCE },
      },
    },
  ];
}

function validateOptions(options: ServiceAccountRoleOptions): void {
  for (const property of ["namespace", "name"] as const) {
    const value = options[property];
    if (typeof value !== "string" || !DNS_1123_LABEL.test(value) || value.length > 63) {
      throw new ConfigError(
        property,
        `${JSON.stringify(value)} is not a DNS-1123 label (at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit)`,
      );
    }
  }
  const statements = options.policyStatements ?? [];
  const managed = options.managedPolicyArns ?? [];
  if (statements.length === 0 && managed.length === 0) {
    throw new ConfigError(
      "policyStatements",
      `the service account ${options.namespace}/${options.name} is granted nothing: give policyStatements, managedPolicyArns or both`,
    );
  }
  statements.forEach((statement, index) => {
    const actions = [statement.Action].flat().filter((a) => typeof a === "string" && a !== "");
    if ((statement.Effect !== "Allow" && statement.Effect !== "Deny") || actions.length === 0) {
      throw new ConfigError(`policyStatements[${index}]`, `a statement needs Effect "Allow" or "Deny" and at least one Action; got ${JSON.stringify(statement)}`);
    }
    if (statement.Principal !== undefined) {
      throw new ConfigError(`policyStatements[${index}]`, "an identity policy statement has no Principal (the trust policy names who may take the role)");
    }
  });
  // Unresolved values (ARNs of other resources) are counted as their placeholder; real ARNs are longer, so the
  // check can pass at synth and fail at apply only within that margin.
  const inline = policyDocument(statements).length;
  if (statements.length > 0 && inline > MAX_INLINE_POLICY_CHARS) {
    throw new ConfigError("policyStatements", `the policy has ${inline} characters; IAM allows ${MAX_INLINE_POLICY_CHARS} per role. Split it into managed policies (managedPolicyArns)`);
  }
  if (managed.length > MAX_MANAGED_POLICIES) {
    throw new ConfigError("managedPolicyArns", `${managed.length} policies given; IAM attaches at most ${MAX_MANAGED_POLICIES} to a role by default`);
  }
  for (const arn of managed) {
    if (!Token.isUnresolved(arn) && !MANAGED_POLICY_ARN.test(arn)) {
      throw new ConfigError("managedPolicyArns", `${JSON.stringify(arn)} is not an IAM policy ARN such as "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"`);
    }
  }
  if (new Set(managed).size !== managed.length) {
    throw new ConfigError("managedPolicyArns", "a policy is listed twice");
  }
}

/**
 * An IAM role that pods running as one Kubernetes service account assume with their projected token (IAM roles for
 * service accounts). Only that account's tokens, issued by this cluster for STS, pass its trust policy.
 *
 * Annotate the ServiceAccount with `annotations`; the pod identity webhook then injects the token and the variables.
 * Without the webhook, add `webIdentityPodParts(roleArn, region)` to the pod yourself.
 */
export class ServiceAccountRole extends Construct {
  /** `<cluster>-sa-<namespace>-<name>`, cut to 64 characters (serviceAccountRoleName). */
  readonly roleName: string;
  readonly roleArn: string;
  /** The ServiceAccount's namespace. */
  readonly namespace: string;
  /** The ServiceAccount's name. */
  readonly serviceAccountName: string;
  /** The annotations the ServiceAccount carries: `eks.amazonaws.com/role-arn`. */
  readonly annotations: Record<string, string>;
  /** The role and its policies: what must exist before pods use the role (for `dependsOn`). */
  readonly dependables: ITerraformDependable[];

  constructor(scope: Construct, id: string, props: ServiceAccountRoleProps) {
    super(scope, id);
    validateOptions(props);
    const issuer = props.cluster.controlPlane.serviceAccountIssuer;
    if (!issuer) {
      throw new ConfigError("workloadIdentity", `the cluster ${props.cluster.clusterName} has workload identity off; service account roles need its issuer (set controlPlane.workloadIdentity to true)`);
    }
    const name = serviceAccountRoleName(props.cluster.clusterName, props.namespace, props.name);
    const role = new IamRole(this, "role", {
      name,
      description: `Pods of service account ${props.namespace}/${props.name} in cluster ${props.cluster.clusterName}`,
      assumeRolePolicy: policyDocument(serviceAccountTrustPolicy(issuer, props.namespace, props.name)),
    });
    this.dependables = [role];
    if (props.policyStatements?.length) {
      this.dependables.push(new IamRolePolicy(this, "policy", { role: role.name, name: "service-account", policy: policyDocument(props.policyStatements) }));
    }
    (props.managedPolicyArns ?? []).forEach((policyArn, index) => {
      // Named after the policy, so removing one from the list leaves the others' attachments alone.
      const id = Token.isUnresolved(policyArn) ? `managed-${index}` : `managed-${policyArn.replace(/[^A-Za-z0-9-]/g, "-")}`;
      this.dependables.push(new IamRolePolicyAttachment(this, id, { role: role.name, policyArn }));
    });
    // Known at synth, so the plan and what names it (the add-on specification) show it.
    this.roleName = name;
    this.roleArn = role.arn;
    this.namespace = props.namespace;
    this.serviceAccountName = props.name;
    this.annotations = { [ROLE_ARN_ANNOTATION]: role.arn };
  }
}
