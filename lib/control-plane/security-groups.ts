import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { VpcSecurityGroupEgressRule } from "@cdktf/provider-aws/lib/vpc-security-group-egress-rule";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule";
import { Construct } from "constructs";
import { resourceName } from "../naming";
import { clusterTags } from "../tags";

export interface ClusterSecurityGroupsProps {
  readonly clusterName: string;
  readonly vpcId: string;
  /** CIDRs allowed to the public API endpoint, if there is one. */
  readonly publicAllowedCidrs?: string[];
  /** What the CNI needs between every pair of nodes (ICMP: port is the ICMP type). */
  readonly cniPorts: ReadonlyArray<{ protocol: string; port: number; description: string }>;
}

type Peer = { securityGroupId: string } | { cidr: string };

/** The two kinds of nodes, each with its security group. */
export type NodeKind = "control-plane" | "worker";

/**
 * A connection between nodes that a component makes, which the security
 * groups must admit. A policy check reads this table and fails on any flow
 * that no rule admits, so a component that needs a port cannot be forgotten.
 * (The CNI's flows come from the add-on itself: cniPorts.)
 */
export interface NodeFlow {
  readonly component: string;
  readonly from: NodeKind;
  readonly to: NodeKind;
  readonly protocol: "tcp" | "udp";
  readonly port: number;
}

const bothWays = (component: string, port: number): NodeFlow[] =>
  (["control-plane", "worker"] as const).flatMap((from) => (["control-plane", "worker"] as const).map((to) => ({ component, from, to, protocol: "tcp" as const, port })));

export const NODE_FLOWS: readonly NodeFlow[] = [
  // Logs, exec and port-forward: the apiserver calls every kubelet.
  { component: "kube-apiserver to kubelets", from: "control-plane", to: "control-plane", protocol: "tcp", port: 10250 },
  { component: "kube-apiserver to kubelets", from: "control-plane", to: "worker", protocol: "tcp", port: 10250 },
  // metrics-server runs on any node and scrapes every kubelet; with the CNI's outgoing NAT its
  // traffic leaves from its node's address, so it comes from the node's security group.
  ...bothWays("metrics-server to kubelets", 10250),
  // Kubelets, kube-proxy and pods reach the API directly, through the kubernetes Service.
  { component: "kubelets and pods to kube-apiserver", from: "control-plane", to: "control-plane", protocol: "tcp", port: 6443 },
  { component: "kubelets and pods to kube-apiserver", from: "worker", to: "control-plane", protocol: "tcp", port: 6443 },
  { component: "etcd clients and peers", from: "control-plane", to: "control-plane", protocol: "tcp", port: 2379 },
  { component: "etcd clients and peers", from: "control-plane", to: "control-plane", protocol: "tcp", port: 2380 },
];

/**
 * The cluster's security groups, opened port by port and group to group:
 * control plane, workers (shared by every node group), and the API load
 * balancers. Rules are separate resources, never inline. Only the node
 * groups carry the cluster tag: the cloud controller manager adds
 * load-balancer rules to the one tagged group of each instance.
 */
export class ClusterSecurityGroups extends Construct {
  readonly controlPlaneId: string;
  readonly workersId: string;
  readonly apiLoadBalancerId: string;
  readonly publicApiLoadBalancerId?: string;

  constructor(scope: Construct, id: string, props: ClusterSecurityGroupsProps) {
    super(scope, id);
    const group = (name: string, description: string, tagged: boolean) =>
      new SecurityGroup(this, name, {
        name: resourceName(props.clusterName, name),
        description,
        vpcId: props.vpcId,
        tags: { Name: resourceName(props.clusterName, name), ...(tagged ? clusterTags(props.clusterName) : {}) },
      }).id;
    const controlPlane = group("control-plane", "Kubernetes control-plane nodes", true);
    const workers = group("nodes", "Kubernetes worker nodes", true);
    const apiLb = group("api-lb", "Internal Kubernetes API load balancer", false);
    this.controlPlaneId = controlPlane;
    this.workersId = workers;
    this.apiLoadBalancerId = apiLb;

    // For ICMP, fromPort is the ICMP type and toPort the code (-1: any).
    const rule = (name: string, target: string, from: Peer, protocol: string, fromPort: number, toPort: number, description: string) =>
      new VpcSecurityGroupIngressRule(this, name, {
        securityGroupId: target,
        description,
        ipProtocol: protocol,
        fromPort,
        toPort,
        ...("cidr" in from ? { cidrIpv4: from.cidr } : { referencedSecurityGroupId: from.securityGroupId }),
      });
    const cp = { securityGroupId: controlPlane };
    const nodes = { securityGroupId: workers };

    // The API: through the load balancer (client IPs are not preserved, so traffic comes from its group), and directly
    // from nodes and pods for the kubernetes Service, whose endpoints are the control-plane nodes.
    rule("api-from-load-balancer", controlPlane, { securityGroupId: apiLb }, "tcp", 6443, 6443, "Kubernetes API from the internal load balancer");
    rule("api-from-control-plane", controlPlane, cp, "tcp", 6443, 6443, "Kubernetes API between control-plane nodes");
    rule("api-from-workers", controlPlane, nodes, "tcp", 6443, 6443, "Kubernetes API from worker nodes (kubernetes Service)");
    rule("lb-api-from-control-plane", apiLb, cp, "tcp", 6443, 6443, "Kubernetes API from control-plane nodes");
    rule("lb-api-from-workers", apiLb, nodes, "tcp", 6443, 6443, "Kubernetes API from worker nodes");
    egress(this, "lb-to-control-plane", apiLb, cp, "tcp", 6443, 6443, "To the apiservers, for traffic and health checks");
    // etcd: peers and clients are control-plane nodes only.
    rule("etcd-from-control-plane", controlPlane, cp, "tcp", 2379, 2380, "etcd clients and peers between control-plane nodes");
    // Kubelet API: the apiserver (logs, exec, port-forward) reaches every kubelet, and so does metrics-server,
    // which runs on any node and scrapes every kubelet (NODE_FLOWS).
    rule("kubelet-from-control-plane", controlPlane, cp, "tcp", 10250, 10250, "Kubelet API from the control plane: apiserver and metrics-server");
    rule("worker-kubelet-from-control-plane", workers, cp, "tcp", 10250, 10250, "Kubelet API from the control plane: apiserver and metrics-server");
    rule("kubelet-from-workers", controlPlane, nodes, "tcp", 10250, 10250, "Kubelet API from workers: metrics-server, which runs there");
    rule("worker-kubelet-from-workers", workers, nodes, "tcp", 10250, 10250, "Kubelet API from workers: metrics-server, which runs there");
    // The CNI's data plane between every pair of nodes.
    for (const { protocol, port, description } of props.cniPorts) {
      const toPort = protocol === "icmp" ? -1 : port;
      for (const [target, targetName] of [[controlPlane, "control-plane"], [workers, "workers"]] as const) {
        rule(`${port}-${protocol}-${targetName}-from-control-plane`, target, cp, protocol, port, toPort, `${description} (from control plane)`);
        rule(`${port}-${protocol}-${targetName}-from-workers`, target, nodes, protocol, port, toPort, `${description} (from workers)`);
      }
    }
    // Nodes download packages and images and call AWS APIs.
    for (const [target, name] of [[controlPlane, "control-plane"], [workers, "workers"]] as const) {
      egress(this, `${name}-egress`, target, { cidr: "0.0.0.0/0" }, "-1", undefined, undefined, "All outbound: packages, images, AWS APIs");
    }

    if (props.publicAllowedCidrs) {
      const publicLb = group("api-lb-public", "Public Kubernetes API load balancer", false);
      this.publicApiLoadBalancerId = publicLb;
      props.publicAllowedCidrs.forEach((cidr, i) => rule(`public-api-${i}`, publicLb, { cidr }, "tcp", 6443, 6443, `Kubernetes API from allow-listed ${cidr}`));
      egress(this, "public-lb-to-control-plane", publicLb, cp, "tcp", 6443, 6443, "To the apiservers, for traffic and health checks");
      rule("api-from-public-load-balancer", controlPlane, { securityGroupId: publicLb }, "tcp", 6443, 6443, "Kubernetes API from the public load balancer");
    }
  }
}

function egress(scope: Construct, name: string, source: string, to: Peer, protocol: string, fromPort: number | undefined, toPort: number | undefined, description: string) {
  new VpcSecurityGroupEgressRule(scope, name, {
    securityGroupId: source,
    description,
    ipProtocol: protocol,
    ...(fromPort !== undefined ? { fromPort, toPort } : {}),
    ...("cidr" in to ? { cidrIpv4: to.cidr } : { referencedSecurityGroupId: to.securityGroupId }),
  });
}
