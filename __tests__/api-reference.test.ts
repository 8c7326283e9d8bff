import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { tempDir } from "./helpers/plan";

/**
 * The API reference in docs/api (TypeDoc to Markdown, from the TSDoc; `npm run docs` writes it) matches the code, and
 * every public prop has a description, and a `@default` when it is optional. Public props: the properties of the
 * exported `*Props` and `*Options` interfaces, and of the object types written inline in them.
 */

const ROOT = join(__dirname, "..");

interface Comment {
  summary?: Array<{ text: string }>;
  blockTags?: Array<{ tag: string }>;
}
interface Reflection {
  name: string;
  kind: number;
  flags?: { isOptional?: boolean };
  comment?: Comment;
  children?: Reflection[];
  sources?: Array<{ fileName: string; line: number }>;
  type?: ReflectionType;
}
interface ReflectionType {
  type: string;
  declaration?: { children?: Reflection[] };
  types?: ReflectionType[];
  elementType?: ReflectionType;
}

// TypeDoc's ReflectionKind values.
const INTERFACE = 256;
const PROPERTY = 1024;

/** Object types written inline in a property's type, also inside unions, intersections and arrays. */
function inlineMembers(type: ReflectionType | undefined): Reflection[] {
  if (!type) return [];
  if (type.type === "reflection") return type.declaration?.children ?? [];
  return [...(type.types ?? []).flatMap(inlineMembers), ...inlineMembers(type.elementType)];
}

function undocumentedProps(project: Reflection): string[] {
  const findings: string[] = [];
  const summary = (c?: Comment) => (c?.summary ?? []).map((p) => p.text).join("").trim();
  const hasDefault = (c?: Comment) => (c?.blockTags ?? []).some((t) => t.tag === "@default" || t.tag === "@defaultValue");
  const walk = (owner: string, members: Reflection[] | undefined) => {
    for (const member of members ?? []) {
      if (member.kind !== PROPERTY) continue;
      const name = `${owner}.${member.name}`;
      if (!summary(member.comment)) findings.push(`${name}: no description`);
      if (member.flags?.isOptional && !hasDefault(member.comment)) findings.push(`${name}: optional without @default`);
      walk(name, inlineMembers(member.type));
    }
  };
  for (const r of project.children ?? []) if (r.kind === INTERFACE && /(Props|Options)$/.test(r.name)) walk(r.name, r.children);
  return findings;
}

function filesUnder(dir: string): Record<string, string> {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  return Object.fromEntries(files.map((e) => [relative(dir, join(e.parentPath, e.name)), readFileSync(join(e.parentPath, e.name), "utf8")]));
}

describe("the API reference", () => {
  let generated: string;
  let project: Reflection;

  beforeAll(() => {
    const out = tempDir("api-reference");
    generated = join(out, "api");
    execFileSync(process.execPath, [join(ROOT, "node_modules", "typedoc", "bin", "typedoc"), "--options", "docs/typedoc.json", "--out", generated, "--json", join(out, "api.json")], {
      cwd: ROOT,
      stdio: "pipe",
    });
    project = JSON.parse(readFileSync(join(out, "api.json"), "utf8"));
  }, 120_000);

  it("in docs/api is what the code's TSDoc generates now (npm run docs rewrites it)", () => {
    const want = filesUnder(generated);
    const have = filesUnder(join(ROOT, "docs", "api"));
    const stale = [...new Set([...Object.keys(want), ...Object.keys(have)])].filter((f) => want[f] !== have[f]).sort();
    expect({ stale, fix: stale.length ? "run npm run docs and commit docs/api" : "" }).toEqual({ stale: [], fix: "" });
  });

  it("describes every public prop, with a @default for each optional one", () => {
    expect(undocumentedProps(project)).toEqual([]);
  });

  it("finds a prop without a description or a @default, also in an inline type behind an intersection", () => {
    const prop = (name: string, comment?: Comment, type?: ReflectionType): Reflection => ({ name, kind: PROPERTY, flags: { isOptional: true }, comment, type });
    const inline = { type: "intersection", types: [{ type: "reference" }, { type: "reflection", declaration: { children: [prop("enabled")] } }] };
    const fake: Reflection = {
      name: "project",
      kind: 1,
      children: [
        {
          name: "ExampleOptions",
          kind: INTERFACE,
          children: [prop("size", { summary: [{ text: "The size." }] }), prop("mode", { summary: [{ text: "The mode." }], blockTags: [{ tag: "@default" }] }, inline)],
        },
        { name: "ExampleSettings", kind: INTERFACE, children: [prop("internal")] },
      ],
    };
    expect(undocumentedProps(fake)).toEqual(["ExampleOptions.size: optional without @default", "ExampleOptions.mode.enabled: no description", "ExampleOptions.mode.enabled: optional without @default"]);
  });
});
