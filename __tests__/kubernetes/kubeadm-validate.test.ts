import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments, stringify } from "yaml";
import { RUNTIME_PLACEHOLDERS, RuntimePlaceholder } from "../../lib/bootstrap/node-files";
import { controlPlaneNode } from "../../lib/control-plane/control-plane-user-data";
import { ControlPlaneOptions } from "../../lib/control-plane/settings";
import { workerNode } from "../../lib/node-group/worker-user-data";
import { KUBERNETES_RELEASES } from "../../lib/versions";
import { controlPlaneBootstrap } from "../helpers/control-plane-fixture";
import { KubernetesBinaries, kubernetesBinaries } from "../helpers/kubernetes/binaries";
import { tempDir } from "../helpers/plan";
import { workerBootstrap } from "../helpers/worker-fixture";
import { MAXIMAL_CONTROL_PLANE } from "../security/plan-under-review";

/**
 * Every kubeadm document we render, checked by the real kubeadm of each
 * supported minor (`kubeadm config validate` decodes strictly: an unknown or
 * misspelled field fails), and the images that kubeadm expects, compared with
 * what we pin.
 */

const run = promisify(execFile);
const dir = tempDir("kubeadm-validate");

const MAXIMAL_WORKERS = {
  labels: { "workload.example.com/class": "batch" },
  taints: [{ key: "workload.example.com/batch", value: "true", effect: "NoSchedule" as const }],
  kubelet: { maxPods: 58, systemReserved: { cpu: "250m", memory: "512Mi" } },
};

/** The runtime placeholders filled as the node scripts fill them. */
function fill(template: string, binaries: KubernetesBinaries): string {
  const values: Record<RuntimePlaceholder, string> = {
    KUBERNETES_VERSION: binaries.version,
    JOIN_TOKEN: "abcdef.0123456789abcdef",
    CA_CERT_HASH: `sha256:${"a".repeat(64)}`,
    PUBLIC_API_HOST: "prod-api-public-0123456789.elb.eu-west-1.amazonaws.com",
    SERVICE_ACCOUNT_ISSUER: "https://prod-oidc-111122223333-eu-west-1.s3.eu-west-1.amazonaws.com",
  };
  return RUNTIME_PLACEHOLDERS.reduce((text, name) => text.split(`\${${name}}`).join(values[name]), template);
}

/** RFC 7386 JSON merge patch, as kubeadm applies a `+merge` patch file. */
function mergePatch(target: any, patch: any): any {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const out = { ...(typeof target === "object" && target !== null && !Array.isArray(target) ? target : {}) };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

async function validate(binaries: KubernetesBinaries, name: string, config: string): Promise<{ ok: boolean; output: string }> {
  const file = join(dir, `${binaries.version}-${name}.yaml`);
  writeFileSync(file, config);
  try {
    const { stdout, stderr } = await run(join(binaries.bin, "kubeadm"), ["config", "validate", "--config", file]);
    return { ok: true, output: `${stdout}${stderr}` };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

function controlPlaneFiles(options: ControlPlaneOptions): { init: string; join: string } {
  const files = controlPlaneNode(controlPlaneBootstrap(options)).files;
  const file = (suffix: string) => files.find((f) => f.path.endsWith(suffix))!.content;
  return { init: file("/init.yaml"), join: file("/join.yaml") };
}

function workerFiles(options: Parameters<typeof workerBootstrap>[0], minor: string): { join: string; kubeletPatch: string } {
  const files = workerNode(workerBootstrap(options, minor)).files;
  return { join: files.find((f) => f.path.endsWith("/join.yaml"))!.content, kubeletPatch: files.find((f) => f.path.endsWith("+merge.yaml"))!.content };
}

describe.each(Object.keys(KUBERNETES_RELEASES))("real kubeadm of Kubernetes %s", (minor) => {
  const binaries = kubernetesBinaries(minor);
  const configurations: Array<[string, ControlPlaneOptions, Parameters<typeof workerBootstrap>[0]]> = [
    ["default", { kubernetesVersion: minor }, {}],
    ["maximal", { ...MAXIMAL_CONTROL_PLANE, kubernetesVersion: minor }, MAXIMAL_WORKERS],
  ];

  describe.each(configurations)("%s configuration", (name, controlPlane, workers) => {
    it("accepts the InitConfiguration with its cluster, kubelet and kube-proxy documents", async () => {
      expect(await validate(binaries, `${name}-init`, fill(controlPlaneFiles(controlPlane).init, binaries))).toEqual({ ok: true, output: "ok\n" });
    });

    it("accepts the control-plane JoinConfiguration", async () => {
      expect(await validate(binaries, `${name}-cp-join`, fill(controlPlaneFiles(controlPlane).join, binaries))).toEqual({ ok: true, output: "ok\n" });
    });

    it("accepts the worker JoinConfiguration", async () => {
      expect(await validate(binaries, `${name}-worker-join`, fill(workerFiles(workers, minor).join, binaries))).toEqual({ ok: true, output: "ok\n" });
    });

    it("accepts the cluster's KubeletConfiguration with the worker group's patch merged, as kubeadm merges it at join", async () => {
      const docs = parseAllDocuments(fill(controlPlaneFiles(controlPlane).init, binaries)).map((d) => d.toJS());
      const patch = parseAllDocuments(workerFiles(workers, minor).kubeletPatch)[0].toJS();
      const patched = docs.map((d) => (d.kind === "KubeletConfiguration" ? mergePatch(d, patch) : d));
      expect(await validate(binaries, `${name}-worker-kubelet`, patched.map((d) => stringify(d)).join("---\n"))).toEqual({ ok: true, output: "ok\n" });
    });
  });

  it("fails a document with a misspelled field (the check can fail)", async () => {
    const init = fill(controlPlaneFiles({ kubernetesVersion: minor }).init, binaries).replace("readOnlyPort: 0", "readOnlyPort: 0\nreadOnlyPrt: 0");
    const result = await validate(binaries, "misspelled", init);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/strict decoding error: unknown field "readOnlyPrt"/);
  });

  it("expects the pause image we pin for containerd, and the etcd that was built beside it", async () => {
    const { stdout } = await run(join(binaries.bin, "kubeadm"), ["config", "images", "list", "--kubernetes-version", binaries.version]);
    const images = stdout.split("\n").filter(Boolean);
    // Ours carries the digest kubeadm does not name.
    expect(images.filter((i) => i.includes("/pause:"))).toEqual([KUBERNETES_RELEASES[minor].pauseImage.split("@")[0]]);
    expect(images.filter((i) => i.includes("/etcd:"))).toEqual([`registry.k8s.io/etcd:${binaries.etcdVersion}-0`]);
  });
});
