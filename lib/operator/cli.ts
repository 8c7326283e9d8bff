#!/usr/bin/env node
/**
 * `cdktf-kubeadm-aws`: the operator's command for what only a person should decide about a running cluster. It runs
 * from a laptop with the AWS CLI and kubectl (the admin kubeconfig); nothing reaches a node over SSH.
 *
 *   status    the control plane's rollout: which node runs which version and bundle, the lock, the pause, what is next
 *   validate  the cluster's health, as `kops validate cluster` gives it; exits 1 when it is not valid
 *   pause     stops the rollout before its next node (a node already rolling finishes)
 *   resume    lets it go on
 *
 * It imports no provider class, so it starts in well under a second from dist/.
 */
import { execFile } from "node:child_process";
import { addonSpecChecksumParameter, rolloutParameters } from "../naming";
import {
  ADDONS_CONFIGMAP,
  ClusterObservation,
  ClusterParameters,
  KubeNode,
  KubePod,
  ROLLOUT_CONFIGMAP,
  renderRollout,
  renderValidation,
  rolloutReport,
  validateCluster,
} from "./cluster-report";

const USAGE = `Usage: cdktf-kubeadm-aws <command> [options]

Commands:
  status              the control-plane rollout: each node's kubelet, apiserver and bundle, the lock, the pause, what is next
  validate            nodes Ready, control-plane pods and etcd ready, API /readyz, system pods, add-ons applied,
                      no failed rollout; exits 1 when the cluster is not valid
  pause [reason]      stop the control-plane rollout before its next node
  resume              let a paused rollout go on

Options:
  --cluster <name>    the cluster's name (default: $CLUSTER_NAME)
  --region <region>   its region (default: $CLUSTER_REGION, then the AWS CLI's own default)
  --kubeconfig <file> the admin kubeconfig (default: kubectl's own, $KUBECONFIG or ~/.kube/config)
  --json              print the report as JSON
`;

class UsageError extends Error {}

export interface OperatorOptions {
  command: "status" | "validate" | "pause" | "resume";
  cluster: string;
  region?: string;
  kubeconfig?: string;
  json: boolean;
  reason?: string;
}

export function parseArguments(argv: string[], env: NodeJS.ProcessEnv): OperatorOptions {
  const positional: string[] = [];
  const values: Record<string, string> = {};
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--json") json = true;
    else if (arg === "--cluster" || arg === "--region" || arg === "--kubeconfig") {
      const value = argv[++i];
      if (value === undefined || value.startsWith("--")) throw new UsageError(`${arg} needs a value`);
      values[arg.slice(2)] = value;
    } else if (arg.startsWith("--")) throw new UsageError(`unknown option ${arg}; expected --cluster, --region, --kubeconfig or --json`);
    else positional.push(arg);
  }
  const [command, ...rest] = positional;
  if (command !== "status" && command !== "validate" && command !== "pause" && command !== "resume") {
    throw new UsageError(command ? `unknown command "${command}"; expected status, validate, pause or resume` : "a command is needed");
  }
  if (rest.length && command !== "pause") throw new UsageError(`${command} takes no argument, got "${rest.join(" ")}"`);
  const cluster = values.cluster ?? env.CLUSTER_NAME;
  if (!cluster) throw new UsageError("--cluster is needed (or CLUSTER_NAME)");
  return { command, cluster, region: values.region ?? env.CLUSTER_REGION, kubeconfig: values.kubeconfig, json, reason: rest.join(" ") || undefined };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 127) : 0;
      resolve({ code, stdout, stderr: stderr || (error && code === 127 ? `${command}: ${error.message}` : "") });
    });
  });
}

class Operator {
  constructor(
    private readonly options: OperatorOptions,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  private aws(args: string[]): Promise<Run> {
    return run("aws", [...args, "--output", "json", ...(this.options.region ? ["--region", this.options.region] : [])], this.env);
  }

  private kubectl(args: string[]): Promise<Run> {
    return run("kubectl", [...(this.options.kubeconfig ? ["--kubeconfig", this.options.kubeconfig] : []), ...args], this.env);
  }

  /** A list of objects; `--ignore-not-found` prints nothing when none exists. */
  private async kubectlItems<T>(args: string[]): Promise<T[]> {
    const result = await this.kubectl([...args, "-o", "json"]);
    if (result.code !== 0) {
      throw new Error(`kubectl ${args.join(" ")} failed: ${result.stderr.trim()}\n(Is the API reachable? README, "Deploy", forwards it through Session Manager.)`);
    }
    if (!result.stdout.trim()) return [];
    const parsed = JSON.parse(result.stdout) as { kind?: string; items?: T[] };
    return parsed.items ?? [parsed as T];
  }

  /** A parameter's value, or undefined when it does not exist. */
  private async parameter(name: string): Promise<string | undefined> {
    const result = await this.aws(["ssm", "get-parameter", "--name", name]);
    if (result.code === 0) return (JSON.parse(result.stdout) as { Parameter: { Value: string } }).Parameter.Value;
    if (result.stderr.includes("ParameterNotFound")) return undefined;
    throw new Error(`aws ssm get-parameter --name ${name} failed: ${result.stderr.trim()}`);
  }

  private async parameters(): Promise<ClusterParameters> {
    const names = rolloutParameters(this.options.cluster);
    const [bundle, status, lock, paused, addonSpecSha256] = await Promise.all(
      [names.bundle, names.status, names.lock, names.paused, addonSpecChecksumParameter(this.options.cluster)].map((n) => this.parameter(n)),
    );
    return { bundle, status, lock, paused, addonSpecSha256 };
  }

  async observe(): Promise<ClusterObservation> {
    const [parameters, nodes, pods, configMaps, readyz] = await Promise.all([
      this.parameters(),
      this.kubectlItems<KubeNode>(["get", "nodes"]),
      this.kubectlItems<KubePod>(["get", "pods", "--all-namespaces"]),
      this.kubectlItems<{ metadata: { name: string }; data?: Record<string, string> }>([
        "-n", "kube-system", "get", "configmap", ROLLOUT_CONFIGMAP, ADDONS_CONFIGMAP, "--ignore-not-found",
      ]),
      this.kubectl(["get", "--raw", "/readyz?verbose"]),
    ]);
    return {
      clusterName: this.options.cluster,
      parameters,
      nodes,
      pods,
      configMaps: Object.fromEntries(configMaps.map((c) => [c.metadata.name, c.data ?? {}])),
      readyz: { ok: readyz.code === 0, output: readyz.stdout || readyz.stderr },
    };
  }

  async pause(): Promise<string> {
    const name = rolloutParameters(this.options.cluster).paused;
    const reason = this.options.reason ?? `paused by ${this.env.USER ?? "an operator"} at ${new Date().toISOString()}`;
    const result = await this.aws(["ssm", "put-parameter", "--name", name, "--type", "String", "--value", reason]);
    if (result.code === 0) return `Paused: no control-plane node starts to roll until \`resume\` (${name}: ${reason}).\n`;
    if (result.stderr.includes("ParameterAlreadyExists")) return `Already paused: ${await this.parameter(name)}\n`;
    throw new Error(`aws ssm put-parameter --name ${name} failed: ${result.stderr.trim()}`);
  }

  async resume(): Promise<string> {
    const name = rolloutParameters(this.options.cluster).paused;
    const result = await this.aws(["ssm", "delete-parameter", "--name", name]);
    if (result.code === 0) return "Resumed: the next control-plane node rolls within 2 minutes.\n";
    if (result.stderr.includes("ParameterNotFound")) return "The rollout was not paused.\n";
    throw new Error(`aws ssm delete-parameter --name ${name} failed: ${result.stderr.trim()}`);
  }
}

interface Output {
  write(text: string): unknown;
}

/** Runs one command; resolves to its exit code: 0, 1 when the cluster is not valid, 2 for a usage error. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env, out: Output = process.stdout, err: Output = process.stderr): Promise<number> {
  if (argv.some((a) => a === "--help" || a === "-h") || argv[0] === "help") {
    out.write(USAGE);
    return 0;
  }
  let options: OperatorOptions;
  try {
    options = parseArguments(argv, env);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err.write(`cdktf-kubeadm-aws: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  const operator = new Operator(options, env);
  try {
    switch (options.command) {
      case "status": {
        const report = rolloutReport(await operator.observe());
        out.write(options.json ? JSON.stringify(report, null, 2) + "\n" : renderRollout(options.cluster, report));
        return 0;
      }
      case "validate": {
        const report = validateCluster(await operator.observe());
        out.write(options.json ? JSON.stringify(report, null, 2) + "\n" : renderValidation(options.cluster, report));
        return report.valid ? 0 : 1;
      }
      case "pause":
        out.write(await operator.pause());
        return 0;
      case "resume":
        out.write(await operator.resume());
        return 0;
    }
  } catch (e) {
    err.write(`cdktf-kubeadm-aws ${options.command}: ${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
