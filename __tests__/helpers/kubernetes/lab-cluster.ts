import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse } from "yaml";
import { NodeImage, Sandbox } from "../sandbox";
import { KubernetesBinaries, kubernetesBinaries, nodeImages, pathWith } from "./binaries";
import { UPGRADE_HEALTH_IGNORED, kubeadmPreflightShim } from "./host-deviations";
import { CommandResult, Lab, LabNode } from "./lab";
import { NodeRuntime } from "./node-runtime";

const FAKES = join(__dirname, "../../bootstrap/fakes");
/** The only fakes a lab node uses: AWS (the secret store, SSM, EC2) and instance metadata. Kubernetes is real. */
/** AWS and the internet are fakes; so is systemd, which the lab has not: the tests run the services' scripts themselves. */
const FAKES_IN_LAB = { aws: "aws-cli", curl: "curl", systemctl: "systemctl" };
/** The API endpoint of cluster "prod"; in the lab it resolves to the first control-plane node, as the load balancer would forward. */
export const LAB_API_ENDPOINT_HOST = "api.prod.k8s.internal";

/**
 * A cluster of lab nodes that run the real Kubernetes binaries, with our
 * rendered node files in place and our node scripts' steps, against a fake
 * AWS (the sandbox's) that stands in for SSM, Secrets Manager and EC2.
 */
export class LabCluster {
  readonly nodes: ClusterNode[] = [];
  private readonly binDir: string;

  private constructor(
    readonly lab: Lab,
    readonly aws: Sandbox,
    readonly binaries: KubernetesBinaries,
  ) {
    this.binDir = join(lab.dir, "bin");
    mkdirSync(this.binDir);
    for (const [command, fake] of Object.entries(FAKES_IN_LAB)) symlinkSync(join(FAKES, fake), join(this.binDir, command));
    writeFileSync(join(this.binDir, "kubeadm"), kubeadmPreflightShim(join(binaries.bin, "kubeadm"), UPGRADE_HEALTH_IGNORED));
    chmodSync(join(this.binDir, "kubeadm"), 0o755);
  }

  static async create(minor: string): Promise<LabCluster> {
    const binaries = kubernetesBinaries(minor);
    return new LabCluster(await Lab.create(), new Sandbox(), binaries);
  }

  /** The first control-plane node's address: where the API endpoint name points. */
  get endpointIp(): string {
    return this.nodes.find((n) => n.role === "control-plane")?.node.ip ?? "10.77.0.10";
  }

  /**
   * A node with the files of its user data and bundle in place, prepared as
   * prepare-node.sh prepares an EC2 instance, with containerd running, the
   * images its kubelet runs imported (a worker needs only pause, kube-proxy
   * and CoreDNS), and a supervisor that starts the kubelet once kubeadm has
   * written its flags.
   */
  async addNode(name: string, index: number, image: NodeImage, role: "control-plane" | "worker"): Promise<ClusterNode> {
    const node = await this.lab.addNode(name, index);
    const instanceId = `i-${name}`;
    this.aws.setInstance({ instanceId, hostname: node.hostname, ip: node.ip }, "running", role);
    const files = nodeFiles(image);
    const staged = join(node.dir, "image");
    for (const [path, file] of Object.entries(files)) {
      mkdirSync(dirname(join(staged, path)), { recursive: true });
      writeFileSync(join(staged, path), file.content);
      chmodSync(join(staged, path), parseInt(file.permissions, 8));
    }
    const member = new ClusterNode(this, node, role, instanceId, new NodeRuntime(node, this.binaries));
    this.nodes.push(member);
    const sysctls = files["/etc/sysctl.d/90-kubernetes.conf"].content;
    await node.execOk(["bash", "-euo", "pipefail", "-c", PREPARE_NODE, "prepare", staged, node.ip, node.hostname, this.endpointIp, LAB_API_ENDPOINT_HOST, sysctls]);
    await member.runtime.startContainerd(files["/etc/kubeadm-aws/containerd-config.toml"].content, nodeImages(this.binaries, role));
    member.runtime.supervise();
    return member;
  }

  nodeEnv(node: ClusterNode): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PATH: pathWith(this.binaries, this.binDir),
      FAKE_STATE: this.aws.state,
      FAKE_DOWNLOADS: this.aws.downloads,
      FAKE_INSTANCE_ID: node.instanceId,
      FAKE_HOSTNAME: node.node.hostname,
      FAKE_IP: node.node.ip,
    };
  }

  async destroy(): Promise<void> {
    for (const node of this.nodes) node.runtime.stop();
    await this.lab.destroy();
  }
}

export class ClusterNode {
  constructor(
    readonly cluster: LabCluster,
    readonly node: LabNode,
    readonly role: "control-plane" | "worker",
    readonly instanceId: string,
    readonly runtime: NodeRuntime,
  ) {}

  /**
   * Runs a bash snippet on the node with our scripts sourced and the node's
   * configuration loaded, as the bootstrap scripts run their steps.
   */
  steps(snippet: string, sources = ["lib.sh"], timeoutMs = 240_000): Promise<CommandResult> {
    const source = sources.map((s) => `. /opt/kubeadm-aws/bin/${s}`).join("; ");
    return this.node.exec(
      ["bash", "-c", `set -Eeuo pipefail; ${source}; load_config; mkdir -p "$STATE_DIR/run"; INSTANCE_ID=${this.instanceId}; ${snippet}`],
      { env: this.cluster.nodeEnv(this), timeoutMs },
    );
  }

  /** The real kubectl on this node, with the admin kubeconfig unless told otherwise. */
  kubectl(args: string[], kubeconfig = "/etc/kubernetes/admin.conf"): Promise<CommandResult> {
    return this.node.exec(["kubectl", `--kubeconfig=${kubeconfig}`, ...args], { env: this.cluster.nodeEnv(this), timeoutMs: 60_000 });
  }

  async kubectlOk(args: string[], kubeconfig?: string): Promise<string> {
    const result = await this.kubectl(args, kubeconfig);
    if (result.code !== 0) throw new Error(`kubectl ${args.join(" ")} on ${this.node.name} exited ${result.code}:\n${result.output}`);
    return result.output;
  }
}

/** Every file a node's user data and bundle put on it, by path. */
function nodeFiles(image: NodeImage): Record<string, { content: string; permissions: string }> {
  const files: Record<string, { content: string; permissions: string }> = {};
  const userData = parse(image.userData.replace(/^#cloud-config\n/, "")) as { write_files: Array<{ path: string; content: string; permissions: string }> };
  for (const f of userData.write_files) files[f.path] = { content: f.content, permissions: f.permissions };
  for (const f of image.bundle.files) files[f.path] = { content: f.content, permissions: f.permissions };
  return files;
}

/**
 * What cloud-init and prepare-node.sh do on EC2, done for a lab node:
 * - the node's files in place;
 * - names the VPC's DNS would answer, in /etc/hosts: the node's own name, and
 *   the API endpoint at the first control-plane node (the load balancer's stand-in);
 * - no DNS server, so lookups of anything else fail at once;
 * - the network sysctls of our sysctl file, which are per network namespace
 *   (the kernel-wide ones would change the host).
 */
const PREPARE_NODE = `
staged=$1 ip=$2 hostname=$3 endpoint_ip=$4 endpoint_host=$5 sysctls=$6
cp -a "$staged/." /
printf '%s %s\\n%s %s\\n' "$ip" "$hostname" "$endpoint_ip" "$endpoint_host" >>/etc/hosts
echo 'nameserver 127.0.0.1' >/etc/resolv.conf
grep '^net\\.' <<<"$sysctls" | while IFS=' =' read -r key value; do sysctl -qw "$key=$value"; done
`;
