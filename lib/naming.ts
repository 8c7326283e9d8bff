import { ConfigError } from "./errors";

/**
 * Every AWS name the library derives from the cluster name lives here, so the
 * AWS length limits are checked in one place.
 *
 * The cluster name is capped at 20 characters because the tightest names we
 * derive are load balancer and target group names (32 characters at most),
 * which carry a suffix of up to 12 characters.
 */
export const MAX_CLUSTER_NAME_LENGTH = 20;

/** A DNS-1123 label's characters (length checked apart): Kubernetes names, and our cluster names. */
export const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Rejects a cluster name that is not a DNS-1123 label or is too long for AWS names. */
export function validateClusterName(name: string, property = "clusterName"): void {
  if (!DNS_1123_LABEL.test(name)) {
    throw new ConfigError(
      property,
      `cluster name ${JSON.stringify(name)} must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit)`,
    );
  }
  if (name.length > MAX_CLUSTER_NAME_LENGTH) {
    throw new ConfigError(
      property,
      `cluster name ${JSON.stringify(name)} has ${name.length} characters; at most ${MAX_CLUSTER_NAME_LENGTH} are allowed, so derived AWS names (32-character load balancer names) fit`,
    );
  }
}

/** Prefix shared by every CloudWatch log group of a cluster; KMS and IAM scope to it. */
export function logGroupPrefix(clusterName: string): string {
  return `/k8s/${clusterName}/`;
}

export function logGroupName(clusterName: string, purpose: string): string {
  return `${logGroupPrefix(clusterName)}${purpose}`;
}

export function kmsAliasName(clusterName: string): string {
  return `alias/k8s/${clusterName}`;
}

/** IAM role names: 64 characters at most. */
export function iamRoleName(clusterName: string, purpose: string): string {
  return `${clusterName}-${purpose}`;
}

/** The Name tag of a resource that belongs to the cluster. */
export function resourceName(clusterName: string, ...parts: string[]): string {
  return [clusterName, ...parts].join("-");
}

/** Private hosted zone of the cluster; it holds the stable API name. */
export function privateZoneName(clusterName: string): string {
  return `${clusterName}.k8s.internal`;
}

/** The API endpoint name: known at synth time, so no instance waits for the load balancer's DNS name. */
export function apiEndpointHost(clusterName: string): string {
  return `api.${privateZoneName(clusterName)}`;
}

/** Load balancer and target group names: 32 characters at most (cluster name 20 + suffix 12). */
export function loadBalancerName(clusterName: string, purpose: "api" | "api-public"): string {
  return `${clusterName}-${purpose}`;
}

/** SSM parameter path of the cluster's node-written values (join token, CA hash, init lock). */
export function ssmParameterName(clusterName: string, ...parts: string[]): string {
  return ["", "k8s", clusterName, ...parts].join("/");
}

/**
 * The add-on specification's sha256, which Terraform writes and nodes may only
 * read: a node applies the specification only if it matches, so a write to
 * the bucket alone cannot change what the control plane applies as root.
 */
export function addonSpecChecksumParameter(clusterName: string): string {
  return ssmParameterName(clusterName, "control-plane", "addon-spec-sha256");
}

/**
 * The rollout's SSM parameters (roll-control-plane.sh): the bundle control-plane nodes must run, which Terraform
 * writes; the lock that lets one node at a time change, and the status, which nodes write; and the pause an operator
 * creates to stop the rollout before its next node.
 */
export function rolloutParameters(clusterName: string) {
  return {
    bundle: ssmParameterName(clusterName, "control-plane", "rollout", "bundle"),
    lock: ssmParameterName(clusterName, "control-plane", "rollout", "lock"),
    status: ssmParameterName(clusterName, "control-plane", "rollout", "status"),
    paused: ssmParameterName(clusterName, "control-plane", "rollout", "paused"),
  };
}

/** Secrets Manager name of one of the cluster's secrets. */
export function secretName(clusterName: string, purpose: "pki" | "admin-kubeconfig"): string {
  return `k8s/${clusterName}/${purpose}`;
}

/**
 * A cluster's S3 buckets: globally unique through account and region. Nodes
 * compute the same names from the account in their instance identity document
 * (lib/bootstrap/scripts/lib.sh, cluster_bucket), so user data needs no
 * Terraform value. At most 20 + 6 + 12 + 16 = 57 of the 63 characters allowed.
 */
export function clusterBucketName(clusterName: string, purpose: "etcd" | "nodes" | "oidc", accountId: string, region: string): string {
  return `${clusterName}-${purpose}-${accountId}-${region}`;
}
