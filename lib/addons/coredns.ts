import { toYamlDocuments } from "../bootstrap/yaml";
import { Addon } from "./addon";

/**
 * CoreDNS stays kubeadm's; this adds what it lacks to survive a node or zone
 * loss: a PodDisruptionBudget and spread constraints, applied server-side as a
 * partial Deployment, so kubeadm keeps owning the rest. `kubeadm upgrade`
 * rewrites the Deployment: the next add-on apply puts the spread back.
 */
export function coreDnsAvailability(): Addon {
  const selector = { matchLabels: { "k8s-app": "kube-dns" } };
  return {
    name: "coredns-availability",
    version: "1",
    order: 70,
    resources: ["manifest.yaml"],
    files: {
      "manifest.yaml": toYamlDocuments([
        { apiVersion: "policy/v1", kind: "PodDisruptionBudget", metadata: { name: "coredns", namespace: "kube-system" }, spec: { minAvailable: 1, selector } },
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "coredns", namespace: "kube-system" },
          spec: {
            template: {
              spec: {
                topologySpreadConstraints: [
                  { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "ScheduleAnyway", labelSelector: selector },
                  { maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "DoNotSchedule", labelSelector: selector },
                ],
              },
            },
          },
        },
      ]),
    },
    downloads: [],
  };
}
