import { TerraformOutput, TerraformStack } from "cdktf";
import { KubernetesCluster } from "../../lib/cluster";
import { ConfigError } from "../../lib/errors";
import { ServiceAccountRoleOptions } from "../../lib/identity/service-account-role";
import { ROLE_ARN_ANNOTATION, serviceAccountRoleName, webIdentityPodParts } from "../../lib/identity/web-identity";
import { Synthesized, synthStack, testStack } from "../helpers/synth";

const ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];
const READ_REPORTS = [{ Sid: "ReadReports", Effect: "Allow" as const, Action: "s3:GetObject", Resource: "arn:aws:s3:::reports-111122223333/*" }];

function cluster(stack: TerraformStack, workloadIdentity = true): KubernetesCluster {
  return new KubernetesCluster(stack, "cluster", { clusterName: "prod", network: { availabilityZones: ZONES }, controlPlane: { workloadIdentity }, nodeGroups: [] });
}

describe("IAM roles for service accounts (addServiceAccount)", () => {
  const synth = synthStack((stack) => {
    const prod = cluster(stack);
    const account = prod.addServiceAccount("reports", {
      namespace: "data",
      name: "reports",
      policyStatements: READ_REPORTS,
      managedPolicyArns: ["arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess"],
    });
    new TerraformOutput(stack, "annotations", { value: account.annotations });
  });
  const role = synth.resources("aws_iam_role").find((r) => r.values.name === "prod-sa-data-reports");

  it("trusts only tokens of that one service account, issued by this cluster for STS", () => {
    expect(role).toBeDefined();
    const provider = synth.only("aws_iam_openid_connect_provider");
    const host = provider.values.url.replace("https://", "");
    expect(JSON.parse(role!.values.assume_role_policy).Statement).toEqual([
      {
        Sid: "ServiceAccountTokens",
        Effect: "Allow",
        Principal: { Federated: Synthesized.ref("aws_iam_openid_connect_provider", provider, "arn") },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: { StringEquals: { [`${host}:sub`]: "system:serviceaccount:data:reports", [`${host}:aud`]: "sts.amazonaws.com" } },
      },
    ]);
  });

  it("grants the given statements inline and attaches the given managed policies, nothing else", () => {
    const ref = Synthesized.ref("aws_iam_role", role!, "name");
    const inline = synth.resources("aws_iam_role_policy").filter((p) => p.values.role === ref);
    expect(inline.map((p) => [p.values.name, JSON.parse(p.values.policy).Statement])).toEqual([["service-account", READ_REPORTS]]);
    const attached = synth.resources("aws_iam_role_policy_attachment").filter((a) => a.values.role === ref);
    expect(attached.map((a) => a.values.policy_arn)).toEqual(["arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess"]);
  });

  it("gives the annotation the ServiceAccount carries: the role's ARN", () => {
    expect(synth.json.output.annotations.value).toEqual({ [ROLE_ARN_ANNOTATION]: Synthesized.ref("aws_iam_role", role!, "arn") });
    expect(ROLE_ARN_ANNOTATION).toBe("eks.amazonaws.com/role-arn");
  });

  it("cuts a name past IAM's 64 characters and keeps it unique with a hash of the whole", () => {
    const namespace = "n".repeat(63);
    const a = serviceAccountRoleName("prod", namespace, "a".repeat(63));
    const b = serviceAccountRoleName("prod", namespace, `${"a".repeat(62)}b`);
    expect(a).toHaveLength(64);
    expect(a).toMatch(/^prod-sa-n+-[0-9a-f]{8}$/);
    expect(b).not.toBe(a);
    expect(serviceAccountRoleName("prod", namespace, "a".repeat(63))).toBe(a);
    expect(serviceAccountRoleName("prod", "data", "reports")).toBe("prod-sa-data-reports");
  });

  describe("rejects at synth, naming the property", () => {
    const stack = testStack();
    const prod = cluster(stack);
    const base: ServiceAccountRoleOptions = { namespace: "data", name: "reports", policyStatements: READ_REPORTS };
    let n = 0;
    it.each<[string, Partial<ServiceAccountRoleOptions>, string, RegExp]>([
      ["a namespace that is not a DNS label", { namespace: "Data_Team" }, "namespace", /"Data_Team" is not a DNS-1123 label/],
      ["a namespace of 64 characters", { namespace: "n".repeat(64) }, "namespace", /not a DNS-1123 label \(at most 63/],
      ["a name that is not a DNS label", { name: "reports.reader" }, "name", /"reports.reader" is not a DNS-1123 label/],
      ["an empty name", { name: "" }, "name", /"" is not a DNS-1123 label/],
      ["no policy at all", { policyStatements: undefined }, "policyStatements", /data\/reports is granted nothing/],
      ["empty policies", { policyStatements: [], managedPolicyArns: [] }, "policyStatements", /granted nothing/],
      ["a statement without an action", { policyStatements: [{ Effect: "Allow", Action: [], Resource: "*" }] }, "policyStatements[0]", /at least one Action/],
      ["a statement with a principal", { policyStatements: [{ ...READ_REPORTS[0], Principal: "*" }] }, "policyStatements[0]", /has no Principal/],
      ["a policy over IAM's size", { policyStatements: [{ ...READ_REPORTS[0], Sid: "x".repeat(10300) }] }, "policyStatements", /IAM allows 10240 per role/],
      ["a managed policy that is not an ARN", { managedPolicyArns: ["AmazonS3ReadOnlyAccess"] }, "managedPolicyArns", /"AmazonS3ReadOnlyAccess" is not an IAM policy ARN/],
      ["11 managed policies", { managedPolicyArns: Array.from({ length: 11 }, (_, i) => `arn:aws:iam::111122223333:policy/p${i}`) }, "managedPolicyArns", /at most 10/],
      ["a managed policy twice", { managedPolicyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess"] }, "managedPolicyArns", /listed twice/],
    ])("%s", (_, change, property, message) => {
      n += 1;
      let error: unknown;
      try {
        prod.addServiceAccount(`bad-${n}`, { ...base, ...change });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect(error).toMatchObject({ property, message: expect.stringMatching(message) });
    });

    it("a second role for the same service account", () => {
      prod.addServiceAccount("first", base);
      expect(() => prod.addServiceAccount("second", { ...base, managedPolicyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"] })).toThrow(
        new ConfigError("name", "the service account data/reports already has a role (service-account-first); give one role per service account"),
      );
    });

    it("a role for a service account of our own add-on controllers", () => {
      expect(() => prod.addServiceAccount("autoscaler", { ...base, namespace: "kube-system", name: "cluster-autoscaler" })).toThrow(
        new ConfigError("name", "the service account kube-system/cluster-autoscaler already has a role (addon-role-cluster-autoscaler); give one role per service account"),
      );
    });

    it("a role on a cluster whose workload identity is off", () => {
      const off = cluster(testStack(), false);
      expect(() => off.addServiceAccount("reports", base)).toThrow(expect.objectContaining({ property: "workloadIdentity", message: expect.stringMatching(/has workload identity off/) }));
    });
  });

  it("gives pods without the webhook what the webhook would inject: the STS token and the SDK's variables", () => {
    const parts = webIdentityPodParts("arn:aws:iam::111122223333:role/prod-sa-data-reports", "eu-west-1");
    const env = Object.fromEntries(parts.env.map((e) => [e.name, e.value]));
    expect(env).toEqual({
      AWS_ROLE_ARN: "arn:aws:iam::111122223333:role/prod-sa-data-reports",
      AWS_WEB_IDENTITY_TOKEN_FILE: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
      AWS_STS_REGIONAL_ENDPOINTS: "regional",
      AWS_REGION: "eu-west-1",
      AWS_DEFAULT_REGION: "eu-west-1",
    });
    expect(parts.volumes[0].projected.sources[0].serviceAccountToken).toEqual({ audience: "sts.amazonaws.com", expirationSeconds: 86400, path: "token" });
    expect(parts.volumeMounts).toEqual([{ name: parts.volumes[0].name, mountPath: "/var/run/secrets/eks.amazonaws.com/serviceaccount", readOnly: true }]);
  });
});
