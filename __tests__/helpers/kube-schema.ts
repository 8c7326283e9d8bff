import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

type TypeRef =
  | { kind: "string" | "bool" | "int" | "float" | "any" | "duration" | "quantity" }
  | { kind: "object"; type: string }
  | { kind: "list" | "map"; of: TypeRef };

interface Schema {
  types: Record<string, { fields: Record<string, TypeRef> }>;
  roots: Record<string, string>;
}

/** Field lists of the upstream Kubernetes config types (see the fixture's source note). */
const SCHEMA = JSON.parse(readFileSync(join(__dirname, "../fixtures/kubernetes-config-schema.json"), "utf8")) as Schema;

/**
 * Checks a YAML stream of kubeadm, kubelet and kube-proxy documents against
 * the upstream types, as a strict decoder would: every field must exist, with
 * the right shape. Returns one message per problem, with its path.
 */
export function validateKubernetesConfig(yamlText: string): string[] {
  const problems: string[] = [];
  for (const doc of parseAllDocuments(yamlText)) {
    const value = doc.toJS() as Record<string, unknown>;
    const root = SCHEMA.roots[`${value.apiVersion}/${value.kind}`];
    if (!root) {
      problems.push(`unknown document type ${value.apiVersion}/${value.kind}`);
      continue;
    }
    check(value, { kind: "object", type: root }, String(value.kind), problems);
  }
  return problems;
}

function check(value: unknown, ref: TypeRef, path: string, problems: string[]): void {
  const fail = (what: string): void => void problems.push(`${path}: ${what}, got ${JSON.stringify(value)}`);
  switch (ref.kind) {
    case "any":
      return;
    case "string":
    case "duration":
      if (typeof value !== "string") fail(`expected a ${ref.kind}`);
      if (ref.kind === "duration" && typeof value === "string" && !/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(value)) fail("expected a Go duration");
      return;
    case "quantity":
      if (typeof value !== "string" && typeof value !== "number") fail("expected a quantity");
      return;
    case "bool":
      if (typeof value !== "boolean") fail("expected a boolean");
      return;
    case "int":
      if (!Number.isInteger(value)) fail("expected an integer");
      return;
    case "float":
      if (typeof value !== "number") fail("expected a number");
      return;
    case "list":
      if (!Array.isArray(value)) return fail("expected a list");
      value.forEach((item, i) => check(item, ref.of, `${path}[${i}]`, problems));
      return;
    case "map":
      if (typeof value !== "object" || value === null || Array.isArray(value)) return fail("expected a map");
      for (const [key, item] of Object.entries(value)) check(item, ref.of, `${path}.${key}`, problems);
      return;
    case "object": {
      if (typeof value !== "object" || value === null || Array.isArray(value)) return fail(`expected a ${ref.type}`);
      const fields = SCHEMA.types[ref.type]?.fields;
      if (!fields) return fail(`schema has no type ${ref.type}`);
      for (const [key, item] of Object.entries(value)) {
        if (!(key in fields)) void problems.push(`${path}.${key}: unknown field of ${ref.type}`);
        else check(item, fields[key], `${path}.${key}`, problems);
      }
    }
  }
}
