import { DEFAULT_KUBERNETES_VERSION } from "../../lib/versions";
import { realClusterSuite } from "./cluster-suite";

// The default minor, with the negative controls and the etcd quorum drill. About 100 s.
jest.setTimeout(180_000);
realClusterSuite(DEFAULT_KUBERNETES_VERSION, { controls: true });
