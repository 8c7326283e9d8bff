import { Architecture } from "../instance-types";
import { CILIUM, HELM } from "../versions";
import { Addon } from "./addon";

/**
 * Cilium in VXLAN tunnel mode beside kube-proxy, with its own IP pool from the
 * cluster's pod CIDR. Installed from the official chart, downloaded and checked
 * by sha256, rendered on the node by a checksum-verified Helm.
 */
export function cilium(options: { podCidr: string; architecture: Architecture }): Addon {
  return {
    name: "cilium",
    version: CILIUM.version,
    order: 20,
    // Written by `helm template` on the node.
    resources: ["helm-rendered.yaml"],
    files: {},
    downloads: [
      { url: CILIUM.chartUrl, sha256: CILIUM.chartSha256, file: `cilium-${CILIUM.version}.tgz` },
      {
        url: `https://get.helm.sh/helm-${HELM.version}-linux-${options.architecture}.tar.gz`,
        sha256: HELM.sha256[options.architecture],
        file: "helm.tar.gz",
      },
    ],
    helm: {
      chart: `cilium-${CILIUM.version}.tgz`,
      helm: "helm.tar.gz",
      release: "cilium",
      namespace: "kube-system",
      values: {
        routingMode: "tunnel",
        tunnelProtocol: "vxlan",
        kubeProxyReplacement: false,
        ipam: { mode: "cluster-pool", operator: { clusterPoolIPv4PodCIDRList: [options.podCidr], clusterPoolIPv4MaskSize: 24 } },
        // The chart would generate Hubble certificates at render time; a CronJob makes them in the cluster instead.
        hubble: { tls: { auto: { method: "cronJob" } } },
        operator: { replicas: 2 },
      },
    },
  };
}

/** Ports Cilium needs between every pair of nodes: VXLAN, health checks, and ICMP echo for health. */
export const CILIUM_NODE_PORTS = [
  { protocol: "udp", port: 8472, description: "Cilium VXLAN between nodes" },
  { protocol: "tcp", port: 4240, description: "Cilium health checks between nodes" },
  { protocol: "icmp", port: 8, description: "Cilium health echo between nodes" },
] as const;
