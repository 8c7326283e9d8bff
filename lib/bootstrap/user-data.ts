import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { Token } from "cdktf";
import { KERNEL_MODULES, renderContainerdConfig, renderCrictlConfig, renderSysctls } from "./host-config";
import { NODE_FILES } from "./node-files";
import { NodeEnvironment, renderNodeEnv } from "./node-env";
import { NodeRole } from "./node-roles";
import { SystemdUnit, bootstrapService } from "./systemd";
import { BundleFile, sha256, tarGz } from "./tar";
import { toYaml } from "./yaml";

/** EC2 rejects user data over 16 KB (before base64). */
export const USER_DATA_LIMIT_BYTES = 16 * 1024;

export const SCRIPTS_DIR = join(__dirname, "scripts");

/** Scripts that travel in user data: everything else comes in the node bundle. */
export const USER_DATA_SCRIPTS = ["lib.sh", "node-bootstrap.sh"];

export interface NodeFile {
  readonly path: string;
  readonly content: string;
  /** @default "0644" */
  readonly permissions?: string;
}

/** What a node role renders: its environment, its bundle's contents, and the script that bootstraps it. */
export interface NodeDefinition {
  readonly role: NodeRole;
  readonly env: NodeEnvironment;
  /** Script file names under lib/bootstrap/scripts, for the bundle. */
  readonly scripts: string[];
  /** The bundle script that bootstraps the node, e.g. "control-plane.sh". */
  readonly bootstrapScript: string;
  readonly units: SystemdUnit[];
  readonly pauseImage: string;
  readonly files: NodeFile[];
}

/** A node bundle: its files as a deterministic tar.gz, stored in S3 under a key that carries its checksum. */
export interface NodeBundle {
  readonly files: BundleFile[];
  readonly archive: Buffer;
  readonly sha256: string;
  readonly key: string;
}

export function readScript(name: string): string {
  return readFileSync(join(SCRIPTS_DIR, name), "utf8");
}

/** The node's environment, but for the key and checksum of the bundle that carries it. */
function roleEnvironment(node: NodeDefinition): NodeEnvironment {
  return { ...node.env, NODE_ROLE: node.role, SCRIPTS_DIR: NODE_FILES.scriptsDir, BOOTSTRAP_SCRIPT: node.bootstrapScript };
}

/** Every file of the node but what user data carries, and a copy of its environment. */
export function renderBundle(node: NodeDefinition, keyPrefix: string): NodeBundle {
  const files: BundleFile[] = [
    { path: NODE_FILES.bundleEnvFile, content: renderNodeEnv(roleEnvironment(node)), permissions: "0644" },
    ...node.scripts.map((name) => ({ path: `${NODE_FILES.scriptsDir}/${name}`, content: readScript(name), permissions: "0755" })),
    { path: "/etc/modules-load.d/kubernetes.conf", content: KERNEL_MODULES.join("\n") + "\n", permissions: "0644" },
    { path: "/etc/sysctl.d/90-kubernetes.conf", content: renderSysctls(), permissions: "0644" },
    { path: "/etc/kubeadm-aws/containerd-config.toml", content: renderContainerdConfig(node.pauseImage), permissions: "0644" },
    { path: "/etc/crictl.yaml", content: renderCrictlConfig(), permissions: "0644" },
    ...node.units.map((u) => ({ path: `/etc/systemd/system/${u.name}`, content: u.content, permissions: "0644" })),
    ...node.files.map((f) => ({ ...f, permissions: f.permissions ?? "0644" })),
  ];
  const archive = tarGz(files);
  const digest = sha256(archive);
  return { files, archive, sha256: digest, key: `${keyPrefix}/${digest}.tar.gz` };
}

/** The cloud-config a node boots with: its environment, the bundle fetcher, and the unit that runs it. */
export function renderUserData(node: NodeDefinition, bundle: NodeBundle): string {
  const unit = bootstrapService("node-bootstrap.sh");
  const env = { ...roleEnvironment(node), BUNDLE_KEY: bundle.key, BUNDLE_SHA256: bundle.sha256 };
  const files: NodeFile[] = [
    { path: NODE_FILES.envFile, content: renderNodeEnv(env) },
    ...USER_DATA_SCRIPTS.map((name) => ({ path: `${NODE_FILES.scriptsDir}/${name}`, content: readScript(name), permissions: "0755" })),
    { path: `/etc/systemd/system/${unit.name}`, content: unit.content },
  ];
  const config = {
    // The bootstrap sets the hostname to the EC2 private DNS name, which the cloud controller manager needs.
    preserve_hostname: true,
    write_files: files.map((f) => ({ path: f.path, permissions: f.permissions ?? "0644", owner: "root:root", content: f.content })),
    runcmd: [
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", unit.name],
      ["systemctl", "start", "--no-block", unit.name],
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
