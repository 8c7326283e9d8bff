import { createHash } from "node:crypto";
import { PLACEHOLDER_ACCOUNT_ID } from "./fake-aws";

/**
 * A Terraform state as if the base of a pull request had been applied, built from the base's offline plan. Planning
 * the working tree against it lets Terraform and the provider decide what the change does: which resources are
 * updated in place, which are replaced, and which attributes change. Values the base plan knew are kept as planned;
 * values known only after apply (ids, ARNs) get placeholders of their schema type, derived from their resource's address
 * and attribute, so a reference that still points at the same resource yields the same value on both sides.
 */

/** The parts of `terraform show -json` a seeded state is built from. */
export interface PlannedChanges {
  readonly terraform_version?: string;
  readonly resource_changes?: Array<{
    readonly address: string;
    readonly mode: string;
    readonly type: string;
    readonly name: string;
    readonly index?: string | number;
    readonly provider_name: string;
    readonly change: { readonly actions: string[]; readonly after?: unknown; readonly after_unknown?: unknown; readonly after_sensitive?: unknown };
  }>;
  readonly configuration?: { readonly root_module?: { readonly resources?: Array<{ readonly address: string; readonly provider_config_key?: string }> } };
}

/** The parts of `terraform providers schema -json` that give each attribute's type. */
export interface ProviderSchemas {
  readonly provider_schemas: Record<string, { readonly resource_schemas: Record<string, { readonly version: number; readonly block: SchemaBlock }> }>;
}

interface SchemaBlock {
  readonly attributes?: Record<string, { readonly type?: CtyType; readonly optional?: boolean; readonly computed?: boolean; readonly nested_type?: { readonly attributes: SchemaBlock["attributes"]; readonly nesting_mode: string } }>;
  readonly block_types?: Record<string, { readonly nesting_mode: string; readonly block: SchemaBlock }>;
}

/** A cty type as Terraform's JSON writes it: "string", ["list", "string"], ["object", { ... }]. */
type CtyType = string | [string, unknown];

/** Where in the schema a value sits: an attribute of a type (optionalComputed: the provider may leave it unset), or a block. */
type SchemaNode = { readonly type: CtyType; readonly optionalComputed?: boolean } | { readonly block: SchemaBlock } | undefined;

export interface TerraformState {
  readonly version: 4;
  readonly terraform_version: string;
  readonly serial: number;
  readonly lineage: string;
  readonly outputs: Record<string, never>;
  readonly resources: Array<Record<string, unknown>>;
}

/**
 * `previous`: the state the plan was made against, when seeding again from a plan of the base against its own seeded
 * state. Values unknown in that plan (an update marks some computed values unknown) keep their previous value, so the
 * seeding settles in a few rounds.
 */
export function seededState(plan: PlannedChanges, schemas: ProviderSchemas, previous?: TerraformState): TerraformState {
  const previousAttributes = new Map<string, unknown>();
  for (const resource of previous?.resources ?? []) {
    for (const instance of resource.instances as Array<{ index_key?: string | number; attributes: unknown }>) {
      previousAttributes.set(instanceAddress(resource.type as string, resource.name as string, instance.index_key), instance.attributes);
    }
  }
  const providerKeys = new Map((plan.configuration?.root_module?.resources ?? []).map((r) => [r.address, r.provider_config_key ?? ""]));
  const resources = new Map<string, Record<string, unknown> & { instances: unknown[] }>();
  for (const change of plan.resource_changes ?? []) {
    const deleted = change.change.actions.includes("delete") && !change.change.actions.includes("create");
    if (change.mode !== "managed" || deleted) continue;
    const schema = schemas.provider_schemas[change.provider_name]?.resource_schemas[change.type];
    if (!schema) throw new Error(`no schema for ${change.type} in ${change.provider_name}: cannot seed the base state`);
    const address = `${change.type}.${change.name}`;
    const resource = resources.get(address) ?? {
      mode: "managed",
      type: change.type,
      name: change.name,
      provider: providerAddress(change.provider_name, providerKeys.get(address)),
      instances: [],
    };
    resource.instances.push({
      ...(change.index === undefined ? {} : { index_key: change.index }),
      schema_version: schema.version,
      attributes: known(change.change.after, change.change.after_unknown, { block: schema.block }, change.address, previousAttributes.get(change.address)),
      // As the configuration marks them: a state that differs only in marks would plan an update.
      sensitive_attributes: sensitivePaths(change.change.after_sensitive, { block: schema.block }),
    });
    resources.set(address, resource);
  }
  return { version: 4, terraform_version: plan.terraform_version ?? "1.11.0", serial: 1, lineage: "offline-plan-base", outputs: {}, resources: [...resources.values()] };
}

/**
 * The paths a plan's `after_sensitive` marks, as a state's `sensitive_attributes` lists them: a map's key is an
 * index step with a string, an attribute's name a get_attr step.
 */
function sensitivePaths(marks: unknown, node: SchemaNode, steps: object[] = []): object[][] {
  if (marks === true) return [steps];
  if (Array.isArray(marks)) {
    return marks.flatMap((inner, i) => sensitivePaths(inner, element(node), [...steps, { type: "index", value: { value: i, type: "number" } }]));
  }
  if (marks && typeof marks === "object") {
    const isMap = node !== undefined && "type" in node && Array.isArray(node.type) && node.type[0] === "map";
    return Object.entries(marks).flatMap(([key, inner]) =>
      sensitivePaths(inner, child(node, key), [...steps, isMap ? { type: "index", value: { value: key, type: "string" } } : { type: "get_attr", value: key }]),
    );
  }
  return [];
}

/** `provider["registry.terraform.io/hashicorp/aws"]`, with `.alias` for an aliased provider ("aws.peer"). */
function providerAddress(providerName: string, configKey = ""): string {
  const alias = configKey.includes(".") ? configKey.slice(configKey.indexOf(".") + 1) : "";
  return `provider[${JSON.stringify(providerName)}]${alias ? `.${alias}` : ""}`;
}

/** The planned value with every unknown part replaced by its previous value, or else a placeholder of its type. */
function known(value: unknown, unknown: unknown, node: SchemaNode, path: string, previous: unknown): unknown {
  if (unknown === true) return previous ?? placeholder(node, path);
  if (Array.isArray(unknown) && Array.isArray(value)) {
    return value.map((item, i) => known(item, unknown[i], element(node), `${path}.${i}`, (previous as unknown[] | undefined)?.[i]));
  }
  if (unknown && typeof unknown === "object" && !Array.isArray(unknown)) {
    const object = { ...((value as Record<string, unknown> | null) ?? {}) };
    for (const [key, inner] of Object.entries(unknown as Record<string, unknown>)) {
      object[key] = known(object[key], inner, child(node, key), `${path}.${key}`, (previous as Record<string, unknown> | null | undefined)?.[key]);
    }
    return object;
  }
  return value;
}

/** The schema of one element of a list, set or map, or of a repeated block. */
function element(node: SchemaNode): SchemaNode {
  if (!node) return undefined;
  if ("block" in node) return node;
  const [kind, inner] = Array.isArray(node.type) ? node.type : [node.type, undefined];
  return ["list", "set", "map"].includes(kind) ? { type: inner as CtyType } : undefined;
}

/** The schema of a named attribute or nested block of a block or object. */
function child(node: SchemaNode, key: string): SchemaNode {
  if (!node) return undefined;
  if ("block" in node) {
    const attribute = node.block.attributes?.[key];
    if (attribute?.type !== undefined) return { type: attribute.type, optionalComputed: attribute.optional && attribute.computed };
    if (attribute?.nested_type) return { block: { attributes: attribute.nested_type.attributes } };
    const nested = node.block.block_types?.[key];
    return nested ? { block: nested.block } : undefined;
  }
  if (Array.isArray(node.type) && node.type[0] === "object") return { type: (node.type[1] as Record<string, CtyType>)[key] };
  if (Array.isArray(node.type) && node.type[0] === "map") return { type: node.type[1] as CtyType };
  return undefined;
}

/**
 * A placeholder string is "offline" and a digest of the resource address and attribute: alphanumeric and short, for
 * the provider's checks of arguments that reference it (a zone id has at most 32 characters). EC2 ids start with their
 * kind's prefix and ARNs are ARN-shaped, because the provider validates those too.
 */
const PLACEHOLDER = /offline([0-9a-f]{12})/;
const EC2_ID_PREFIXES: Record<string, string> = {
  aws_default_security_group: "sg-",
  aws_eip: "eipalloc-",
  aws_flow_log: "fl-",
  aws_internet_gateway: "igw-",
  aws_launch_template: "lt-",
  aws_nat_gateway: "nat-",
  aws_route_table: "rtb-",
  aws_security_group: "sg-",
  aws_subnet: "subnet-",
  aws_vpc: "vpc-",
  aws_vpc_endpoint: "vpce-",
};
const EC2_ID_ATTRIBUTES: Array<[RegExp, string]> = [
  [/security_group_id$/, "sg-"],
  [/route_table_id$/, "rtb-"],
  [/network_acl_id$/, "acl-"],
  [/^vpc_id$/, "vpc-"],
  [/^subnet_id$/, "subnet-"],
];

function placeholderDigest(path: string): string {
  return createHash("sha256").update(path).digest("hex").slice(0, 12);
}

/** Where placeholders come from: digest to the resource and attribute whose AWS-assigned value they stand for. */
export type PlaceholderNames = Map<string, { readonly address: string; readonly attribute: string }>;

/** The origins of every placeholder a state can hold: each of its attribute paths, by digest. */
export function placeholderNames(state: TerraformState): PlaceholderNames {
  const names: PlaceholderNames = new Map();
  const visit = (value: unknown, address: string, steps: string[]) => {
    if (steps.length) names.set(placeholderDigest(`${address}.${steps.join(".")}`), { address, attribute: steps.join(".") });
    if (value && typeof value === "object") for (const [key, inner] of Object.entries(value)) visit(inner, address, [...steps, key]);
  };
  for (const resource of state.resources) {
    for (const instance of resource.instances as Array<{ index_key?: string | number; attributes: unknown }>) {
      visit(instance.attributes, instanceAddress(resource.type as string, resource.name as string, instance.index_key), []);
    }
  }
  return names;
}

/**
 * undefined when the value is no placeholder; else the resource and attribute it stands for, or null when `names`
 * does not know it.
 */
export function placeholderOrigin(value: unknown, names: PlaceholderNames): { address: string; attribute: string } | null | undefined {
  const digest = typeof value === "string" ? PLACEHOLDER.exec(value)?.[1] : undefined;
  return digest === undefined ? undefined : (names.get(digest) ?? null);
}

function instanceAddress(type: string, name: string, index?: string | number): string {
  return `${type}.${name}${index === undefined ? "" : `[${JSON.stringify(index)}]`}`;
}

/**
 * A value of the node's type for something known only after apply. An optional attribute the configuration leaves to
 * the provider gets its type's zero value, which the provider reads as unset, as in a resource that does not use the
 * feature: a name there can trip the provider's checks (an SNS topic's FIFO throughput scope on a standard topic).
 * Every other one gets a name, the resource's id included (the SDK lists it as optional).
 */
function placeholder(node: SchemaNode, path: string): unknown {
  if (!node || "block" in node) return null;
  const kind = Array.isArray(node.type) ? node.type[0] : node.type;
  const attribute = path.split(".").pop()!;
  if (node.optionalComputed && attribute !== "id") return zeroValue(kind);
  switch (kind) {
    case "string": {
      const name = `offline${placeholderDigest(path)}`;
      if (attribute === "arn" || attribute.endsWith("_arn")) return `arn:aws:offline:eu-west-1:${PLACEHOLDER_ACCOUNT_ID}:${name}`;
      const type = path.split(".")[0];
      const prefix = attribute === "id" ? EC2_ID_PREFIXES[type] : EC2_ID_ATTRIBUTES.find(([pattern]) => pattern.test(attribute))?.[1];
      return `${prefix ?? ""}${name}`;
    }
    case "number":
      return 1;
    case "bool":
      return false;
    case "list":
    case "set":
      return [];
    case "map":
    case "object":
      return kind === "map" ? {} : null;
    default:
      return null;
  }
}

function zeroValue(kind: string): unknown {
  const zeros: Record<string, unknown> = { string: "", number: 0, bool: false, list: [], set: [], map: {} };
  return kind in zeros ? zeros[kind] : null;
}
