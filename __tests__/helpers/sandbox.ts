import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parse } from "yaml";
import { NODE_FILES } from "../../lib/bootstrap/node-files";
import { sha256, tarGz } from "../../lib/bootstrap/tar";
import { NodeBundle } from "../../lib/bootstrap/user-data";
import { ADDON_SPEC_KEY } from "../../lib/control-plane/control-plane-user-data";
import { addonSpecChecksumParameter } from "../../lib/naming";
import { tempDir } from "./plan";
import { nodeJqDir } from "./kubernetes/binaries";

/** What an EC2 instance of a node role gets: user data, the bundle it fetches from S3, and other objects of the bucket. */
export interface NodeImage {
  readonly userData: string;
  readonly bundle: NodeBundle;
  /** Further objects of the node-artifacts bucket, by key (the add-on specification). */
  readonly objects?: Record<string, string>;
  /** SSM parameters that Terraform writes, by name (the add-on specification's checksum). */
  readonly parameters?: Record<string, string>;
}

/** The node-artifacts bucket of cluster "prod" in the sandbox's account and region. */
export const SANDBOX_ARTIFACTS_BUCKET = "prod-nodes-111122223333-eu-west-1";

const FAKES = join(__dirname, "../bootstrap/fakes");

const releaseKeys = new Map<string, { armored: string; fingerprint: string }>();

/**
 * An OpenPGP key made with the real gpg, once per name and test process. The
 * default one stands in for pkgs.k8s.io's: the sandbox serves it, and nodes
 * pin its fingerprint.
 */
/** A node environment file with the sandbox's values: its release key, short waits, and any overrides. */
function withSandboxEnvironment(env: string, overrides: Record<string, string> = {}): string {
  const values = { KUBERNETES_APT_KEY_FINGERPRINT: testReleaseKey().fingerprint, POLL_SECONDS: "0.2", CLUSTER_WAIT_SECONDS: "30", RETRY_DELAY_SECONDS: "0", INTERNET_WAIT_SECONDS: "3", ...overrides };
  for (const [key, value] of Object.entries(values)) {
    const line = `${key}='${value}'`;
    env = new RegExp(`^${key}=`, "m").test(env) ? env.replace(new RegExp(`^${key}=.*$`, "m"), line) : `${env}${line}\n`;
  }
  return env;
}

/**
 * A bundle as the sandbox's nodes must get it from a rollout: the environment it carries has the sandbox's values,
 * as addNode gives the environment of user data. A new archive, so a new checksum and key.
 */
export function sandboxBundle(bundle: NodeBundle): NodeBundle {
  return editedBundle(bundle, NODE_FILES.bundleEnvFile, withSandboxEnvironment);
}

/** The bundle with one file edited, packed and named as Terraform would upload it: what a later version of this library might render. */
export function editedBundle(bundle: NodeBundle, path: string, edit: (content: string) => string): NodeBundle {
  if (!bundle.files.some((f) => f.path === path)) throw new Error(`the bundle has no ${path}`);
  const files = bundle.files.map((f) => (f.path === path ? { ...f, content: edit(f.content) } : f));
  const archive = tarGz(files);
  const digest = sha256(archive);
  return { files, archive, sha256: digest, key: bundle.key.replace(bundle.sha256, digest) };
}

export function testReleaseKey(name = "sandbox release key"): { armored: string; fingerprint: string } {
  let key = releaseKeys.get(name);
  if (!key) {
    const home = tempDir("gnupg");
    const gpg = (args: string[]) => execFileSync("gpg", ["--homedir", home, "--batch", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    gpg(["--passphrase", "", "--quick-gen-key", `${name} <release@example.com>`, "ed25519", "sign", "never"]);
    const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(gpg(["--with-colons", "--list-keys"]))![1];
    key = { armored: gpg(["--armor", "--export", fingerprint]), fingerprint };
    releaseKeys.set(name, key);
    // gpg started an agent for the key; left running, each holds inotify instances until containerd can get none.
    execFileSync("gpgconf", ["--homedir", home, "--kill", "gpg-agent"], { stdio: "ignore" });
  }
  return key;
}
/** The host's PATH without any directory that holds an AWS CLI: a sandbox never reaches real AWS, and starts without one. */
const HOST_PATH = (process.env.PATH ?? "").split(":").filter((dir) => dir && !existsSync(join(dir, "aws")));

export interface SandboxNode {
  readonly instanceId: string;
  readonly hostname: string;
  readonly ip: string;
  readonly root: string;
}

export interface RunResult {
  readonly node: SandboxNode;
  readonly code: number | null;
  readonly output: string;
}

/**
 * A sandbox where real node scripts run against fake AWS, kubeadm and host
 * tools that share state, as several EC2 instances would share AWS.
 */
export class Sandbox {
  readonly dir = tempDir("sandbox");
  readonly state = join(this.dir, "aws");
  readonly downloads = join(this.dir, "downloads");
  /** Where the fake snap installs the AWS CLI (/snap/bin on a node); on PATH after the fakes. */
  readonly snapBin = join(this.dir, "snap-bin");
  /** The jq of the nodes (1.7.1), not the host's: before the host's tools on PATH. */
  private readonly jqDir = nodeJqDir();

  /**
   * `awsCli: false` starts every node without the AWS CLI, as a new EC2 instance starts. `from` copies another
   * sandbox as it is now, its nodes' files and its fake AWS (`cp -a`: modes and symlinks too), so a file boots a
   * cluster once and each test gets its own copy.
   */
  constructor(options: { awsCli?: boolean; from?: Sandbox } = {}) {
    if (options.from) {
      execFileSync("cp", ["-a", `${options.from.dir}/.`, this.dir]);
      // The calls recorded so far name the other sandbox's paths; they are this one's now.
      const calls = join(this.state, "calls.log");
      writeFileSync(calls, readFileSync(calls, "utf8").split(options.from.dir).join(this.dir));
      return;
    }
    mkdirSync(join(this.state, "instances"), { recursive: true });
    mkdirSync(this.downloads, { recursive: true });
    mkdirSync(this.snapBin, { recursive: true });
    if (options.awsCli !== false) symlinkSync(join(FAKES, "aws-cli"), join(this.snapBin, "aws"));
    // pkgs.k8s.io's Release.key, as nodes download it: a real key, whose fingerprint nodes are told to expect.
    writeFileSync(join(this.downloads, "Release.key"), testReleaseKey().armored);
    writeFileSync(join(this.state, "calls.log"), "");
  }

  /**
   * A node whose root holds the files of its user data, as cloud-init writes
   * them, with the environment file's waits shortened; its bundle waits in the
   * fake S3, as Terraform uploads it.
   */
  addNode(index: number, image: NodeImage, role = "control-plane", envOverrides: Record<string, string> = {}): SandboxNode {
    const node = { instanceId: `i-node${index}`, hostname: `ip-10-0-0-${10 + index}.eu-west-1.compute.internal`, ip: `10.0.0.${10 + index}`, root: join(this.dir, `node${index}`) };
    for (const [key, content] of Object.entries({ [image.bundle.key]: image.bundle.archive, ...image.objects })) this.putObject(key, content);
    for (const [name, value] of Object.entries(image.parameters ?? {})) this.putParameter(name, value);
    const config = parse(image.userData.replace(/^#cloud-config\n/, "")) as { write_files: Array<{ path: string; content: string; permissions: string }> };
    for (const file of config.write_files) {
      const path = join(node.root, file.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, file.content);
      chmodSync(path, parseInt(file.permissions, 8));
    }
    for (const dir of ["etc/apt/sources.list.d", "etc/kubernetes"]) mkdirSync(join(node.root, dir), { recursive: true });
    writeFileSync(join(node.root, "etc/hosts"), "127.0.0.1 localhost\n");
    const envFile = join(node.root, "etc/kubeadm-aws/node.env");
    writeFileSync(envFile, withSandboxEnvironment(readFileSync(envFile, "utf8"), envOverrides));
    this.setInstance(node, "running", role);
    return node;
  }

  /** This sandbox's node of the same name as a node of the sandbox it was copied from. */
  sameNode(node: SandboxNode): SandboxNode {
    return { ...node, root: join(this.dir, basename(node.root)) };
  }

  /** Puts an object into the node-artifacts bucket, as Terraform does. */
  putObject(key: string, content: string | Buffer): void {
    const object = join(this.state, "s3", SANDBOX_ARTIFACTS_BUCKET, key);
    mkdirSync(dirname(object), { recursive: true });
    writeFileSync(object, content);
  }

  /** Writes a String parameter as Terraform does: a new version each time. */
  putParameter(name: string, value: string): void {
    const dir = join(this.state, "ssm", name.replace(/\//g, "%2F"));
    mkdirSync(dir, { recursive: true });
    const version = readdirSync(dir).filter((f) => /^v\d+$/.test(f)).length + 1;
    writeFileSync(join(dir, `v${version}`), value);
    writeFileSync(join(dir, "type"), "String\n");
  }

  deleteParameter(name: string): void {
    rmSync(join(this.state, "ssm", name.replace(/\//g, "%2F")), { recursive: true, force: true });
  }

  /** Publishes an add-on specification as the ControlPlane construct does: the object, then its checksum. */
  publishAddonSpec(content: string): void {
    this.putObject(ADDON_SPEC_KEY, content);
    this.putParameter(addonSpecChecksumParameter("prod"), createHash("sha256").update(content).digest("hex"));
  }

  /** Puts an instance into an Auto Scaling group, as launching it from the group does. */
  setGroup(node: Pick<SandboxNode, "instanceId">, group: string): void {
    mkdirSync(join(this.state, "groups"), { recursive: true });
    writeFileSync(join(this.state, "groups", node.instanceId), group);
  }

  /** A group's desired capacity, as the nodes last set it (1 until then). */
  desiredCapacity(group: string): number {
    const file = join(this.state, "groups", `${group}.desired`);
    return existsSync(file) ? Number(readFileSync(file, "utf8")) : 1;
  }

  /** Registers a node's Node object, as its kubelet does: its kubelet version, Ready, and its role label. */
  registerNode(node: Pick<SandboxNode, "hostname">, kubeletVersion: string, role = "control-plane"): void {
    const labels = role === "control-plane" ? { "node-role.kubernetes.io/control-plane": "" } : {};
    const object = { apiVersion: "v1", kind: "Node", metadata: { name: node.hostname, labels }, status: { nodeInfo: { kubeletVersion }, conditions: [{ type: "Ready", status: "True" }] } };
    mkdirSync(join(this.state, "cluster/objects"), { recursive: true });
    writeFileSync(join(this.state, "cluster/objects", `Node_${node.hostname}`), JSON.stringify(object));
  }

  setInstance(node: Pick<SandboxNode, "instanceId" | "hostname" | "ip">, state: string, role = "control-plane"): void {
    writeFileSync(join(this.state, "instances", node.instanceId), `${state} ${node.hostname} ${node.ip} ${role}\n`);
  }

  /** Unpacks a node's bundle into its root, as node-bootstrap.sh does, without running anything. */
  unpackBundle(node: SandboxNode, image: NodeImage): void {
    for (const file of image.bundle.files) {
      const path = join(node.root, file.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, file.content);
      chmodSync(path, parseInt(file.permissions, 8));
    }
  }

  /** Runs a shell snippet on a node with its scripts' libraries sourced and its configuration loaded. */
  shell(node: SandboxNode, libraries: string[], snippet: string, env: Record<string, string> = {}): Promise<RunResult> {
    const bin = join(node.root, "opt/kubeadm-aws/bin");
    const source = ["lib.sh", ...libraries].map((l) => `. ${join(bin, l)}`).join("; ");
    return this.spawn(node, ["-c", `set -Eeuo pipefail; ${source}; load_config; ${snippet}`], env);
  }

  /** Boots a node as systemd would: the user-data bootstrap, which fetches the bundle and runs the role's script. */
  boot(node: SandboxNode, env: Record<string, string> = {}): Promise<RunResult> {
    return this.run(node, "node-bootstrap.sh", env);
  }

  run(node: SandboxNode, script: string, env: Record<string, string> = {}, args: string[] = []): Promise<RunResult> {
    return this.spawn(node, [join(node.root, "opt/kubeadm-aws/bin", script), ...args], env);
  }

  /** Starts a long-running program on a node (a service), returning its process. */
  runDetached(node: SandboxNode, command: string[], env: Record<string, string> = {}) {
    return spawn(command[0], command.slice(1), { env: this.env(node, env), stdio: "ignore" });
  }

  private env(node: SandboxNode, env: Record<string, string>): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PATH: [FAKES, this.snapBin, this.jqDir, ...HOST_PATH].join(":"),
      FAKE_SNAP_BIN: this.snapBin,
      KUBEADM_AWS_ROOT: node.root,
      FAKE_STATE: this.state,
      FAKE_DOWNLOADS: this.downloads,
      FAKE_INSTANCE_ID: node.instanceId,
      FAKE_HOSTNAME: node.hostname,
      FAKE_IP: node.ip,
      ...env,
    };
  }

  private spawn(node: SandboxNode, bashArgs: string[], env: Record<string, string>): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = spawn("bash", bashArgs, { env: this.env(node, env) });
      let output = "";
      child.stdout.on("data", (d) => (output += d));
      child.stderr.on("data", (d) => (output += d));
      child.on("close", (code) => resolve({ node, code, output }));
    });
  }

  /** Calls recorded by the fakes, one line each: "<instance> <command> <args>". */
  calls(filter?: RegExp): string[] {
    const lines = readFileSync(join(this.state, "calls.log"), "utf8").split("\n").filter(Boolean);
    return filter ? lines.filter((l) => filter.test(l)) : lines;
  }

  ssmValue(name: string): string | undefined {
    const dir = join(this.state, "ssm", name.replace(/\//g, "%2F"));
    if (!existsSync(dir)) return undefined;
    const latest = readdirSync(dir).filter((f) => /^v\d+$/.test(f)).length;
    return readFileSync(join(dir, `v${latest}`), "utf8");
  }

  secret(name: string): string | undefined {
    const file = join(this.state, "secrets", name.replace(/\//g, "_"));
    return existsSync(file) ? readFileSync(file, "utf8") : undefined;
  }

  file(relative: string): string {
    return readFileSync(join(this.state, relative), "utf8");
  }

  exists(relative: string): boolean {
    return existsSync(join(this.state, relative));
  }
}
