import { NODE_FILES } from "./node-files";
import { BOOTSTRAP_TIMEOUT_MINUTES } from "./node-roles";

/** systemd units of the node: the bootstrap service and the control plane's timers. */

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin";

export interface SystemdUnit {
  readonly name: string;
  readonly content: string;
}

function unit(sections: Record<string, Record<string, string | string[]>>): string {
  return Object.entries(sections)
    .map(([section, entries]) => {
      const lines = Object.entries(entries).flatMap(([key, value]) => (Array.isArray(value) ? value : [value]).map((v) => `${key}=${v}`));
      return [`[${section}]`, ...lines].join("\n");
    })
    .join("\n\n")
    .concat("\n");
}

/**
 * Runs the bootstrap on every boot: it is idempotent, so after a reboot it
 * finishes an interrupted bootstrap, or does nothing. Its output goes to the
 * journal and the serial console, which EC2 keeps even if the node never joins.
 *
 * It starts after cloud-init's final stage (which writes and enables it on the
 * first boot), so it is wanted by cloud-init.target, which comes after
 * multi-user.target; wanted by multi-user.target it would make an ordering
 * cycle with cloud-final (After=multi-user.target), and systemd would drop it
 * on every reboot.
 */
export function bootstrapService(script: string, timeoutMinutes = BOOTSTRAP_TIMEOUT_MINUTES): SystemdUnit {
  return {
    name: "kubeadm-aws-bootstrap.service",
    content: unit({
      Unit: { Description: "kubeadm-aws: bootstrap this node into the cluster", Wants: "network-online.target", After: ["network-online.target", "cloud-final.service"] },
      Service: {
        Type: "oneshot",
        RemainAfterExit: "yes",
        ExecStart: `${NODE_FILES.scriptsDir}/${script}`,
        Environment: `PATH=${PATH}`,
        StandardOutput: "journal+console",
        StandardError: "journal+console",
        // A node stuck longer than this is killed; the script then marks it unhealthy.
        TimeoutStartSec: `${timeoutMinutes}min`,
      },
      Install: { WantedBy: "cloud-init.target" },
    }),
  };
}

/** A oneshot service plus the timer that runs it periodically, enabled by the bootstrap once it is done. */
export function periodicJob(name: string, script: string, description: string, everyMinutes: number): SystemdUnit[] {
  return [
    {
      name: `${name}.service`,
      content: unit({
        Unit: { Description: description, After: "kubeadm-aws-bootstrap.service" },
        Service: { Type: "oneshot", ExecStart: `${NODE_FILES.scriptsDir}/${script}`, Environment: `PATH=${PATH}`, StandardOutput: "journal", StandardError: "journal" },
      }),
    },
    {
      name: `${name}.timer`,
      content: unit({
        Unit: { Description: `Run ${name} every ${everyMinutes} minutes` },
        // Spread across nodes, so control-plane nodes do not all run at once.
        Timer: { OnActiveSec: "1min", OnUnitActiveSec: `${everyMinutes}min`, RandomizedDelaySec: `${Math.max(1, Math.floor(everyMinutes / 6))}min` },
        Install: { WantedBy: "timers.target" },
      }),
    },
  ];
}

/** A service that runs for as long as the node does, restarted if it stops. */
export function longRunningService(name: string, command: string, description: string): SystemdUnit {
  return {
    name: `${name}.service`,
    content: unit({
      Unit: { Description: description, Wants: "network-online.target", After: "network-online.target" },
      Service: { Type: "simple", ExecStart: command, Environment: `PATH=${PATH}`, Restart: "always", RestartSec: "5", StandardOutput: "journal", StandardError: "journal" },
      Install: { WantedBy: "multi-user.target" },
    }),
  };
}

/**
 * containerd installed from its release archive into /usr/local (the unit its
 * package would bring): notified when ready, its children in their own cgroups.
 */
export function containerdService(): SystemdUnit {
  return {
    name: "containerd.service",
    content: unit({
      Unit: { Description: "containerd container runtime", Documentation: "https://containerd.io", After: ["network.target", "local-fs.target"] },
      Service: {
        ExecStartPre: "-/sbin/modprobe overlay",
        ExecStart: "/usr/local/bin/containerd",
        Type: "notify",
        Delegate: "yes",
        KillMode: "process",
        Restart: "always",
        RestartSec: "5",
        LimitNPROC: "infinity",
        LimitCORE: "infinity",
        LimitNOFILE: "infinity",
        TasksMax: "infinity",
        OOMScoreAdjust: "-999",
      },
      Install: { WantedBy: "multi-user.target" },
    }),
  };
}
