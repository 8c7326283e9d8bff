import { parseAllDocuments, parse } from "yaml";
import { AddonsOptions, resolveAddonsSettings } from "../../lib/addons";
import { ConfigError } from "../../lib/errors";
import { CALICO, CILIUM, EBS_CSI_DRIVER, HELM, KUBERNETES_RELEASES, METRICS_SERVER_IMAGE, NODE_TERMINATION_HANDLER_IMAGE } from "../../lib/versions";
import { addonSpec } from "../helpers/control-plane-fixture";

interface SpecAddon {
  name: string;
  version: string;
  order: number;
  files: Record<string, string>;
  downloads: Array<{ url: string; sha256: string; file: string }>;
  helm?: { chart: string; helm: string; release: string; namespace: string; values: Record<string, any> };
}

const spec = (addons?: AddonsOptions, controlPlane: Record<string, unknown> = {}): SpecAddon[] => JSON.parse(addonSpec({ ...controlPlane, addons })).addons;
const byName = (addons: SpecAddon[], name: string): SpecAddon => {
  const addon = addons.find((a) => a.name === name);
  if (!addon) throw new Error(`no add-on ${name} in ${addons.map((a) => a.name).join(", ")}`);
  return addon;
};
/** Objects of the add-on's rendered files: resources, or with `patches`, the strategic-merge patches. */
const objects = (addon: SpecAddon, which: "resources" | "patches" = "resources"): any[] => {
  const kustomization = parse(addon.files["kustomization.yaml"]);
  const files: string[] = which === "resources" ? kustomization.resources : (kustomization.patches ?? []).map((p: { path: string }) => p.path);
  return files.filter((f) => f in addon.files).flatMap((f) => parseAllDocuments(addon.files[f]).map((d) => d.toJS()));
};
const find = (addon: SpecAddon, kind: string, name: string) => objects(addon).find((o) => o.kind === kind && o.metadata.name === name);
const containers = (addon: SpecAddon) => objects(addon).flatMap((o) => o.spec?.template?.spec?.containers ?? []);

describe("the add-on specification, by default", () => {
  const addons = spec();

  it("lists every add-on, pinned, in the order the control plane applies them", () => {
    expect(addons.map((a) => [a.order, a.name, a.version])).toEqual([
      [10, "aws-cloud-controller-manager", "v1.35.2"],
      [20, "calico", CALICO.version],
      [25, "pod-identity-webhook", "v0.6.17"],
      [30, "aws-ebs-csi-driver", EBS_CSI_DRIVER.version],
      [40, "metrics-server", "v0.9.0"],
      [50, "cluster-autoscaler", "v1.35.2"],
      [60, "aws-node-termination-handler", "v1.25.6"],
      [70, "coredns-availability", "1"],
    ]);
  });

  it("pins every download to a version and a sha256", () => {
    const downloads = addons.flatMap((a) => a.downloads);
    expect(downloads).toEqual([{ url: CALICO.manifestUrl, sha256: CALICO.manifestSha256, file: "calico.yaml" }]);
    expect(CALICO.manifestUrl).toContain(`/${CALICO.version}/`);
    for (const d of downloads) expect(d.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("pins every container image to a version tag, never latest", () => {
    const images = addons.flatMap(containers).map((c) => c.image as string);
    expect(images.length).toBeGreaterThan(8);
    for (const image of images) expect(image).toMatch(/:v\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?$/);
    expect(images).toEqual(expect.arrayContaining([METRICS_SERVER_IMAGE, NODE_TERMINATION_HANDLER_IMAGE, EBS_CSI_DRIVER.images.driver, KUBERNETES_RELEASES["1.35"].clusterAutoscalerImage]));
  });

  it("gives each add-on a kustomization whose files exist, labelling every object with the add-on", () => {
    for (const addon of addons) {
      const k = parse(addon.files["kustomization.yaml"]);
      expect(k.labels).toEqual([{ pairs: { "app.kubernetes.io/managed-by": "kubeadm-aws", "kubeadm-aws.io/addon": addon.name }, includeSelectors: false }]);
      const available = [...Object.keys(addon.files), ...addon.downloads.map((d) => d.file), ...(addon.helm ? ["helm-rendered.yaml"] : [])];
      for (const file of [...k.resources, ...(k.patches ?? []).map((p: { path: string }) => p.path)]) expect({ addon: addon.name, file, present: available.includes(file) }).toMatchObject({ present: true });
    }
  });

  it("gives every container resource requests, and no container privileges it does not need", () => {
    // The EBS node plugin mounts volumes on the host: it is the one privileged container.
    for (const c of addons.flatMap(containers)) {
      expect({ container: c.name, requests: c.resources?.requests }).toMatchObject({ requests: expect.any(Object) });
      if (c.name !== "ebs-plugin") expect({ container: c.name, privileged: c.securityContext?.privileged ?? false }).toEqual({ container: c.name, privileged: false });
    }
  });

  it("makes an encrypted gp3 StorageClass with the cluster key the default", () => {
    const sc = find(byName(addons, "aws-ebs-csi-driver"), "StorageClass", "gp3-encrypted");
    expect(sc).toMatchObject({
      provisioner: "ebs.csi.aws.com",
      parameters: { type: "gp3", encrypted: "true", kmsKeyId: "arn:aws:kms:eu-west-1:111122223333:alias/k8s/prod" },
      metadata: { annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
      volumeBindingMode: "WaitForFirstConsumer",
    });
  });

  const AWS_CONTROLLERS = [
    ["aws-ebs-csi-driver", "ebs-csi-controller", "ebs-plugin"],
    ["cluster-autoscaler", "cluster-autoscaler", "cluster-autoscaler"],
    ["aws-node-termination-handler", "aws-node-termination-handler", "aws-node-termination-handler"],
  ];

  it("runs AWS-calling controllers on control-plane nodes on the pod network, with their own role through their service account's STS token", () => {
    for (const [addon, deployment, container] of AWS_CONTROLLERS) {
      const pod = find(byName(addons, addon), "Deployment", deployment).spec.template.spec;
      const account = find(byName(addons, addon), "ServiceAccount", pod.serviceAccountName);
      const roleArn = `arn:aws:iam::111122223333:role/prod-sa-kube-system-${pod.serviceAccountName}`;
      expect({ deployment, nodeSelector: pod.nodeSelector, hostNetwork: pod.hostNetwork ?? false }).toEqual({ deployment, nodeSelector: { "node-role.kubernetes.io/control-plane": "" }, hostNetwork: false });
      expect(account.metadata.annotations).toEqual({ "eks.amazonaws.com/role-arn": roleArn });
      const aws = pod.containers.find((c: any) => c.name === container);
      const env = Object.fromEntries(aws.env.filter((e: any) => "value" in e).map((e: any) => [e.name, e.value]));
      expect(env).toMatchObject({ AWS_ROLE_ARN: roleArn, AWS_WEB_IDENTITY_TOKEN_FILE: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token", AWS_REGION: "eu-west-1" });
      // Each variable once: the container's own AWS_REGION gives way to the injected one.
      expect(new Set(aws.env.map((e: any) => e.name)).size).toBe(aws.env.length);
      expect(aws.volumeMounts).toContainEqual({ name: "aws-iam-token", mountPath: "/var/run/secrets/eks.amazonaws.com/serviceaccount", readOnly: true });
      expect(pod.volumes).toContainEqual({ name: "aws-iam-token", projected: { sources: [{ serviceAccountToken: { audience: "sts.amazonaws.com", expirationSeconds: 86400, path: "token" } }] } });
      // No other container of the pod gets the token.
      expect(pod.containers.filter((c: any) => (c.volumeMounts ?? []).some((m: any) => m.name === "aws-iam-token")).map((c: any) => c.name)).toEqual([container]);
    }
  });

  it("runs AWS-calling controllers with host networking and the instance role when workload identity is off", () => {
    const off = spec(undefined, { workloadIdentity: false });
    for (const [addon, deployment] of AWS_CONTROLLERS) {
      const pod = find(byName(off, addon), "Deployment", deployment).spec.template.spec;
      expect({ deployment, nodeSelector: pod.nodeSelector, hostNetwork: pod.hostNetwork }).toEqual({ deployment, nodeSelector: { "node-role.kubernetes.io/control-plane": "" }, hostNetwork: true });
      expect(JSON.stringify(pod)).not.toContain("AWS_ROLE_ARN");
      expect(find(byName(off, addon), "ServiceAccount", pod.serviceAccountName).metadata.annotations).toBeUndefined();
    }
  });

  it("verifies kubelets in metrics-server against the cluster CA, never skipping TLS", () => {
    const args = containers(byName(addons, "metrics-server"))[0].args as string[];
    expect(args).toContain("--kubelet-certificate-authority=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
    expect(args.join(" ")).not.toContain("insecure");
  });

  it("has the apiserver verify metrics-server: no APIService skips TLS, and the metrics APIService gets its caBundle from the Secret metrics-server serves", () => {
    const apiServices = spec({ metricsServer: { enabled: true } }).flatMap((a) => objects(a).filter((o) => o.kind === "APIService"));
    expect(apiServices.map((s) => s.metadata.name)).toEqual(["v1beta1.metrics.k8s.io"]);
    expect(apiServices[0].spec).not.toHaveProperty("insecureSkipTLSVerify");
    const metrics = byName(addons, "metrics-server");
    const kustomization = parse(metrics.files["kustomization.yaml"]);
    expect(kustomization.secretGenerator).toEqual([expect.objectContaining({ name: "metrics-server-serving", files: ["tls.crt", "tls.key", "caBundle=ca-bundle.crt"] })]);
    expect(kustomization.replacements).toEqual([
      {
        source: { kind: "Secret", name: "metrics-server-serving", fieldPath: "data.caBundle" },
        targets: [{ select: { kind: "APIService", name: "v1beta1.metrics.k8s.io" }, fieldPaths: ["spec.caBundle"], options: { create: true } }],
      },
    ]);
    const pod = find(metrics, "Deployment", "metrics-server").spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: "serving-certificate", secret: { secretName: "metrics-server-serving", defaultMode: 0o440 } });
    expect(pod.containers[0].args).toEqual(expect.arrayContaining(["--tls-cert-file=/etc/metrics-server/tls/tls.crt", "--tls-private-key-file=/etc/metrics-server/tls/tls.key"]));
    // The service name the apiserver dials comes first: the node makes the certificate for it.
    expect((metrics as any).servingCertificate).toMatchObject({ dnsNames: ["metrics-server.kube-system.svc", "metrics-server.kube-system.svc.cluster.local"], validDays: 365, renewBeforeDays: 30 });
  });

  describe("the pod identity webhook", () => {
    const webhook = byName(addons, "pod-identity-webhook");
    const configuration = find(webhook, "MutatingWebhookConfiguration", "pod-identity-webhook");

    it("mutates pods created outside kube-system, admits them unchanged when it fails, and speaks the review version v0.6.17 answers", () => {
      expect(configuration.webhooks).toHaveLength(1);
      expect(configuration.webhooks[0]).toMatchObject({
        clientConfig: { service: { name: "pod-identity-webhook", namespace: "kube-system", path: "/mutate", port: 443 } },
        failurePolicy: "Ignore",
        rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }],
        namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["kube-system"] }] },
        objectSelector: { matchExpressions: [{ key: "eks.amazonaws.com/skip-pod-identity-webhook", operator: "DoesNotExist" }] },
        sideEffects: "None",
        admissionReviewVersions: ["v1beta1"],
      });
      expect(configuration.webhooks[0].clientConfig).not.toHaveProperty("url");
    });

    it("injects what webIdentityPodParts renders: the STS token at its path, the region, regional STS", () => {
      const command = containers(webhook)[0].command as string[];
      expect(command).toEqual(
        expect.arrayContaining([
          "--in-cluster=false",
          "--annotation-prefix=eks.amazonaws.com",
          "--token-audience=sts.amazonaws.com",
          "--token-mount-path=/var/run/secrets/eks.amazonaws.com/serviceaccount",
          "--aws-default-region=eu-west-1",
          "--sts-regional-endpoint=true",
        ]),
      );
    });

    it("serves a certificate the control plane makes, which the webhook configuration's caBundle trusts", () => {
      const kustomization = parse(webhook.files["kustomization.yaml"]);
      expect(kustomization.replacements).toEqual([
        {
          source: { kind: "Secret", name: "pod-identity-webhook-serving", fieldPath: "data.caBundle" },
          targets: [{ select: { kind: "MutatingWebhookConfiguration", name: "pod-identity-webhook" }, fieldPaths: ["webhooks.0.clientConfig.caBundle"], options: { create: true } }],
        },
      ]);
      expect((webhook as any).servingCertificate.dnsNames[0]).toBe("pod-identity-webhook.kube-system.svc");
      const pod = find(webhook, "Deployment", "pod-identity-webhook").spec.template.spec;
      expect(pod.volumes).toEqual([{ name: "serving-certificate", secret: { secretName: "pod-identity-webhook-serving", defaultMode: 0o440 } }]);
      expect(containers(webhook)[0].command).toEqual(expect.arrayContaining(["--tls-cert=/etc/webhook/certs/tls.crt", "--tls-key=/etc/webhook/certs/tls.key"]));
    });

    it("runs two replicas as non-root on the pod network, reading only ServiceAccounts, from an image pinned by digest", () => {
      const pod = find(webhook, "Deployment", "pod-identity-webhook").spec.template.spec;
      expect(find(webhook, "Deployment", "pod-identity-webhook").spec.replicas).toBe(2);
      expect(pod.hostNetwork ?? false).toBe(false);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
      expect(containers(webhook)[0].image).toMatch(/^public\.ecr\.aws\/eks\/amazon-eks-pod-identity-webhook:v0\.6\.17@sha256:[0-9a-f]{64}$/);
      expect(find(webhook, "ClusterRole", "pod-identity-webhook").rules).toEqual([{ apiGroups: [""], resources: ["serviceaccounts"], verbs: ["get", "watch", "list"] }]);
    });
  });

  it("discovers this cluster's node groups by tag in the cluster autoscaler", () => {
    const command = containers(byName(addons, "cluster-autoscaler"))[0].command as string[];
    expect(command).toEqual(
      expect.arrayContaining([
        "--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/prod",
        "--expander=least-waste",
        "--scale-down-utilization-threshold=0.5",
      ]),
    );
  });

  it("points the termination handler at the cluster's queue, draining only nodes of tagged groups", () => {
    const env = Object.fromEntries(containers(byName(addons, "aws-node-termination-handler"))[0].env.filter((e: any) => e.value).map((e: any) => [e.name, e.value]));
    expect(env).toMatchObject({
      QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/111122223333/prod-node-termination",
      ENABLE_SQS_TERMINATION_DRAINING: "true",
      CHECK_TAG_BEFORE_DRAINING: "true",
      MANAGED_TAG: "aws-node-termination-handler/managed",
    });
  });

  it("gives kubeadm's CoreDNS a disruption budget and spreads it over zones and nodes", () => {
    const coredns = byName(addons, "coredns-availability");
    expect(find(coredns, "PodDisruptionBudget", "coredns").spec).toEqual({ minAvailable: 1, selector: { matchLabels: { "k8s-app": "kube-dns" } } });
    const spread = find(coredns, "Deployment", "coredns").spec.template.spec.topologySpreadConstraints;
    expect(spread.map((c: any) => c.topologyKey)).toEqual(["topology.kubernetes.io/zone", "kubernetes.io/hostname"]);
  });
});

describe("the add-on specification follows the options", () => {
  it("installs Cilium from its checksummed chart with a checksummed Helm, in the cluster's pod CIDR", () => {
    const cilium = byName(spec({ cni: "cilium" }, { podCidr: "10.240.0.0/16" }), "cilium");
    expect(cilium.version).toBe(CILIUM.version);
    expect(cilium.downloads).toEqual([
      { url: CILIUM.chartUrl, sha256: CILIUM.chartSha256, file: "cilium-1.19.6.tgz" },
      { url: "https://get.helm.sh/helm-v3.19.0-linux-amd64.tar.gz", sha256: HELM.sha256.amd64, file: "helm.tar.gz" },
    ]);
    expect(cilium.helm).toMatchObject({ chart: "cilium-1.19.6.tgz", release: "cilium", namespace: "kube-system" });
    expect(cilium.helm!.values.ipam.operator.clusterPoolIPv4PodCIDRList).toEqual(["10.240.0.0/16"]);
    expect(spec({ cni: "cilium" }).map((a) => a.name)).not.toContain("calico");
  });

  it("downloads the Helm of the control plane's architecture", () => {
    const cilium = byName(spec({ cni: "cilium" }, { instanceType: "m7g.large" }), "cilium");
    expect(cilium.downloads[1]).toEqual({ url: "https://get.helm.sh/helm-v3.19.0-linux-arm64.tar.gz", sha256: HELM.sha256.arm64, file: "helm.tar.gz" });
  });

  it("puts Calico's pod CIDR and VXLAN mode into its patches", () => {
    const calico = byName(spec({}, { podCidr: "10.240.0.0/16" }), "calico");
    const env = objects(calico, "patches").find((o) => o.kind === "DaemonSet").spec.template.spec.containers[0].env;
    expect(env).toEqual(expect.arrayContaining([{ name: "CALICO_IPV4POOL_CIDR", value: "10.240.0.0/16" }, { name: "CALICO_IPV4POOL_VXLAN", value: "Always" }]));
  });

  it("matches the cluster autoscaler to the Kubernetes minor, with the expander and threshold asked for", () => {
    const autoscaler = byName(spec({ clusterAutoscaler: { expander: "random", scaleDownUtilizationThreshold: 0.7 } }, { kubernetesVersion: "1.36" }), "cluster-autoscaler");
    expect(autoscaler.version).toBe("v1.36.1");
    expect(containers(autoscaler)[0].image).toBe(KUBERNETES_RELEASES["1.36"].clusterAutoscalerImage);
    expect(containers(autoscaler)[0].command).toEqual(expect.arrayContaining(["--expander=random", "--scale-down-utilization-threshold=0.7"]));
  });

  it("leaves the gp3 class out of the default when asked", () => {
    const sc = find(byName(spec({ ebsCsiDriver: { defaultStorageClass: false } }), "aws-ebs-csi-driver"), "StorageClass", "gp3-encrypted");
    expect(sc.metadata.annotations).toBeUndefined();
  });

  it("leaves out each add-on that is turned off, but never the CNI or the cloud controller manager", () => {
    const off = { enabled: false };
    const names = spec({ ebsCsiDriver: off, metricsServer: off, clusterAutoscaler: off, nodeTerminationHandler: off, podIdentityWebhook: off, coreDns: off }).map((a) => a.name);
    expect(names).toEqual(["aws-cloud-controller-manager", "calico"]);
  });

  it.each([
    [{ cni: "flannel" as never }, "addons.cni", '"flannel" is not one of "calico", "cilium"'],
    [{ clusterAutoscaler: { scaleDownUtilizationThreshold: 1.5 } }, "addons.clusterAutoscaler.scaleDownUtilizationThreshold", "1.5 is not allowed; use a share above 0 and at most 1"],
    [{ clusterAutoscaler: { expander: "cheapest" as never } }, "addons.clusterAutoscaler.expander", '"cheapest" is not one of "least-waste", "random", "most-pods", "priority", "price"'],
  ])("rejects %j at synth time, naming the property", (options, property, message) => {
    expect(() => resolveAddonsSettings(options)).toThrow(ConfigError);
    expect(() => resolveAddonsSettings(options)).toThrow(`${property}: ${message}`);
  });

  it("rejects the pod identity webhook without workload identity, naming the property", () => {
    expect(() => spec({ podIdentityWebhook: { enabled: true } }, { workloadIdentity: false })).toThrow(
      "addons.podIdentityWebhook.enabled: true needs workloadIdentity: the webhook hands out roles that trust the cluster's issuer; set workloadIdentity to true, or leave the webhook off",
    );
    expect(spec(undefined, { workloadIdentity: false }).map((a) => a.name)).not.toContain("pod-identity-webhook");
  });
});
