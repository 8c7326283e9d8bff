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
      Install: { WantedBy: "multi-user.target" },
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
