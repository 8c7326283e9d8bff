/**
 * Tags the Kubernetes AWS cloud controller manager reads, and the project's own.
 * See https://cloud-provider-aws.sigs.k8s.io/ for what each one means to the CCM.
 */
export type ClusterOwnership = "owned" | "shared";

/** `kubernetes.io/cluster/<name>`: marks resources the cluster's CCM may use. */
export function clusterTagKey(clusterName: string): string {
  return `kubernetes.io/cluster/${clusterName}`;
}

export function clusterTags(clusterName: string, ownership: ClusterOwnership = "owned"): Record<string, string> {
  return { [clusterTagKey(clusterName)]: ownership };
}

/** Public subnets: where the CCM places internet-facing load balancers. */
export const PUBLIC_ELB_ROLE_TAG = "kubernetes.io/role/elb";
/** Private subnets: where the CCM places internal load balancers. */
export const INTERNAL_ELB_ROLE_TAG = "kubernetes.io/role/internal-elb";

/** Default tags for every resource of a stack (set on the AWS provider). */
export function stackDefaultTags(clusterName: string): Record<string, string> {
  return {
    "k8s-cluster": clusterName,
    "managed-by": "cdktf-kubeadm-aws",
  };
}
