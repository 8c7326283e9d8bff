import { ConfigError } from "./errors";

/** CPU architecture of an instance type, which picks the AMI and the binaries a node installs. */
export type Architecture = "amd64" | "arm64";

const INSTANCE_TYPE = /^([a-z]+)(\d+)([a-z-]*)\.([a-z0-9]+)$/;

/**
 * Sizes below "large" whose vCPU and memory are both at least 2 (vCPU) and 2 GiB.
 * Every "large" and bigger size has 2 or more vCPUs and at least 4 GiB; every
 * "nano" and "micro" has less than 2 GiB; other "medium" sizes have 1 vCPU.
 */
const SMALL_SIZES_WITH_2_VCPU_2_GIB = new Set(["t3.small", "t3a.small", "t4g.small", "t3.medium", "t3a.medium", "t4g.medium", "t2.medium"]);

export function parseInstanceType(instanceType: string, property: string): { family: string; size: string; architecture: Architecture } {
  const match = INSTANCE_TYPE.exec(instanceType);
  if (!match) throw new ConfigError(property, `${JSON.stringify(instanceType)} is not an EC2 instance type such as "m7i.large"`);
  const [, series, , attributes, size] = match;
  // Graviton families carry a "g" after the generation ("m7g", "c7gn", "t4g"); "a1" is the first Graviton.
  const architecture: Architecture = attributes.includes("g") || series + match[2] === "a1" ? "arm64" : "amd64";
  return { family: instanceType.split(".")[0], size, architecture };
}

/** Rejects instance types under 2 vCPU or 2 GiB, which kubeadm's preflight checks refuse for control-plane nodes. */
export function validateControlPlaneInstanceType(instanceType: string, property: string): Architecture {
  const { size, architecture } = parseInstanceType(instanceType, property);
  const small = ["nano", "micro", "small", "medium"].includes(size);
  if (small && !SMALL_SIZES_WITH_2_VCPU_2_GIB.has(instanceType)) {
    throw new ConfigError(
      property,
      `${JSON.stringify(instanceType)} has less than 2 vCPU or 2 GiB; control-plane nodes need at least that (for example t3.medium or m7i.large)`,
    );
  }
  return architecture;
}
