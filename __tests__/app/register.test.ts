import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/plan";

const ROOT = join(__dirname, "../..");

/** Runs a TypeScript file through the app's loader (cdktf.json's "app"), from the project, as cdktf does. */
function runWithLoader(source: string) {
  const file = join(tempDir("register"), "app.ts");
  writeFileSync(file, source);
  return spawnSync(process.execPath, ["--require", "./lib/app/register.js", file], { cwd: ROOT, encoding: "utf8" });
}

describe("the app's loader, lib/app/register.js", () => {
  it("is the loader cdktf.json runs the app with", () => {
    expect(require(join(ROOT, "cdktf.json")).app).toBe("node --require ./lib/app/register.js main.ts");
  });

  it("points a thrown error at its TypeScript line, which types removed by the transpiler would move", () => {
    const result = runWithLoader(
      ["interface Props {", "  readonly name: string;", "}", "type Name = Props['name'];", "const fail = (name: Name): never => {", "  throw new Error(`bad ${name}`);", "};", "fail('x');", ""].join("\n"),
    );
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/Error: bad x\n\s+at fail \(\S+app\.ts:6:\d+\)/);
  });

  it("formats the traces cdktf captures into plain objects, frame by frame, as V8 would", () => {
    const result = runWithLoader(
      [
        "function captured(): string {",
        "  const holder = { stack: '' };",
        "  Error.captureStackTrace(holder);",
        "  return holder.stack;",
        "}",
        "console.log(JSON.stringify(captured().split('\\n').slice(0, 2)));",
        "",
      ].join("\n"),
    );
    expect(result.stderr).toBe("");
    const [first, frame] = JSON.parse(result.stdout) as string[];
    expect(first).toBe("[object Object]");
    expect(frame).toMatch(/^ {4}at captured \(\S+app\.ts:\d+:\d+\)$/);
  });
});
