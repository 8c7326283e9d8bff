import { resolveNodeGroupSettings } from "../../lib/node-group/settings";

const BASE = { name: "general", instanceTypes: ["m7i.large"], minSize: 1, maxSize: 3 };

describe("resolveNodeGroupSettings", () => {
  it("defaults to on-demand capacity, reserved resources and the node-group label", () => {
    expect(resolveNodeGroupSettings(BASE)).toMatchObject({
      desiredSize: 1,
      usesSpot: false,
      capacity: { onDemandBase: 0, onDemandPercentageAboveBase: 100, spotAllocationStrategy: "price-capacity-optimized" },
      labels: { "kubeadm-aws/node-group": "general" },
      taints: [],
      kubelet: { maxPods: 110, systemReserved: { cpu: "100m", memory: "256Mi", "ephemeral-storage": "1Gi" } },
      instanceRefresh: { minHealthyPercentage: 90, instanceWarmupSeconds: 300 },
    });
  });

  it.each([
    [{ minSize: 3, maxSize: 2 }, "nodeGroups[general]: sizes must satisfy minSize <= desiredSize <= maxSize, got 3 <= 3 <= 2"],
    [{ desiredSize: 5 }, "nodeGroups[general]: sizes must satisfy minSize <= desiredSize <= maxSize, got 1 <= 5 <= 3"],
    [{ minSize: -1 }, "nodeGroups[general].minSize: -1 is not allowed"],
    [{ instanceTypes: [] }, "nodeGroups[general].instanceTypes: must list at least one instance type"],
    [{ instanceTypes: ["m7i.large", "m7g.large"] }, "nodeGroups[general].instanceTypes: mixes arm64 and amd64 types"],
    [{ name: "General_1" }, 'name: node group name "General_1" must be a DNS-1123 label'],
    [{ labels: { "team name": "x" } }, 'nodeGroups[general].labels: key "team name" is invalid'],
    [{ labels: { team: "data science" } }, 'nodeGroups[general].labels: value "data science" of team is invalid'],
    [{ labels: { "node-role.kubernetes.io/data": "" } }, 'nodeGroups[general].labels: key "node-role.kubernetes.io/data" is in a kubernetes.io or k8s.io namespace that kubelets may not set'],
    [{ taints: [{ key: "dedicated", value: "data", effect: "NoStart" }] }, 'nodeGroups[general].taints[0]: effect "NoStart" is not one of NoSchedule, PreferNoSchedule, NoExecute'],
    [{ capacity: { onDemandPercentageAboveBase: 120 } }, "nodeGroups[general].capacity.onDemandPercentageAboveBase: 120 is not allowed; use a whole number from 0 to 100"],
    [{ capacity: { spotAllocationStrategy: "cheapest" } }, 'nodeGroups[general].capacity.spotAllocationStrategy: "cheapest" is not one of'],
    [{ kubelet: { systemReserved: { gpu: "1" } } }, 'nodeGroups[general].kubelet.systemReserved: "gpu" is not reservable'],
    [{ kubelet: { kubeReserved: { memory: "lots" } } }, 'nodeGroups[general].kubelet.kubeReserved: memory: "lots" is not a quantity'],
    [{ kubelet: { evictionHard: { "memory.free": "1Gi" } } }, 'nodeGroups[general].kubelet.evictionHard: "memory.free" is not an eviction signal'],
    [{ kubelet: { evictionHard: { "nodefs.available": "ten" } } }, 'nodeGroups[general].kubelet.evictionHard: nodefs.available: "ten" is neither a quantity'],
    [{ kubelet: { maxPods: 1000 } }, "nodeGroups[general].kubelet.maxPods: 1000 is not allowed"],
  ])("rejects %j", (options, message) => {
    expect(() => resolveNodeGroupSettings({ ...BASE, ...options } as any)).toThrow(message);
  });

  it("accepts labels in the namespaces kubelets may set, and empty values", () => {
    const labels = { "node.kubernetes.io/lifecycle": "spot", "example.com/gpu": "" };
    expect(resolveNodeGroupSettings({ ...BASE, labels }).labels).toEqual({ ...labels, "kubeadm-aws/node-group": "general" });
  });

  it("turns on spot handling when part of the capacity is spot", () => {
    expect(resolveNodeGroupSettings({ ...BASE, capacity: { onDemandBase: 1, onDemandPercentageAboveBase: 0 } }).usesSpot).toBe(true);
  });
});
