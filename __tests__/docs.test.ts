import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ENVIRONMENT_VARIABLES } from "../lib/app/config";
import { addonSpec } from "./helpers/control-plane-fixture";

const read = (file: string) => readFileSync(join(__dirname, "..", file), "utf8");

describe("documentation", () => {
  it.each(["README.md", "help"])("%s documents every configuration variable with its default", (file) => {
    const lines = read(file).split("\n");
    for (const variable of ENVIRONMENT_VARIABLES) {
      // A table row (README.md) or an indented entry (help) that starts with the variable; defaults may wrap once.
      const index = lines.findIndex((line) => line.replace(/^[|\s`]+/, "").split(/[`\s]/)[0] === variable.name);
      expect({ variable: variable.name, found: index >= 0 }).toEqual({ variable: variable.name, found: true });
      expect(lines.slice(index, index + 2).join(" ")).toContain(variable.default);
    }
  });

  it("README.md gives the test command that .ci/run runs", () => {
    expect(read("README.md")).toContain("npm test ");
    expect(read(".ci/run").trim().split("\n").pop()).toBe("npm test");
  });

  it("npm test runs the fast layer, then the slow one, split by one expression, and README's fast-layer command is the script", () => {
    const scripts = JSON.parse(read("package.json")).scripts as Record<string, string>;
    expect(scripts.test).toMatch(/ && npm run test:fast && npm run test:slow && jest --ci fresh-machine$/);
    const slow = /--testPathPattern='([^']+)'/.exec(scripts["test:slow"])?.[1];
    expect(slow).toBeDefined();
    // Whatever is not slow is fast, so a new test file always runs in one of the two.
    expect(scripts["test:fast"]).toContain(`--testPathIgnorePatterns='fresh-machine|${slow}'`);
    expect(scripts["test:slow"]).toContain("--testPathIgnorePatterns=fresh-machine ");
    expect(read("README.md")).toContain("npm run test:fast");
  });

  it("README.md lists every add-on with its version", () => {
    const rows = read("README.md").split("\n").filter((line) => line.startsWith("| `"));
    const addons = [...JSON.parse(addonSpec()).addons, ...JSON.parse(addonSpec({ addons: { cni: "cilium" } })).addons];
    for (const { name, version } of addons) {
      const row = rows.find((r) => r.startsWith(`| \`${name}\` |`));
      expect({ name, row: row?.split(" | ")[1] }).toEqual({ name, row: expect.stringContaining(version) });
    }
  });
});
