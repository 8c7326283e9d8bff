import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { KUBERNETES_RELEASES } from "../../lib/versions";
import { tempDir } from "../helpers/plan";

const HERE = __dirname;

describe("provisioning for the test suite", () => {
  it("builds the tested patch of every supported minor, as lib/versions.ts lists them", () => {
    const versions = execFileSync(join(HERE, "kubernetes-versions.sh"), { encoding: "utf8" }).split("\n").filter(Boolean);
    expect(versions).toEqual(Object.values(KUBERNETES_RELEASES).map((r) => `v${r.testedPatch}`));
  });

  it("has raised the kernel's inotify instances per user, which many lab nodes at once exhaust", () => {
    // At 128 (the default), containerd starts without its CRI plugin once the lab's kubelets and apiservers hold the rest.
    expect(Number(readFileSync("/proc/sys/fs/inotify/max_user_instances", "utf8"))).toBeGreaterThanOrEqual(1024);
  });

  it("needs no Go when every version is cached", () => {
    // The real cache, seen through another directory, and a PATH without Go.
    const cache = tempDir("cached");
    const real = execFileSync("bash", ["-c", 'echo "${KUBEADM_AWS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdktf-kubeadm-aws}"'], { encoding: "utf8" }).trim();
    for (const dir of ["kubernetes", "images", "python", "jq"]) symlinkSync(join(real, dir), join(cache, dir));
    const path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    expect(spawnSync("bash", ["--norc", "-c", "command -v go"], { env: { PATH: path } }).status).not.toBe(0);
    const result = spawnSync("bash", [join(HERE, "provision.sh")], { env: { ...process.env, PATH: path, KUBEADM_AWS_CACHE: cache }, encoding: "utf8", timeout: 30_000 });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  // Each case stops at once with one line that says what is missing and how to get it.
  it.each([
    ["without root", ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash", join(HERE, "provision.sh")], {}, /need root: run sudo npm test$/],
    [
      "without Go, when a build is needed",
      ["bash", join(HERE, "provision.sh")],
      { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", KUBEADM_AWS_CACHE: tempDir("empty-cache") },
      /^provision: Go is not installed; .*install Go/,
    ],
    [
      "without a provider mirror",
      // The machine's mirror hidden in a private mount namespace.
      ["unshare", "--mount", "bash", "-c", `mount -t tmpfs tmpfs /opt/tf-plugins && exec bash ${join(HERE, "provision.sh")}`],
      { HOME: tempDir("home"), TF_PROVIDER_MIRROR: "" },
      /^provision: no filesystem mirror of the hashicorp\/aws provider found; set TF_PROVIDER_MIRROR/,
    ],
  ] as Array<[string, string[], NodeJS.ProcessEnv, RegExp]>)("stops with one clear line %s", (_, command, env, message) => {
    const result = spawnSync(command[0], command.slice(1), { env: { ...process.env, ...env }, encoding: "utf8", timeout: 10_000 });
    const lines = result.stderr.split("\n").filter(Boolean);
    expect(result.status).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
  });
});
