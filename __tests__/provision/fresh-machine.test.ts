import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { run } from "../helpers/kubernetes/lab";
import { tempDir } from "../helpers/plan";

/**
 * README's two commands, on a fresh machine: an overlay of this machine's /
 * with the Debian packages the tests need purged, and a clean clone of this
 * working tree (fresh-machine.sh). The inner `npm test` runs every other test
 * file again; there, this file only checks that it is the inner run.
 */

const PROJECT = join(__dirname, "../..");

if (process.env.KUBEADM_AWS_FRESH_MACHINE === "inner") {
  it("is the run inside the fresh-machine test, which starts no other", () => {
    expect(existsSync("/.kubeadm-aws-fresh-machine")).toBe(true);
  });
} else {
  it("passes README's set-up and test commands with the Debian packages purged, on a clean clone", async () => {
    const work = tempDir("fresh-machine");
    // The caller's PATH, less this project's node_modules: a login shell's PATH on this machine kind.
    const path = (process.env.PATH ?? "").split(":").filter((p) => !p.includes("node_modules")).join(":");
    try {
      const result = await run(["bash", join(__dirname, "fresh-machine.sh"), PROJECT, work], { env: { ...process.env, PATH: path }, timeoutMs: 45 * 60_000 });
      const summary = /^Tests: .*$/m.exec(result.output)?.[0];
      // On failure, the inner run's failing suites and tests first, each test with the start of its error (a CI report
      // may keep only the start), then the run's tail.
      const lines = result.output.split("\n");
      const failing = lines.flatMap((line, i) => (/^FAIL /.test(line) ? [line] : /^\s*● (?!Console)/.test(line) ? lines.slice(i, i + 30) : []));
      expect({ code: result.code, summary, failing, tail: result.code ? result.output.split("\n").slice(-80).join("\n") : "" }).toEqual({
        code: 0,
        summary: expect.stringMatching(/^Tests: +\d+ passed, \d+ total$/),
        failing: [],
        tail: "",
      });
      // It started from a machine without the packages, and the test command installed them.
      const purged = /^fresh-machine: purged (.*)$/m.exec(result.output)?.[1].split(" ") ?? [];
      expect(purged).toEqual(expect.arrayContaining(["shellcheck", "cloud-init", "etcd-server", "etcd-client", "python3-yaml", "containerd", "runc", "jq", "autoconf", "automake", "libtool", "libonig-dev"]));
      expect(result.output).toMatch(/provision: installing Debian packages: .*shellcheck/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 50 * 60_000);
}
