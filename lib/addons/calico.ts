import { CALICO } from "../versions";
import { toYamlDocuments } from "../bootstrap/yaml";
import { Addon } from "./addon";

/**
 * Calico in VXLAN mode on every hop: no BGP, no IP-in-IP, and no need to turn
 * off EC2's source/destination check. The upstream manifest is downloaded and
 * checked by sha256; kustomize patches switch it to VXLAN.
 */
export function calico(options: { podCidr: string }): Addon {
  const configPatch = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "calico-config", namespace: "kube-system" },
    data: { calico_backend: "vxlan" },
  };
  const nodePatch = {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: "calico-node", namespace: "kube-system" },
    spec: {
      template: {
        spec: {
          containers: [
            {
              name: "calico-node",
              env: [
                { name: "CALICO_IPV4POOL_IPIP", value: "Never" },
                { name: "CALICO_IPV4POOL_VXLAN", value: "Always" },
                { name: "CALICO_IPV4POOL_CIDR", value: options.podCidr },
              ],
              // BIRD does not run without BGP, so its checks come out of the probes.
              livenessProbe: { exec: { command: ["/bin/calico-node", "-felix-live"] } },
              readinessProbe: { exec: { command: ["/bin/calico-node", "-felix-ready"] } },
            },
          ],
        },
      },
    },
  };
  return {
    name: "calico",
    version: CALICO.version,
    order: 20,
    resources: ["calico.yaml"],
    patches: ["calico-config.yaml", "calico-node.yaml"],
    files: {
      "calico-config.yaml": toYamlDocuments([configPatch]),
      "calico-node.yaml": toYamlDocuments([nodePatch]),
    },
    downloads: [{ url: CALICO.manifestUrl, sha256: CALICO.manifestSha256, file: "calico.yaml" }],
  };
}

/** Ports Calico's VXLAN data plane needs between every pair of nodes. */
export const CALICO_NODE_PORTS = [{ protocol: "udp", port: 4789, description: "Calico VXLAN between nodes" }] as const;
