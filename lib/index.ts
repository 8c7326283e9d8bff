// The public API: the only import path users need.
export * from "./aws-environment";
export * from "./cluster";
export * from "./cluster-key";
export * from "./errors";
export * from "./network/cluster-network";
export * from "./network/network-settings";
export { INTERFACE_ENDPOINT_SERVICES, type InterfaceEndpointService } from "./network/endpoints";
export type { FlowLogTrafficType } from "./network/flow-logs";
export { planSubnets, type SubnetLayout } from "./network/subnet-layout";
export { MAX_CLUSTER_NAME_LENGTH, validateClusterName } from "./naming";
export { clusterTagKey, clusterTags } from "./tags";
export * from "./app/config";
export * from "./app/cluster-stack";
