import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import globalTeardown from "./global-teardown";
import { tempDir } from "./helpers/plan";

/** The end of a jest run: its temporary directories go, but never through something mounted under one. */
describe("the test run's cleanup", () => {
  const realRun = process.env.KUBEADM_AWS_TEST_RUN;
  afterEach(() => {
    process.env.KUBEADM_AWS_TEST_RUN = realRun;
  });

  /** A run of its own, as global-setup makes one, with tempDir recording into it. */
  function fakeRun(): string {
    const run = mkdtempSync(join(tmpdir(), "kubeadm-aws-test-run-"));
    writeFileSync(join(run, "temp-dirs"), "");
    process.env.KUBEADM_AWS_TEST_RUN = run;
    return run;
  }

  it("removes every directory tempDir made, and the run's own", () => {
    const run = fakeRun();
    const made = [tempDir("cleanup"), tempDir("cleanup")];
    expect(readFileSync(join(run, "temp-dirs"), "utf8").trim().split("\n")).toEqual(made);
    writeFileSync(join(made[0], "file"), "x");
    globalTeardown();
    expect(made.concat(run).filter((dir) => existsSync(dir))).toEqual([]);
  });

  it("keeps, and names, a directory with a mount under it, leaving the mounted files alone", () => {
    const outside = tempDir("cleanup-mounted-source");
    writeFileSync(join(outside, "precious"), "keep me");
    const run = fakeRun();
    const dir = tempDir("cleanup");
    mkdirSync(join(dir, "mnt"));
    execFileSync("mount", ["--bind", outside, join(dir, "mnt")]);
    const written: string[] = [];
    const write = jest.spyOn(process.stdout, "write").mockImplementation((chunk) => (written.push(String(chunk)), true));
    try {
      globalTeardown();
    } finally {
      write.mockRestore();
      execFileSync("umount", [join(dir, "mnt")]);
    }
    expect(readFileSync(join(outside, "precious"), "utf8")).toBe("keep me");
    expect(existsSync(dir)).toBe(true);
    expect(written.join("")).toContain(`kept ${dir}: ${join(dir, "mnt")} is mounted under it`);
    expect(existsSync(run)).toBe(false);
    rmSync(dir, { recursive: true });
  });
});
