import { spawnSync } from "node:child_process";
import { UNSET_PARAMETER_VALUE } from "../../lib/control-plane/join-parameters";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeUserData, USER_DATA_LIMIT_BYTES } from "../../lib/bootstrap/user-data";
import { SECRET_MANAGEMENT } from "../../lib/control-plane/cluster-secrets";
import { controlPlaneNode } from "../../lib/control-plane/control-plane-user-data";
import { untarGz } from "../helpers/bundle";
import { addonSpec, controlPlaneBootstrap } from "../helpers/control-plane-fixture";
import { tempDir } from "../helpers/plan";
import { ZONES, synthControlPlane } from "../helpers/control-plane-stack";
import { DEPLOYER, Synthesized, policyStatements, synthStack } from "../helpers/synth";
import { ClusterKey } from "../../lib/cluster-key";
import { ClusterServices } from "../../lib/cluster-services";
import { ControlPlane } from "../../lib/control-plane/control-plane";
import { ClusterNetwork } from "../../lib/network/cluster-network";



const bundleObject = (synth: Synthesized) => synth.resources("aws_s3_object").find((o) => o.values.key.startsWith("control-plane/"))!;
const addonSpecObject = (synth: Synthesized) => synth.resources("aws_s3_object").find((o) => o.values.key === "addons/spec.json")!;
/** An inline policy of the control-plane role, or one of its managed policies ("<role>-<name>"). */
const policyOf = (synth: Synthesized, name: string) =>
  JSON.parse([...synth.resources("aws_iam_role_policy"), ...synth.resources("aws_iam_policy")].find((p) => p.values.name === name || p.values.name.endsWith(`-control-plane-${name}`))!.values.policy);

describe("ControlPlane", () => {
  const synth = synthControlPlane();
  const launchTemplate = synth.only("aws_launch_template").values;
  const cloudConfig = decodeUserData(launchTemplate.user_data);

  it("runs one Auto Scaling group of exactly one node per zone", () => {
    const groups = synth.resources("aws_autoscaling_group").map((g) => g.values);
    expect(groups).toHaveLength(3);
    const subnets = synth.resources("aws_subnet");
    const zoneOf = (ref: string) => subnets.find((s) => ref.includes(`.${s.name}.`))!.values.availability_zone;
    expect(groups.map((g) => zoneOf(g.vpc_zone_identifier[0]))).toEqual(ZONES);
    for (const g of groups) {
      // A second instance only while a minor upgrade's successor joins (roll-control-plane.sh).
      expect(g).toMatchObject({ min_size: 1, max_size: 2, desired_capacity: 1, health_check_type: "EC2", wait_for_elb_capacity: 1 });
      expect(g.vpc_zone_identifier).toHaveLength(1);
      expect(g.target_group_arns).toHaveLength(1);
    }
  });

  it("requires IMDSv2 with hop limit 1, encrypts the gp3 root volume with the cluster key and sets no key pair", () => {
    expect(launchTemplate.metadata_options).toEqual({ http_endpoint: "enabled", http_tokens: "required", http_put_response_hop_limit: 1 });
    expect(launchTemplate.block_device_mappings[0].ebs).toMatchObject({ encrypted: "true", volume_type: "gp3", volume_size: 50 });
    expect(launchTemplate.block_device_mappings[0].ebs.kms_key_id).toMatch(/^\$\{aws_kms_key\.key_.*\.arn\}$/);
    expect(launchTemplate.key_name).toBeUndefined();
  });

  it("uses the newest Ubuntu 24.04 through an SSM parameter EC2 resolves, or the pinned AMI", () => {
    expect(launchTemplate.image_id).toBe("resolve:ssm:/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id");
    const arm = synthControlPlane({ instanceType: "m7g.large" }).only("aws_launch_template").values;
    expect(arm.image_id).toContain("/current/arm64/");
    expect(synthControlPlane({ ami: "ami-0123456789abcdef0" }).only("aws_launch_template").values.image_id).toBe("ami-0123456789abcdef0");
  });

  it("keeps gzipped user data under EC2's 16 KB limit", () => {
    expect(Buffer.from(launchTemplate.user_data, "base64").length).toBeLessThan(USER_DATA_LIMIT_BYTES);
  });

  it("renders user data that cloud-init's schema accepts", () => {
    const file = join(tempDir("cloud-config"), "user-data.yaml");
    writeFileSync(file, cloudConfig);
    const result = spawnSync("cloud-init", ["schema", "--config-file", file], { encoding: "utf8" });
    expect(result.error).toBeUndefined();
    expect(result.stdout + result.stderr).toMatch(/Valid (cloud-config|schema)/);
    expect(result.status).toBe(0);
  });

  it("lets etcd ports in only from the control-plane group", () => {
    const rules = synth.resources("aws_vpc_security_group_ingress_rule").map((r) => r.values);
    const etcd = rules.filter((r) => r.from_port <= 2380 && r.to_port >= 2379);
    expect(etcd).toHaveLength(1);
    const controlPlaneGroup = synth.resources("aws_security_group").find((g) => g.values.name === "prod-control-plane")!;
    expect(etcd[0].security_group_id).toBe(Synthesized.ref("aws_security_group", controlPlaneGroup));
    expect(etcd[0].referenced_security_group_id).toBe(Synthesized.ref("aws_security_group", controlPlaneGroup));
  });

  it("opens no port to the internet by default, and describes every rule", () => {
    for (const rule of synth.resources("aws_vpc_security_group_ingress_rule").map((r) => r.values)) {
      expect(rule.cidr_ipv4).toBeUndefined();
      expect(rule.description).toMatch(/\w/);
    }
  });

  it("tags exactly one security group per node role with the cluster tag", () => {
    const tagged = synth.resources("aws_security_group").filter((g) => g.values.tags["kubernetes.io/cluster/prod"]).map((g) => g.values.name);
    expect(tagged.sort()).toEqual(["prod-control-plane", "prod-nodes"]);
  });

  it("puts the API behind an internal NLB with /readyz health checks and client IP preservation off", () => {
    expect(synth.only("aws_lb").values).toMatchObject({ internal: true, load_balancer_type: "network", enable_cross_zone_load_balancing: true, enable_deletion_protection: false });
    expect(synth.only("aws_lb_target_group").values).toMatchObject({
      port: 6443,
      protocol: "TCP",
      preserve_client_ip: "false",
      health_check: { protocol: "HTTPS", path: "/readyz" },
    });
    expect(synth.only("aws_route53_record").values).toMatchObject({ name: "api.prod.k8s.internal", type: "A" });
  });

  it("gives nodes the endpoint's name, not the load balancer's, so no instance waits for the NLB", () => {
    const bundle = untarGz(Buffer.from(bundleObject(synth).values.content_base64, "base64"));
    expect(bundle["/etc/kubeadm-aws/kubeadm/init.yaml"]).toContain("controlPlaneEndpoint: api.prod.k8s.internal:6443");
    expect(JSON.stringify(launchTemplate)).not.toMatch(/aws_lb\.|aws_route53|aws_s3/);
  });

  it("pins the bundle in user data by key and checksum, and lets nodes read only their prefixes of the artifacts bucket", () => {
    const object = bundleObject(synth).values;
    expect(cloudConfig).toContain(`BUNDLE_KEY='${object.key}'`);
    expect(object.key).toMatch(/^control-plane\/[0-9a-f]{64}\.tar\.gz$/);
    const read = policyOf(synth, "node-bundle").Statement[0];
    expect(read).toMatchObject({ Action: "s3:GetObject" });
    expect(read.Resource).toEqual(["arn:aws:s3:::prod-nodes-111122223333-eu-west-1/control-plane/*", "arn:aws:s3:::prod-nodes-111122223333-eu-west-1/addons/*"]);
  });

  it("creates empty secret containers encrypted with the cluster key, and never a secret value", () => {
    const secrets = synth.resources("aws_secretsmanager_secret").map((s) => s.values);
    expect(secrets.map((s) => s.name)).toEqual(["k8s/prod/pki", "k8s/prod/admin-kubeconfig"]);
    for (const s of secrets) expect(s.kms_key_id).toMatch(/^\$\{aws_kms_key\.key_.*\.arn\}$/);
    expect(synth.resources("aws_secretsmanager_secret_version")).toEqual([]);
    // The join parameters: Terraform owns them (a destroy removes them) but holds only a placeholder; nodes write the values,
    // and the token and the CA hash are encrypted with the cluster key.
    // Write-only where it matters: a refresh never brings the published token or hash into the state.
    const parameters = synth.resources("aws_ssm_parameter").map((p) => p.values);
    expect(parameters.map((p) => [p.name, p.type, p.value_wo ?? p.insecure_value, p.value, p.lifecycle])).toEqual([
      // In the cluster's services, not a secret: the add-on specification's checksum, read from the object Terraform uploads.
      ["/k8s/prod/control-plane/addon-spec-sha256", "String", undefined, `\${sha256(${Synthesized.ref("aws_s3_object", addonSpecObject(synth), "content").slice(2, -1)})}`, undefined],
      ["/k8s/prod/join/token", "SecureString", UNSET_PARAMETER_VALUE, undefined, { ignore_changes: "all" }],
      ["/k8s/prod/join/ca-cert-hash", "SecureString", UNSET_PARAMETER_VALUE, undefined, { ignore_changes: "all" }],
      ["/k8s/prod/join/kubernetes-version", "String", UNSET_PARAMETER_VALUE, undefined, { ignore_changes: "all" }],
      ["/k8s/prod/join/control-plane-version", "String", UNSET_PARAMETER_VALUE, undefined, { ignore_changes: "all" }],
      // The bundle running control-plane nodes roll to: the one the launch template's user data pins.
      ["/k8s/prod/control-plane/rollout/bundle", "String", `${bundleObject(synth).values.key} ${/BUNDLE_SHA256='([0-9a-f]{64})'/.exec(cloudConfig)![1]}`, undefined, undefined],
    ]);
    for (const p of parameters.filter((p) => p.type === "SecureString")) expect(p.key_id).toMatch(/^\$\{aws_kms_key\.key_.*\.arn\}$/);
  });

  it("guards the Kubernetes minor of a running cluster with preconditions on the launch template, read from the recorded version", () => {
    const template = synth.resources("aws_launch_template")[0].values;
    const guards = template.lifecycle.precondition as Array<{ condition: string; error_message: string }>;
    // Terraform itself evaluates them (__tests__/emulator/version-guard.test.ts); here: each reads the recorded version, one rule each.
    const running = /try\(tonumber\(element\(regex\(\\?"\^v\?1\[\.\]\(\[0-9\]\+\)\[\.\]\\?", coalesce\(aws_ssm_parameter\.control-plane_join-parameters_kubernetes-version_\w+\.insecure_value, \\?"kubeadm-aws:unset\\?"\)\), 0\)\), -1\)/.source;
    const target = running.replace("kubernetes-version", "control-plane-version");
    expect(guards.map((g) => g.condition)).toEqual([
      expect.stringMatching(new RegExp(`^\\$\\{\\(${running} <= 35\\)\\}$`)),
      expect.stringMatching(new RegExp(`^\\$\\{\\(\\(${running} == -1\\) \\|\\| \\(${running} >= 34\\)\\)\\}$`)),
      // During a minor upgrade (the stored configuration's minor ahead of the cluster's), only its target.
      expect.stringMatching(new RegExp(`^\\$\\{\\(\\(${target} <= ${running}\\) \\|\\| \\(${target} <= 35\\)\\)\\}$`)),
    ]);
    expect(guards.map((g) => /and 1\.35 ([a-z ]+)/.exec(g.error_message)?.[1])).toEqual(["would downgrade its minor", "skips a minor", "would return to the old minor half"]);
    for (const g of guards.slice(0, 2)) expect(g.error_message).toContain("kubernetesVersion: the cluster runs ${coalesce(aws_ssm_parameter.control-plane_join-parameters_kubernetes-version_");
    expect(guards[2].error_message).toContain("kubernetesVersion: the control plane is being upgraded to ${coalesce(aws_ssm_parameter.control-plane_join-parameters_control-plane-version_");
  });

  it("limits the node role's secrets access to this cluster's secrets and parameter path", () => {
    const statements = policyOf(synth, "cluster-secrets").Statement;
    expect(statements[0].Resource).toEqual([expect.stringMatching(/aws_secretsmanager_secret\.control-plane_secrets_pki_.*\.arn/), expect.stringMatching(/admin-kubeconfig_.*\.arn/)]);
    expect(statements[1]).toMatchObject({ Action: ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParameterHistory"], Resource: "arn:aws:ssm:eu-west-1:111122223333:parameter/k8s/prod/*" });
    // Nodes write only what they publish; the add-on specification's checksum and the rollout's bundle are Terraform's alone.
    const parameter = (name: string) => `arn:aws:ssm:eu-west-1:111122223333:parameter/k8s/prod/${name}`;
    expect(statements[2]).toEqual({
      Sid: "WriteJoinParametersAndLocks",
      Effect: "Allow",
      Action: "ssm:PutParameter",
      Resource: [parameter("join/*"), parameter("control-plane/init-lock"), parameter("control-plane/rollout/lock"), parameter("control-plane/rollout/status")],
    });
    expect(statements[3]).toEqual({ Sid: "ReleaseRolloutLock", Effect: "Allow", Action: "ssm:DeleteParameter", Resource: parameter("control-plane/rollout/lock") });
    expect(statements[4]).toMatchObject({ Condition: { StringEquals: { "kms:ViaService": ["secretsmanager.eu-west-1.amazonaws.com", "ssm.eu-west-1.amazonaws.com"] } } });
  });

  it("conditions the cloud controller's changes on the cluster tag", () => {
    const statements = policyOf(synth, "cloud-controller-manager").Statement as any[];
    for (const s of statements.filter((s) => s.Resource === "*" && s.Sid !== "CloudControllerReads")) {
      expect(JSON.stringify(s.Condition)).toContain("kubernetes.io/cluster/prod");
    }
    for (const s of statements) expect([s.Action].flat().every((a: string) => a !== "*" && !a.endsWith(":*"))).toBe(true);
  });

  it("lets a node mark unhealthy, and replace itself in, only the control-plane groups; a group holds a second instance only for a successor", () => {
    const groups = "arn:aws:autoscaling:eu-west-1:111122223333:autoScalingGroup:*:autoScalingGroupName/prod-control-plane*";
    expect(policyOf(synth, "self-healing").Statement).toEqual([
      { Sid: "MarkOwnGroupUnhealthy", Effect: "Allow", Action: "autoscaling:SetInstanceHealth", Resource: groups },
      // Describe calls take no resource-level permissions.
      { Sid: "FindOwnGroup", Effect: "Allow", Action: ["autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeAutoScalingGroups"], Resource: "*" },
      { Sid: "ReplaceSelfInOwnGroup", Effect: "Allow", Action: ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"], Resource: groups },
    ]);
    expect(synth.resources("aws_autoscaling_group").map((g) => [g.values.min_size, g.values.desired_capacity, g.values.max_size])).toEqual([
      [1, 1, 2],
      [1, 1, 2],
      [1, 1, 2],
    ]);
  });

  it("adds an internet-facing NLB open only to the allow-listed CIDRs when asked", () => {
    const open = synthControlPlane({ apiServer: { publicAccess: { allowedCidrs: ["203.0.113.0/24"] } } });
    const lbs = open.resources("aws_lb").map((l) => l.values);
    expect(lbs.map((l) => [l.name, l.internal])).toEqual([["prod-api", true], ["prod-api-public", false]]);
    const internetRules = open.resources("aws_vpc_security_group_ingress_rule").map((r) => r.values).filter((r) => r.cidr_ipv4);
    expect(internetRules).toEqual([expect.objectContaining({ cidr_ipv4: "203.0.113.0/24", from_port: 6443, to_port: 6443 })]);
    for (const group of open.resources("aws_autoscaling_group")) expect(group.values.target_group_arns).toHaveLength(2);
    expect(decodeUserData(open.only("aws_launch_template").values.user_data)).toContain("PUBLIC_LB_NAME='prod-api-public'");
  });

  it("spreads 5 nodes over 3 zones round robin", () => {
    expect(synthControlPlane({ count: 5 }).resources("aws_autoscaling_group")).toHaveLength(5);
  });

  it("leaves the cluster-wide services to ClusterServices: node-artifacts bucket, log groups, alarm topic, dashboard, add-on specification, termination queue", () => {
    const pathsOf = (type: string) => synth.resources(type).map((r) => r.path);
    const shared = [
      ...pathsOf("aws_s3_bucket").filter((p) => p.includes("node-artifacts")),
      ...pathsOf("aws_cloudwatch_log_group").filter((p) => !p.startsWith("test/network/")),
      ...pathsOf("aws_sns_topic"),
      ...pathsOf("aws_cloudwatch_dashboard"),
      ...pathsOf("aws_sqs_queue"),
      addonSpecObject(synth).path,
    ];
    expect(shared).toHaveLength(9);
    expect(shared.filter((p) => !p.startsWith("test/services/"))).toEqual([]);
    // What stays: the nodes, their endpoint and their secrets.
    expect(bundleObject(synth).path).toBe("test/control-plane/bundle");
    expect(synth.resources("aws_secretsmanager_secret").every((r) => r.path.startsWith("test/control-plane/"))).toBe(true);
  });

  it("refuses the services of another cluster, and a second control plane on the same services", () => {
    const compose = (servicesOf: string, controlPlanes: string[]) =>
      synthStack((stack) => {
        const key = new ClusterKey(stack, "key", { clusterName: "prod" });
        const network = new ClusterNetwork(stack, "network", { clusterName: "prod", availabilityZones: ZONES, encryptionKey: key });
        const services = new ClusterServices(stack, "services", { clusterName: servicesOf, encryptionKey: key });
        for (const id of controlPlanes) new ControlPlane(stack, id, { clusterName: "prod", network, services });
      });
    expect(() => compose("staging", ["control-plane"])).toThrow('services: belong to cluster "staging", not "prod"');
    expect(() => compose("prod", ["control-plane", "another"])).toThrow(
      "services: the cluster services of prod already serve a control plane; create one ClusterServices per cluster",
    );
  });

  it("rejects an even count at synth", () => {
    expect(() => synthControlPlane({ count: 2 })).toThrow("count: 2 is not allowed; use 1, 3 or 5");
  });

  it("rejects pod and VPC CIDRs that overlap at synth", () => {
    expect(() => synthControlPlane({ podCidr: "10.0.0.0/16" })).toThrow("podCidr: 10.0.0.0/16 overlaps the VPC CIDR 10.0.0.0/16");
  });
});

describe("who may read the cluster's secrets", () => {
  const policyText = (synth: Synthesized, purpose: "pki" | "admin-kubeconfig"): string => {
    const secret = synth.resources("aws_secretsmanager_secret").find((s) => s.values.name === `k8s/prod/${purpose}`)!;
    return synth.resources("aws_secretsmanager_secret_policy").find((p) => p.values.secret_arn === Synthesized.ref("aws_secretsmanager_secret", secret, "arn"))!.values.policy;
  };
  const secretPolicy = (synth: Synthesized, purpose: "pki" | "admin-kubeconfig") => policyStatements(policyText(synth, purpose));
  const role = (synth: Synthesized) =>
    Synthesized.ref("aws_iam_role", synth.resources("aws_iam_role").find((r) => r.values.name === "prod-control-plane")!, "arn");

  it("denies reading the PKI to every principal but the control-plane role, and writing it to all but the control plane and the deployer", () => {
    const synth = synthControlPlane();
    const statements = secretPolicy(synth, "pki");
    // Each statement: who it exempts from a denial of which actions, whatever their IAM policies allow.
    expect(statements.map((st) => [st.Sid, st.Action, st.Condition.ArnNotLike["aws:PrincipalArn"]])).toEqual([
      ["OnlyControlPlaneNodesReadThePki", "secretsmanager:GetSecretValue", [role(synth)]],
      ["OnlyControlPlaneNodesAndTheDeployerWriteValues", ["secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"], [role(synth), ...DEPLOYER]],
      ["OnlyTheDeployerAndAdminsManageTheSecret", SECRET_MANAGEMENT, DEPLOYER],
    ]);
    for (const st of statements) expect(st).toMatchObject({ Effect: "Deny", Principal: { AWS: "*" }, Resource: "*" });
    // Everything that could plant a value or lift these denials.
    for (const action of ["UpdateSecret", "DeleteSecret", "PutResourcePolicy", "DeleteResourcePolicy"]) expect(SECRET_MANAGEMENT).toContain(`secretsmanager:${action}`);
    expect(secretPolicy(synth, "admin-kubeconfig").slice(1)).toEqual(secretPolicy(synth, "pki").slice(1));
  });

  it("lets only the named principals and the control plane read the admin kubeconfig; the deployer still writes, and it and the named admins manage", () => {
    const admins = ["arn:aws:iam::111122223333:role/platform/*", "arn:aws:iam::111122223333:user/alice"];
    const synth = synthControlPlane({ adminAccess: { principalArns: admins } });
    const [read, write, manage] = secretPolicy(synth, "admin-kubeconfig");
    expect(read).toMatchObject({ Effect: "Deny", Principal: { AWS: "*" }, Action: "secretsmanager:GetSecretValue" });
    expect(read.Condition.ArnNotLike["aws:PrincipalArn"]).toEqual([role(synth), ...admins]);
    expect(write.Condition.ArnNotLike["aws:PrincipalArn"]).toEqual([role(synth), ...DEPLOYER]);
    // The admins are the break-glass: Secrets Manager has no root escape when the deploying principal changes.
    expect(manage.Condition.ArnNotLike["aws:PrincipalArn"]).toEqual([...DEPLOYER, ...admins]);
    expect(secretPolicy(synth, "pki")[2].Condition.ArnNotLike["aws:PrincipalArn"]).toEqual([...DEPLOYER, ...admins]);
  });

  it("by default names the deploying principal, an assumed role's session turned into its role, as terraform evaluates it", () => {
    const synth = synthControlPlane();
    // The policy is JSON once Terraform has evaluated the interpolations, which carry quotes of their own.
    const text = policyText(synth, "admin-kubeconfig");
    expect(text).toContain(`"aws:PrincipalArn":["${role(synth)}","\${replace(`);
    expect(synth.dataSources("aws_caller_identity")).toHaveLength(1);
    // The same two expressions in each statement that names the deployer.
    const deployer = [...new Set([...text.matchAll(/\$\{replace\(data\.aws_caller_identity[^}]*\)\}/g)].map((m) => m[0]))];
    expect(deployer).toHaveLength(2);
    // Evaluate the expressions with terraform itself, the caller ARN standing in for the data source.
    const evaluate = (callerArn: string) =>
      deployer.map((expression) => {
        const hcl = expression.replace(/^\$\{(.*)\}$/, "$1").replace(/data\.aws_caller_identity\.[\w-]+\.arn/g, JSON.stringify(callerArn));
        const out = spawnSync("terraform", ["console"], { input: `${hcl}\n`, encoding: "utf8", cwd: tempDir("console") });
        expect({ status: out.status, stderr: out.stderr }).toEqual({ status: 0, stderr: expect.any(String) });
        return JSON.parse(out.stdout);
      });
    expect(evaluate("arn:aws:sts::111122223333:assumed-role/PlatformAdmin/alice@example.com")).toEqual([
      "arn:aws:iam::111122223333:role/PlatformAdmin",
      "arn:aws:iam::111122223333:role/*/PlatformAdmin",
    ]);
    expect(evaluate("arn:aws:iam::111122223333:user/ci")).toEqual(["arn:aws:iam::111122223333:user/ci", "arn:aws:iam::111122223333:user/ci"]);
  });

  it("lets only the deployer, and the node-group deployers it names, write the node-artifacts bucket", () => {
    const writers = (synth: Synthesized) => {
      const bucket = synth.resources("aws_s3_bucket").find((b) => b.values.bucket.startsWith("prod-nodes-"))!;
      const policy = synth.resources("aws_s3_bucket_policy").find((p) => p.values.bucket === Synthesized.ref("aws_s3_bucket", bucket))!;
      return policyStatements(policy.values.policy).find((st) => st.Sid === "OnlyNamedPrincipalsWrite")!.Condition.ArnNotLike["aws:PrincipalArn"];
    };
    expect(writers(synthControlPlane())).toEqual(DEPLOYER);
    const team = "arn:aws:iam::111122223333:role/team-data/deployer";
    expect(writers(synthControlPlane({}, { nodeArtifactWriterArns: [team] }))).toEqual([...DEPLOYER, team]);
    expect(() => synthControlPlane({}, { nodeArtifactWriterArns: ["team-data"] })).toThrow('nodeArtifactWriterArns: "team-data" is not an IAM role or user ARN');
  });

  it("keeps the control-plane role's inline policies under IAM's limit by making add-on permissions managed policies: the cloud controller's, and the other controllers' without workload identity", () => {
    const managed = (synth: Synthesized) => synth.resources("aws_iam_policy").map((p) => p.values.name).sort();
    const synth = synthControlPlane();
    expect(managed(synth)).toEqual(["prod-control-plane-cloud-controller-manager"]);
    expect(synth.resources("aws_iam_role_policy_attachment")).toHaveLength(1);
    const off = synthControlPlane({ workloadIdentity: false });
    expect(managed(off)).toEqual(["prod-control-plane-cloud-controller-manager", "prod-control-plane-cluster-autoscaler", "prod-control-plane-ebs-csi-driver", "prod-control-plane-node-termination-handler"]);
    expect(off.resources("aws_iam_role_policy_attachment")).toHaveLength(4);
  });

  it("stores the add-on specification the test fixture renders, so tests that run the fixture's run what nodes get", () => {
    for (const options of [{}, { workloadIdentity: false }, { addons: { clusterAutoscaler: { enabled: false } } }]) {
      expect(addonSpecObject(synthControlPlane(options)).values.content).toBe(addonSpec(options));
    }
  });
});

describe("kube-apiserver configuration files on control-plane nodes", () => {
  const synth = synthControlPlane({ apiServer: { podSecurity: { enforce: "restricted" } } });
  const bundle = untarGz(Buffer.from(bundleObject(synth).values.content_base64, "base64"));

  it("ships the authentication and admission configurations, private, with the chosen Pod Security level", () => {
    expect(bundle["/etc/kubernetes/apiserver/authentication.yaml"]).toContain("kind: AuthenticationConfiguration");
    expect(bundle["/etc/kubernetes/apiserver/admission.yaml"]).toContain("enforce: restricted");
    const files = controlPlaneNode(controlPlaneBootstrap({})).files.filter((f) => f.path.startsWith("/etc/kubernetes/apiserver/"));
    expect(files.map((f) => [f.path, f.permissions])).toEqual([
      ["/etc/kubernetes/apiserver/authentication.yaml", "0600"],
      ["/etc/kubernetes/apiserver/admission.yaml", "0600"],
    ]);
  });
});
