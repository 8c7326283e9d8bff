// The public API: the only import path users need.
export * from "./aws-environment";
export * from "./cluster";
export * from "./cluster-key";
export * from "./errors";
export * from "./cluster-reference";
export { ClusterServices, type ClusterServicesProps, type IClusterServices } from "./cluster-services";
export { keepStateOfMovedConstruct, stackPath } from "./state-moves";
export * from "./control-plane/control-plane";
export * from "./control-plane/settings";
export {
  ISSUER_DOCUMENT_KEYS,
  ServiceAccountIssuer,
  type IServiceAccountIssuer,
  type ServiceAccountIssuerProps,
  type ServiceAccountIssuerUrls,
} from "./identity/service-account-issuer";
export * from "./identity/service-account-role";
export * from "./identity/web-identity";
export * from "./node-group/node-group";
export * from "./node-group/settings";
export * from "./network/cluster-network";
export * from "./network/network-settings";
export { INTERFACE_ENDPOINT_SERVICES, type InterfaceEndpointService } from "./network/endpoints";
export type { FlowLogTrafficType } from "./network/flow-logs";
export { planSubnets, type SubnetLayout } from "./network/subnet-layout";
export { MAX_CLUSTER_NAME_LENGTH, validateClusterName } from "./naming";
export { clusterTagKey, clusterTags } from "./tags";
export { CNIS, type AddonsOptions, type Cni } from "./addons";
export type { ObservabilityOptions } from "./observability/settings";
export type { EtcdBackupOptions } from "./etcd-backup/settings";
export { POD_SECURITY_LEVELS } from "./bootstrap/apiserver-config";
export type { PodSecurityLevel } from "./bootstrap/apiserver-config";
export type { ClusterAutoscalerOptions } from "./addons/cluster-autoscaler";
export { TerminationQueue } from "./addons/node-termination-handler";
export {
  DEFAULT_KUBERNETES_VERSION,
  KUBERNETES_RELEASES,
  CALICO,
  CILIUM,
  HELM,
  EBS_CSI_DRIVER,
  METRICS_SERVER_IMAGE,
  NODE_TERMINATION_HANDLER_IMAGE,
} from "./versions";
export * from "./app/config";
export * from "./app/cluster-stack";
