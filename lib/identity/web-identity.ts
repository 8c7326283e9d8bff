import { createHash } from "node:crypto";

/** Pure facts of IAM roles for service accounts: names, the annotation, and what a pod mounts. */

/** The audience AWS STS asks for in the tokens it exchanges (the pod identity webhook projects tokens for it). */
export const STS_AUDIENCE = "sts.amazonaws.com";

/** The annotation the pod identity webhook reads on a ServiceAccount (the name EKS and kops use). */
export const ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn";

/** Where a pod reads its projected token, as the pod identity webhook mounts it and the AWS SDKs expect it. */
export const WEB_IDENTITY_TOKEN_DIR = "/var/run/secrets/eks.amazonaws.com/serviceaccount";

const IAM_ROLE_NAME_MAX = 64;

/** `system:serviceaccount:<namespace>:<name>`: the `sub` claim of the account's tokens. */
export function serviceAccountSubject(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/**
 * The role's name, `<cluster>-sa-<namespace>-<name>`. Past IAM's 64 characters it is cut and ends in 8 hex
 * characters of the full name's sha256, so it stays unique and the same at every synth.
 */
export function serviceAccountRoleName(clusterName: string, namespace: string, name: string): string {
  const full = `${clusterName}-sa-${namespace}-${name}`;
  if (full.length <= IAM_ROLE_NAME_MAX) return full;
  const hash = createHash("sha256").update(full).digest("hex").slice(0, 8);
  return `${full.slice(0, IAM_ROLE_NAME_MAX - hash.length - 1).replace(/-+$/, "")}-${hash}`;
}

/**
 * What a pod needs to use the role without the pod identity webhook, as the webhook would inject it: the token
 * projected for STS, and the variables the AWS SDKs read. Merge `env` and `volumeMounts` into the container,
 * `volumes` into the pod.
 */
export function webIdentityPodParts(roleArn: string, region: string) {
  return {
    env: [
      { name: "AWS_ROLE_ARN", value: roleArn },
      { name: "AWS_WEB_IDENTITY_TOKEN_FILE", value: `${WEB_IDENTITY_TOKEN_DIR}/token` },
      { name: "AWS_STS_REGIONAL_ENDPOINTS", value: "regional" },
      { name: "AWS_REGION", value: region },
      { name: "AWS_DEFAULT_REGION", value: region },
    ],
    volumeMounts: [{ name: "aws-iam-token", mountPath: WEB_IDENTITY_TOKEN_DIR, readOnly: true }],
    volumes: [
      {
        name: "aws-iam-token",
        projected: { sources: [{ serviceAccountToken: { audience: STS_AUDIENCE, expirationSeconds: 86400, path: "token" } }] },
      },
    ],
  };
}
