/** The tag that tells control-plane from worker instances (etcd cleanup and operators filter on it). */
export const ROLE_TAG_KEY = "kubeadm-aws/role";
export type NodeRole = "control-plane" | "worker";

/**
 * Bootstrap time limits, in seconds. The init lock outlives a stuck holder:
 * systemd stops the holder's bootstrap after BOOTSTRAP_TIMEOUT, it marks itself
 * unhealthy, and only then may another node take the lock over by age.
 */
export const BOOTSTRAP_TIMEOUT_MINUTES = 60;
export const CLUSTER_WAIT_SECONDS = 45 * 60;
export const LOCK_TIMEOUT_SECONDS = 65 * 60;
export const POLL_SECONDS = 15;
