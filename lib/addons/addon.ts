import { toYaml } from "../bootstrap/yaml";
import { NODE_FILES } from "../bootstrap/node-files";
import { NodeFile } from "../bootstrap/user-data";

/** A file the node downloads, checked against its sha256 before anything uses it. */
export interface AddonDownload {
  readonly url: string;
  readonly sha256: string;
  /** File name inside the add-on's folder. */
  readonly file: string;
}

/**
 * One cluster add-on as the node applies it: a kustomization folder with
 * rendered files and pinned downloads. `order` sorts the folders.
 */
export interface Addon {
  readonly name: string;
  readonly version: string;
  readonly order: number;
  readonly files: Record<string, string>;
  readonly downloads: AddonDownload[];
}

export function kustomization(resources: string[], patches: string[] = []): string {
  return toYaml({
    apiVersion: "kustomize.config.k8s.io/v1beta1",
    kind: "Kustomization",
    resources,
    ...(patches.length ? { patches: patches.map((path) => ({ path })) } : {}),
  });
}

export function addonFolder(addon: Addon): string {
  return `${NODE_FILES.addonsDir}/${String(addon.order).padStart(2, "0")}-${addon.name}`;
}

/** The add-ons as files under ADDONS_DIR, the layout apply-addons.sh reads. */
export function addonFiles(addons: Addon[]): NodeFile[] {
  return addons.flatMap((addon) => {
    const folder = addonFolder(addon);
    const sources = addon.downloads.map((d) => `${d.sha256} ${d.url} ${d.file}\n`).join("");
    return [
      ...Object.entries(addon.files).map(([name, content]) => ({ path: `${folder}/${name}`, content })),
      ...(sources ? [{ path: `${folder}/sources.tsv`, content: `# sha256 url file\n${sources}` }] : []),
    ];
  });
}
