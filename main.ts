import { App } from "cdktf";
import { ClusterStack } from "./lib/app/cluster-stack";
import { configFromEnv, explainConfigError } from "./lib/app/config";
import { ConfigError } from "./lib/errors";

// The deployable app. Configure it with the CLUSTER_* environment variables (see `./help`).
const app = new App();
try {
  const config = configFromEnv(process.env);
  new ClusterStack(app, config.clusterName, config);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`Invalid configuration: ${explainConfigError(error)}`);
  process.exit(1);
}
app.synth();
