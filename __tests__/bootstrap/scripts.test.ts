import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { SCRIPTS_DIR } from "../../lib/bootstrap/user-data";

const FAKES = join(__dirname, "fakes");

describe("node scripts", () => {
  it("are shellcheck clean, with sourced files followed", () => {
    const scripts = readdirSync(SCRIPTS_DIR).filter((f) => f.endsWith(".sh"));
    expect(scripts.length).toBeGreaterThan(4);
    const result = spawnSync("shellcheck", ["--external-sources", "--severity=style", ...scripts], { cwd: SCRIPTS_DIR, encoding: "utf8" });
    expect(result.error).toBeUndefined();
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("sandbox fakes are shellcheck clean too", () => {
    const fakes = ["aws-cli", "kubeadm", "kubectl", "curl", "crictl", "ctr", "journalctl", "recorder", "snap"];
    const result = spawnSync("shellcheck", fakes, { cwd: FAKES, encoding: "utf8" });
    expect(result.stdout + result.stderr).toBe("");
  });
});

describe("log shipper", () => {
  it("compiles with the python3 Ubuntu ships (the one its unit runs)", () => {
    const result = spawnSync("/usr/bin/python3", ["-m", "py_compile", join(SCRIPTS_DIR, "log-shipper.py")], { encoding: "utf8" });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });
});
