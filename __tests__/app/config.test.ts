import { ENVIRONMENT_VARIABLES, configFromEnv, explainConfigError } from "../../lib/app/config";
import { ConfigError } from "../../lib/errors";
import { INTERFACE_ENDPOINT_SERVICES } from "../../lib/network/endpoints";

describe("configFromEnv", () => {
  it("gives a production-shaped default that needs no AWS lookup of zones", () => {
    expect(configFromEnv({})).toEqual({
      clusterName: "kubeadm",
      region: "eu-west-1",
      accountId: undefined,
      network: { vpcCidr: undefined, availabilityZones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"], natGateways: undefined, interfaceEndpoints: undefined },
      controlPlane: { kubernetesVersion: undefined, count: undefined, instanceType: undefined, apiServer: undefined, etcd: undefined },
      observability: undefined,
      nodeGroups: [{ name: "general", instanceTypes: ["m7i.large"], minSize: 3, maxSize: 12 }],
      stateBackend: undefined,
    });
  });

  it("reads every setting from CLUSTER_* variables", () => {
    const config = configFromEnv({
      CLUSTER_NAME: "prod",
      CLUSTER_REGION: "us-east-2",
      CLUSTER_ACCOUNT_ID: "111122223333",
      CLUSTER_AZS: "us-east-2a, us-east-2b",
      CLUSTER_VPC_CIDR: "10.20.0.0/16",
      CLUSTER_NAT_GATEWAYS: "single",
      CLUSTER_VPC_ENDPOINTS: "ssm,logs",
      CLUSTER_STATE_BUCKET: "tf-state",
      CLUSTER_KUBERNETES_VERSION: "1.36",
      CLUSTER_CONTROL_PLANE_COUNT: "5",
      CLUSTER_CONTROL_PLANE_INSTANCE_TYPE: "m7g.xlarge",
      CLUSTER_API_ALLOWED_CIDRS: "203.0.113.0/24,198.51.100.7/32",
      CLUSTER_ADMIN_PRINCIPALS: "arn:aws:iam::111122223333:role/admin, arn:aws:iam::111122223333:role/sre/*",
      CLUSTER_NODE_INSTANCE_TYPES: "m7g.large,m6g.large",
      CLUSTER_ETCD_RESTORE_FROM: "s3://b/etcd/daily/x.db",
      CLUSTER_ALARM_EMAILS: "oncall@example.com",
      CLUSTER_CNI: "cilium",
      CLUSTER_WORKLOAD_IDENTITY: "false",
      CLUSTER_NODE_MIN_SIZE: "2",
      CLUSTER_NODE_MAX_SIZE: "20",
    });
    expect(config).toEqual({
      clusterName: "prod",
      region: "us-east-2",
      accountId: "111122223333",
      network: { vpcCidr: "10.20.0.0/16", availabilityZones: ["us-east-2a", "us-east-2b"], natGateways: "single", interfaceEndpoints: ["ssm", "logs"] },
      controlPlane: {
        kubernetesVersion: "1.36",
        count: 5,
        instanceType: "m7g.xlarge",
        apiServer: { publicAccess: { allowedCidrs: ["203.0.113.0/24", "198.51.100.7/32"] } },
        adminAccess: { principalArns: ["arn:aws:iam::111122223333:role/admin", "arn:aws:iam::111122223333:role/sre/*"] },
        etcd: { restoreFrom: "s3://b/etcd/daily/x.db" },
        addons: { cni: "cilium" },
        workloadIdentity: false,
      },
      observability: { alarms: { emails: ["oncall@example.com"] } },
      nodeGroups: [{ name: "general", instanceTypes: ["m7g.large", "m6g.large"], minSize: 2, maxSize: 20 }],
      stateBackend: { bucket: "tf-state", key: "prod/terraform.tfstate", region: "us-east-2" },
    });
  });

  it("looks zones up for a region other than the default when none are given", () => {
    expect(configFromEnv({ CLUSTER_REGION: "us-east-2" }).network.availabilityZones).toBeUndefined();
  });

  it('expands CLUSTER_VPC_ENDPOINTS="all" to every node service', () => {
    expect(configFromEnv({ CLUSTER_VPC_ENDPOINTS: "all" }).network.interfaceEndpoints).toEqual([...INTERFACE_ENDPOINT_SERVICES]);
  });

  it("names the environment variable behind a bad property", () => {
    expect(explainConfigError(new ConfigError("vpcCidr", "bad"))).toBe("vpcCidr: bad (set through CLUSTER_VPC_CIDR)");
    expect(explainConfigError(new ConfigError("flowLogs.retentionDays", "bad"))).toBe("flowLogs.retentionDays: bad");
  });

  it("documents every variable it reads", () => {
    const read = new Set<string>();
    // A bucket, so the state settings that depend on it are read too.
    const env = new Proxy({} as Record<string, string | undefined>, {
      get: (_, name) => (read.add(String(name)), name === "CLUSTER_STATE_BUCKET" ? "bucket" : undefined),
    });
    configFromEnv(env);
    expect([...read].sort()).toEqual(ENVIRONMENT_VARIABLES.map((v) => v.name).sort());
  });
});
