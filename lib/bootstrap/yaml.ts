import { stringify } from "yaml";

/**
 * YAML as Kubernetes tools read it: no anchors or aliases for repeated values
 * (some decoders reject them), no line folding.
 */
export function toYaml(value: unknown): string {
  return stringify(value, { aliasDuplicateObjects: false, lineWidth: 0 });
}

/** A multi-document YAML stream. */
export function toYamlDocuments(documents: unknown[]): string {
  return documents.map(toYaml).join("---\n");
}
