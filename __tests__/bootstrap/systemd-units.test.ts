import { spawnSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NODE_FILES } from "../../lib/bootstrap/node-files";
import { SystemdUnit, bootstrapService } from "../../lib/bootstrap/systemd";
import { USER_DATA_SCRIPTS } from "../../lib/bootstrap/user-data";
import { controlPlaneNode } from "../../lib/control-plane/control-plane-user-data";
import { workerNode } from "../../lib/node-group/worker-user-data";
import { controlPlaneBootstrap } from "../helpers/control-plane-fixture";
import { tempDir } from "../helpers/plan";
import { workerBootstrap } from "../helpers/worker-fixture";

/**
 * The rendered units, installed as `systemctl enable` installs them, checked
 * by systemd's own `systemd-analyze verify` against the host's units
 * (Debian's systemd and cloud-init, as on an Ubuntu node): no unknown keys,
 * and no ordering cycle in the boot transaction.
 */

const NODES = {
  "control-plane": controlPlaneNode(controlPlaneBootstrap()),
  worker: workerNode(workerBootstrap()),
  // Kubernetes 1.36 nodes bring their own containerd.service (containerd 2 from its release archive).
  "worker of Kubernetes 1.36": workerNode(workerBootstrap({}, "1.36")),
};

/** A unit directory with the units and their [Install] links, plus what cloud-init's generator links on EC2. */
function installed(units: SystemdUnit[]): string {
  const dir = tempDir("units");
  for (const unit of units) {
    writeFileSync(join(dir, unit.name), unit.content);
    for (const target of unit.content.match(/^WantedBy=(.+)$/gm) ?? []) {
      const wants = join(dir, `${target.slice("WantedBy=".length)}.wants`);
      mkdirSync(wants, { recursive: true });
      symlinkSync(join("..", unit.name), join(wants, unit.name));
    }
  }
  // cloud-init-generator enables cloud-init.target when a datasource is found, as on every EC2 boot.
  mkdirSync(join(dir, "multi-user.target.wants"), { recursive: true });
  symlinkSync("/lib/systemd/system/cloud-init.target", join(dir, "multi-user.target.wants/cloud-init.target"));
  return dir;
}

/**
 * What systemd-analyze says about booting into multi-user.target with these
 * units, and about each unit. Our scripts are not on this host: a line saying
 * one is missing is left out only when the node really gets it, executable,
 * from its user data, its bundle or its containerd install (`delivered`).
 */
function verify(units: SystemdUnit[], delivered: string[] = []): string {
  const dir = installed(units);
  const result = spawnSync("systemd-analyze", ["verify", "--man=no", "multi-user.target", "timers.target", ...units.map((u) => u.name)], {
    env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` },
    encoding: "utf8",
  });
  if (result.error) throw result.error;
  return `${result.stdout}${result.stderr}`
    .split("\n")
    .filter((line) => !delivered.some((path) => line.endsWith(`: Command ${path} is not executable: No such file or directory`)))
    .join("\n")
    .trim();
}

describe("systemd units on a node, verified by systemd-analyze", () => {
  it.each(Object.entries(NODES))("%s: every unit is valid and the boot has no ordering cycle", (_, node) => {
    // Delivered with mode 0755: the user data's scripts, the bundle's (renderBundle), and a release's containerd (install_containerd).
    const delivered = [...[...USER_DATA_SCRIPTS, ...node.scripts].map((script) => `${NODE_FILES.scriptsDir}/${script}`), "/usr/local/bin/containerd"];
    expect(verify([bootstrapService("node-bootstrap.sh"), ...node.units], delivered)).toBe("");
  });

  it("finds the cycle that made systemd drop the bootstrap on every reboot (wanted by multi-user.target, after cloud-final)", () => {
    const bootstrap = bootstrapService("node-bootstrap.sh");
    const old = { ...bootstrap, content: bootstrap.content.replace("WantedBy=cloud-init.target", "WantedBy=multi-user.target") };
    // Where systemd enters the cycle, and which job it deletes to break it, vary from run to run; the bootstrap is always in it.
    const output = verify([old]);
    expect(output).toMatch(/Found ordering cycle on /);
    expect(output).toMatch(/Found (ordering cycle|dependency) on kubeadm-aws-bootstrap\.service\/start/);
    expect(output).toMatch(/deleted to break ordering cycle|unfixable cyclic ordering dependency/);
  });

  it("reports an unknown key (the check can fail on syntax too)", () => {
    const bootstrap = bootstrapService("node-bootstrap.sh");
    const typo = { ...bootstrap, content: bootstrap.content.replace("RemainAfterExit=", "RemainAfterExt=") };
    expect(verify([typo])).toMatch(/Unknown key 'RemainAfterExt'/);
  });
});
