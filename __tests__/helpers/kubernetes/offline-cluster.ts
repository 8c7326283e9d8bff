import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { NodeImage, Sandbox, testReleaseKey } from "../sandbox";
import { KubernetesBinaries, kubernetesBinaries, nodeImages, pathWith } from "./binaries";
import { kubeadmPreflightShim } from "./host-deviations";
import { CommandResult, Lab, LabNode, waitFor } from "./lab";
import { NodeRuntime } from "./node-runtime";

const FAKES = join(__dirname, "../../bootstrap/fakes");
const STAND_INS = join(__dirname, "stand-ins");

/**
 * What stands in for EC2, AWS and the machine image when our own user data
 * and bundle boot lab nodes, and why. Nothing else is replaced: the node
 * scripts, kubeadm, kubelet, containerd, etcd and the apiserver are real.
 */
export const OFFLINE_STAND_INS: Record<string, string> = {
  "instance metadata (curl to 169.254.169.254)": "no EC2 here; the sandbox's fake curl answers IMDSv2 with the node's id, name and address",
  "the AWS APIs (aws)": "no AWS here; the sandbox's fake keeps SSM (atomic puts without --overwrite, for the election), Secrets Manager, S3 and EC2 in files",
  "systemd (systemctl)": "no systemd as PID 1 here; stand-ins/systemctl starts our units' ExecStart lines in order, and timers at their intervals",
  "cloud-init": "no cloud-init boot here; the harness writes user data's write_files and runs its runcmd, as cloud-init's final stage does",
  "apt-get, apt-mark, snap, hostnamectl, modprobe, swapoff": "packages and kernel settings of the host must not change; the sandbox's recorders succeed, and the real binaries are on PATH as the packages would install them",
  "sysctl": "stand-ins/sysctl applies the net.* settings of our sysctl file, which are the node's network namespace's own, and skips the kernel-wide ones, which would change the host",
  "pkgs.k8s.io's Release.key": "not reachable; a real key made by the test is served, and its fingerprint replaces the pinned one in the environment file",
  "containerd 2's release archives (nodes of Kubernetes 1.36 and later)": "not reachable; such a node's environment file says CONTAINERD_SOURCE='ubuntu', so it takes the package path (a recorder here) and runs the lab's containerd like any node",
  "containerd": "started by the lab with the rendered config adapted to this host (host-deviations.ts) and the images kubeadm deploys imported, since nothing can be pulled",
  "the kubelet's unit": "started by the lab (node-runtime.ts) once kubeadm has written its flags, and again whenever it exits, as systemd restarts it (Restart=always); `systemctl stop kubelet` (kubeadm reset) keeps it stopped until a start, restart or boot",
  "the pod network": "our add-on specification's CNI images cannot be pulled; the containernetworking bridge, host-local, loopback and portmap plugins (built from Go modules) are configured on each node, and Calico's downloaded manifest is a stand-in with the objects our patches change and no pods, so the add-on step still applies everything for real",
  "the AWS cloud controller manager": "its image cannot run here; the harness sets a Node's addresses as it would from EC2 (setNodeAddresses), which the kubelet needs before it asks for its serving certificate, removes the node.cloudprovider.kubernetes.io/uninitialized taint where a drill needs pods scheduled on the node (initializeNode), and deletes the Node of a terminated instance (forgetTerminated)",
  "an Auto Scaling group launching a successor": "the test launches the new instance from the new user data when the node sets its group's desired capacity to 2 in the fake, and removes the lab node once the node has terminated itself there",
  "EC2 terminating or rebooting an instance": "lab.sh remove stops every process of the node, then kills them all (none sees another die first) and deletes its namespaces; lab.sh poweroff stops and kills them and empties /run but keeps its disk, and the boot that follows starts containerd, the kubelet and the units our scripts enabled (the systemctl stand-in's lab-boot)",
  "the API load balancer": "Debian's haproxy on the lab's bridge, health-checking /readyz over HTTPS as the target group does",
  "the VPC's resolver and private zone": "Debian's dnsmasq on the lab's bridge answers the endpoint name with the load balancer, so a node's own /etc/hosts entry (pin_endpoint_to_self) still wins, as on EC2; each node's own name is in its /etc/hosts",
};

/** The CNI plugins and a bridge network with this node's pod subnet, where containerd looks for them. */
const CNI_STAND_IN = `
set -euo pipefail
plugins=$1 subnet=$2
mkdir -p /opt/cni/bin /etc/cni/net.d
ln -sf "$plugins"/* /opt/cni/bin/
cat >/etc/cni/net.d/10-lab-bridge.conflist <<EOF
{"cniVersion": "1.0.0", "name": "lab", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipam": {"type": "host-local", "ranges": [[{"subnet": "$subnet"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
EOF`;

/** Calico's manifest as the lab serves it (see OFFLINE_STAND_INS): what our patches change, and a DaemonSet that selects no node. */
export const CALICO_STAND_IN = `# Stand-in for Calico's manifest, which cannot be downloaded here.
apiVersion: v1
kind: ConfigMap
metadata:
  name: calico-config
  namespace: kube-system
data:
  calico_backend: bird
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: calico-node
  namespace: kube-system
spec:
  selector:
    matchLabels:
      k8s-app: calico-node
  template:
    metadata:
      labels:
        k8s-app: calico-node
    spec:
      nodeSelector:
        kubeadm-aws.io/lab-stand-in: none
      containers:
        - name: calico-node
          image: registry.k8s.io/pause:3.10.1
`;

/** The address of the lab's bridge, where haproxy listens for the API endpoint. */
const LOAD_BALANCER_IP = "10.77.0.1";
const API_ENDPOINT_HOST = "api.prod.k8s.internal";

/**
 * A cluster whose nodes boot from our rendered user data, unmodified but for
 * the stand-ins above: cloud-init's files, then node-bootstrap.sh through
 * systemd's stand-in, which fetches the bundle from the fake S3 and runs the
 * role's script.
 */
export class OfflineCluster {
  readonly nodes = new Map<string, OfflineNode>();
  readonly aws = new Sandbox({ awsCli: false });
  /** The stand-ins' folder for each Kubernetes version the cluster's nodes run, by version. */
  private readonly binDirs = new Map<string, string>();

  private constructor(
    readonly lab: Lab,
    /** What nodes run unless launched with another minor (a minor upgrade's new nodes). */
    readonly binaries: KubernetesBinaries,
  ) {}

  /** The stand-ins a node running `binaries` finds first on its PATH, its kubeadm's preflight shim among them. */
  private binDirFor(binaries: KubernetesBinaries): string {
    let dir = this.binDirs.get(binaries.version);
    if (!dir) {
      dir = join(this.lab.dir, `bin-${binaries.version}`);
      mkdirSync(dir);
      // aws-cli beside snap: the fake snap links it from its own folder, as the real one installs the AWS CLI.
      for (const tool of ["apt-get", "apt-mark", "snap", "aws-cli", "hostnamectl", "modprobe", "swapoff", "curl", "gpg", "journalctl"]) {
        symlinkSync(join(FAKES, tool), join(dir, tool));
      }
      for (const tool of ["systemctl", "sysctl"]) symlinkSync(join(STAND_INS, tool), join(dir, tool));
      writeFileSync(join(dir, "kubeadm"), kubeadmPreflightShim(join(binaries.bin, "kubeadm")));
      chmodSync(join(dir, "kubeadm"), 0o755);
      this.binDirs.set(binaries.version, dir);
    }
    return dir;
  }

  static async create(minor: string, controlPlaneIps: string[]): Promise<OfflineCluster> {
    const cluster = new OfflineCluster(await Lab.create(), kubernetesBinaries(minor));
    writeFileSync(join(cluster.aws.downloads, "calico.yaml"), CALICO_STAND_IN);
    cluster.startLoadBalancer(controlPlaneIps);
    cluster.lab.startOnGateway("dnsmasq", [
      "dnsmasq", "--keep-in-foreground", "--user=root", "--pid-file=", "--no-resolv", "--no-hosts", "--bind-interfaces",
      `--listen-address=${LOAD_BALANCER_IP}`, `--address=/${API_ENDPOINT_HOST}/${LOAD_BALANCER_IP}`,
    ]);
    return cluster;
  }

  /**
   * haproxy in the bridge's namespace: TCP 6443 to every control-plane address whose /readyz answers 200. It lists
   * every address a control-plane instance of the test will have, as the target group registers each new one.
   */
  private startLoadBalancer(ips: string[]): void {
    const config = [
      "global",
      "  maxconn 1000",
      "defaults",
      "  mode tcp",
      "  timeout connect 5s",
      "  timeout client 1h",
      "  timeout server 1h",
      "frontend api",
      `  bind ${LOAD_BALANCER_IP}:6443`,
      "  default_backend control_plane",
      "backend control_plane",
      "  option httpchk GET /readyz",
      "  http-check expect status 200",
      "  default-server inter 2s fall 2 rise 2 check check-ssl verify none",
      ...ips.map((ip, i) => `  server cp${i} ${ip}:6443`),
      "",
    ].join("\n");
    writeFileSync(join(this.lab.dir, "haproxy.cfg"), config);
    this.lab.startOnGateway("haproxy", ["haproxy", "-db", "-f", join(this.lab.dir, "haproxy.cfg")]);
  }

  /**
   * Launches an instance: a lab node with containerd running, whose user data
   * cloud-init's stand-in then applies. Returns once the bootstrap is started,
   * as EC2 returns from RunInstances. `minor` is the Kubernetes its packages
   * would install: another than the cluster's for a minor upgrade's new nodes.
   */
  async launch(name: string, index: number, image: NodeImage, role: "control-plane" | "worker", minor = this.binaries.minor): Promise<OfflineNode> {
    const binaries = minor === this.binaries.minor ? this.binaries : kubernetesBinaries(minor);
    const node = await this.lab.addNode(name, index);
    const instance = new OfflineNode(this, node, role, `i-${name}`, new NodeRuntime(node, binaries), image);
    this.nodes.set(name, instance);
    this.aws.setInstance({ instanceId: instance.instanceId, hostname: node.hostname, ip: node.ip }, "running", role);
    // What Terraform has put into AWS by the time instances boot: the bundle, the add-on specification and its checksum.
    for (const [key, content] of Object.entries({ [image.bundle.key]: image.bundle.archive, ...image.objects })) this.aws.putObject(key, content);
    for (const [parameter, value] of Object.entries(image.parameters ?? {})) this.aws.putParameter(parameter, value);
    // The VPC's resolver, and the node's own name.
    await node.execOk(["bash", "-c", `echo "$1 $2" >>/etc/hosts && echo "nameserver $3" >/etc/resolv.conf`, "hosts", node.ip, node.hostname, LOAD_BALANCER_IP]);
    await node.execOk(["bash", "-c", CNI_STAND_IN, "cni", join(this.binaries.images, "cni-bin"), `192.168.${index + 1}.0/24`]);
    // A node of another minor also gets the cluster's DaemonSet and CoreDNS images: they reach it before an upgrade moves them.
    const images = binaries === this.binaries ? nodeImages(binaries, role) : [...nodeImages(binaries, role), ...nodeImages(this.binaries, "worker")];
    await instance.runtime.startContainerd(instance.containerdConfig, images);
    instance.runtime.supervise();
    await instance.cloudInit(image.userData);
    return instance;
  }

  /** The instance fails and EC2 terminates it: every process dies at once, and the machine is gone. */
  async terminate(instance: OfflineNode): Promise<void> {
    instance.runtime.stop();
    await this.lab.remove(instance.node);
    this.aws.setInstance({ instanceId: instance.instanceId, hostname: instance.node.hostname, ip: instance.node.ip }, "terminated", instance.role);
    this.nodes.delete(instance.node.name);
  }

  /**
   * A reboot without warning: a power cut, then the boot. systemd starts
   * containerd and the kubelet (their packages enable them), then every unit
   * our scripts enabled, the bootstrap first among them.
   */
  async reboot(instance: OfflineNode): Promise<void> {
    instance.runtime.stop();
    await this.lab.powerOff(instance.node);
    // What systemctl stopped stays stopped only until the next boot.
    await instance.node.execOk(["rm", "-f", "/var/lib/lab-systemd/kubelet-stopped"]);
    await instance.runtime.startContainerd(instance.containerdConfig, []);
    instance.runtime.supervise();
    await instance.exec(["systemctl", "lab-boot"]);
  }

  /** What the AWS cloud controller manager does once an instance is terminated: it deletes its Node. */
  async forgetTerminated(instance: OfflineNode, through: OfflineNode): Promise<void> {
    // The API may still be failing over from the lost node (health checks, an etcd election): retry for two minutes.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const deleted = await through.kubectl(["delete", "node", instance.node.hostname, "--wait=false", "--ignore-not-found", "--request-timeout=10s"]);
      if (deleted.code === 0) return;
      if (Date.now() > deadline) throw new Error(`deleting the Node of ${instance.node.name} failed: ${deleted.output}`);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
  }

  nodeEnv(node: OfflineNode): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PATH: pathWith(node.runtime.binaries, this.binDirFor(node.runtime.binaries), this.aws.snapBin),
      FAKE_STATE: this.aws.state,
      FAKE_DOWNLOADS: this.aws.downloads,
      FAKE_SNAP_BIN: this.aws.snapBin,
      FAKE_INSTANCE_ID: node.instanceId,
      FAKE_HOSTNAME: node.node.hostname,
      FAKE_IP: node.node.ip,
    };
  }

  /** What the AWS cloud controller manager does for a new Node: its addresses, from EC2. */
  async setNodeAddresses(node: OfflineNode, through: OfflineNode): Promise<void> {
    const addresses = [
      { type: "InternalIP", address: node.node.ip },
      { type: "InternalDNS", address: node.node.hostname },
      { type: "Hostname", address: node.node.hostname },
    ];
    const patch = await through.kubectl(["patch", "node", node.node.hostname, "--subresource=status", "--type=merge", "-p", JSON.stringify({ status: { addresses } })]);
    if (patch.code !== 0) throw new Error(`setting the addresses of ${node.node.name} failed: ${patch.output}`);
  }

  /** What the AWS cloud controller manager does once it has initialized a Node: its addresses, and the taint that kept pods off it removed. */
  async initializeNode(node: OfflineNode, through: OfflineNode): Promise<void> {
    await this.setNodeAddresses(node, through);
    const untainted = await through.kubectl(["taint", "node", node.node.hostname, "node.cloudprovider.kubernetes.io/uninitialized-"]);
    if (untainted.code !== 0 && !/not found/.test(untainted.output)) throw new Error(`removing the uninitialized taint of ${node.node.name} failed: ${untainted.output}`);
  }

  /** Requests through the load balancer, from the bridge's side: a client outside every node. */
  loadBalancerReadyz(): Promise<CommandResult> {
    return this.lab.gateway(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", `https://${LOAD_BALANCER_IP}:6443/readyz`]);
  }

  async destroy(): Promise<void> {
    for (const node of this.nodes.values()) node.runtime.stop();
    await this.lab.destroy();
  }
}

export class OfflineNode {
  constructor(
    readonly cluster: OfflineCluster,
    readonly node: LabNode,
    readonly role: "control-plane" | "worker",
    readonly instanceId: string,
    readonly runtime: NodeRuntime,
    readonly image: NodeImage,
  ) {}

  /** containerd's configuration as our bundle renders it. */
  get containerdConfig(): string {
    return this.image.bundle.files.find((f) => f.path === "/etc/kubeadm-aws/containerd-config.toml")!.content;
  }

  /** cloud-init's final stage: user data's files, then its runcmd (which starts the bootstrap without waiting). */
  async cloudInit(userData: string): Promise<void> {
    const config = parse(userData.replace(/^#cloud-config\n/, "")) as {
      write_files: Array<{ path: string; content: string; permissions: string }>;
      runcmd: string[][];
    };
    for (const file of config.write_files) {
      // The edits of the environment file: pkgs.k8s.io's key is the test's own, and containerd the lab's (see OFFLINE_STAND_INS).
      const content =
        file.path === "/etc/kubeadm-aws/node.env"
          ? file.content
              .replace(/^KUBERNETES_APT_KEY_FINGERPRINT=.*$/m, `KUBERNETES_APT_KEY_FINGERPRINT='${testReleaseKey().fingerprint}'`)
              .replace(/^CONTAINERD_SOURCE=.*$/m, "CONTAINERD_SOURCE='ubuntu'")
          : file.content;
      await this.node.write(file.path, content, file.permissions);
    }
    for (const command of config.runcmd) await this.node.execOk(command, { env: this.cluster.nodeEnv(this) });
  }

  /** The bootstrap's output so far (its unit's log). */
  async bootstrapLog(): Promise<string> {
    const log = await this.node.exec(["cat", "/var/log/lab-units/kubeadm-aws-bootstrap.service.log"]);
    return log.code === 0 ? log.output : "";
  }

  /** Waits for the bootstrap to finish, and fails with its log if it did not succeed. */
  async bootstrapped(timeoutMs: number): Promise<string> {
    const log = await waitFor(
      `the bootstrap of ${this.node.name}`,
      async () => {
        const log = await this.bootstrapLog();
        return /node is (ready|Ready and in service)\n|bootstrap failed in step/.test(log) ? log : undefined;
      },
      timeoutMs,
      2_000,
    );
    if (!/node is (ready|Ready and in service)\n/.test(log)) throw new Error(`the bootstrap of ${this.node.name} failed:\n${log}`);
    return log;
  }

  exec(command: string[], timeoutMs = 60_000): Promise<CommandResult> {
    return this.node.exec(command, { env: this.cluster.nodeEnv(this), timeoutMs });
  }

  kubectl(args: string[]): Promise<CommandResult> {
    return this.exec(["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", ...args]);
  }
}
