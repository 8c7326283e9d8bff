import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { Token } from "cdktf";
import { KERNEL_MODULES, renderContainerdConfig, renderSysctls } from "./host-config";
import { NODE_FILES } from "./node-files";
import { NodeEnvironment, renderNodeEnv } from "./node-env";
import { SystemdUnit } from "./systemd";
import { toYaml } from "./yaml";

/** EC2 rejects user data over 16 KB (before base64). */
export const USER_DATA_LIMIT_BYTES = 16 * 1024;

export const SCRIPTS_DIR = join(__dirname, "scripts");

export interface NodeFile {
  readonly path: string;
  readonly content: string;
  /** @default "0644" */
  readonly permissions?: string;
}

export interface UserDataInput {
  readonly env: NodeEnvironment;
  /** Script file names under lib/bootstrap/scripts, installed executable. */
  readonly scripts: string[];
  /** The unit that runs the bootstrap; started once cloud-init is done. */
  readonly bootstrapUnit: SystemdUnit;
  readonly otherUnits: SystemdUnit[];
  readonly pauseImage: string;
  readonly files: NodeFile[];
}

export function readScript(name: string): string {
  return readFileSync(join(SCRIPTS_DIR, name), "utf8");
}

/** The cloud-config a node boots with: files only, then one systemd unit that does the work. */
export function renderCloudConfig(input: UserDataInput): string {
  const units = [input.bootstrapUnit, ...input.otherUnits];
  const files: NodeFile[] = [
    { path: NODE_FILES.envFile, content: renderNodeEnv(input.env) },
    ...input.scripts.map((name) => ({ path: `${NODE_FILES.scriptsDir}/${name}`, content: readScript(name), permissions: "0755" })),
    { path: "/etc/modules-load.d/kubernetes.conf", content: KERNEL_MODULES.join("\n") + "\n" },
    { path: "/etc/sysctl.d/90-kubernetes.conf", content: renderSysctls() },
    { path: "/etc/kubeadm-aws/containerd-config.toml", content: renderContainerdConfig(input.pauseImage) },
    ...units.map((u) => ({ path: `/etc/systemd/system/${u.name}`, content: u.content })),
    ...input.files,
  ];
  const config = {
    // The bootstrap sets the hostname to the EC2 private DNS name, which the cloud controller manager needs.
    preserve_hostname: true,
    write_files: files.map((f) => ({ path: f.path, permissions: f.permissions ?? "0644", owner: "root:root", content: f.content })),
    runcmd: [
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", input.bootstrapUnit.name],
      ["systemctl", "start", "--no-block", input.bootstrapUnit.name],
    ],
  };
  return `#cloud-config\n${toYaml(config)}`;
}

/** Gzip (cloud-init detects it) then base64, as launch templates take user data. Deterministic: gzip's mtime is 0. */
export function encodeUserData(cloudConfig: string): string {
  // A Terraform reference here would be compressed into an opaque blob and never resolved.
  if (Token.isUnresolved(cloudConfig)) throw new Error("user data must hold only values known at synth time, but it contains a Terraform reference");
  return gzipSync(Buffer.from(cloudConfig, "utf8"), { level: 9 }).toString("base64");
}

export function decodeUserData(base64: string): string {
  return gunzipSync(Buffer.from(base64, "base64")).toString("utf8");
}
