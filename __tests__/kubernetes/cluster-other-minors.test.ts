import { DEFAULT_KUBERNETES_VERSION, KUBERNETES_RELEASES } from "../../lib/versions";
import { realClusterSuite } from "./cluster-suite";

// Every other supported minor: the same cluster, without the drills that cluster.test.ts runs. About 40 s each.
jest.setTimeout(180_000);
for (const minor of Object.keys(KUBERNETES_RELEASES).filter((m) => m !== DEFAULT_KUBERNETES_VERSION)) {
  realClusterSuite(minor, { controls: false });
}
