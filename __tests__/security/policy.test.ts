import { readFileSync } from "node:fs";
import { MAX_CLUSTER_NAME_LENGTH } from "../../lib/naming";
import { PlannedResource } from "../helpers/plan";
import { applyExceptions, readExceptions, SECURITY_MD, SecurityException } from "./exceptions";
import { ReviewedStack, reviewDefaultApp, reviewMaximalCluster, LONGEST_CLUSTER_NAME } from "./plan-under-review";
import { AWS_LIMITS, decodeUserData, Finding, parsePolicyText, PlanUnderReview, POLICY_CHECKS, runPolicyChecks } from "./policy-checks";
import { findSecrets } from "./secret-scan";

const PLAN_TIMEOUT = 240_000;

describe("our own AWS checks (beyond checkov) on the offline plans", () => {
  let stacks: ReviewedStack[];
  const exceptions = readExceptions();
  const byName = (name: string) => stacks.find((s) => s.name === name)!;

  beforeAll(async () => {
    stacks = await Promise.all([reviewDefaultApp(), reviewMaximalCluster()]);
  }, PLAN_TIMEOUT);

  it.each(["default", "maximal"])("passes every check on the %s configuration, but for the exceptions in SECURITY.md", (name) => {
    const { open } = applyExceptions(runPolicyChecks(byName(name).plan), exceptions, (f) => f.address);
    expect(open).toEqual([]);
  });

  it("has no stale exception: each one in SECURITY.md excuses a finding of one of the configurations", () => {
    const used = new Set<SecurityException>();
    for (const stack of stacks) applyExceptions(runPolicyChecks(stack.plan), exceptions, (f) => f.address).used.forEach((e) => used.add(e));
    const policyExceptions = exceptions.filter((e) => POLICY_CHECKS.some((c) => c.id === e.check));
    expect(policyExceptions.filter((e) => !used.has(e))).toEqual([]);
  });

  it("plans the maximal configuration with what makes it maximal, on the longest cluster name", () => {
    expect(LONGEST_CLUSTER_NAME).toHaveLength(MAX_CLUSTER_NAME_LENGTH);
    const resources = byName("maximal").plan.resources;
    const count = (type: string) => resources.filter((r) => r.type === type).length;
    expect(count("aws_autoscaling_group")).toBe(7);
    expect(resources.filter((r) => r.type === "aws_lb").map((lb) => lb.values.internal).sort()).toEqual([false, true]);
    expect(count("aws_vpc_endpoint")).toBeGreaterThan(10);
    expect(resources.find((r) => r.type === "aws_s3_bucket" && r.values.object_lock_enabled)).toBeDefined();
    // Deletion protection, off by default (an exception in SECURITY.md), is on when asked for.
    expect(resources.filter((r) => r.type === "aws_lb").map((lb) => lb.values.enable_deletion_protection)).toEqual([true, true]);
    expect(resources.filter((r) => r.type === "aws_lb").map((lb) => lb.values.name)).toEqual(
      expect.arrayContaining([expect.stringContaining(LONGEST_CLUSTER_NAME)]),
    );
  });

  it("names every check in SECURITY.md with why it goes beyond checkov", () => {
    const doc = readFileSync(SECURITY_MD, "utf8");
    for (const check of POLICY_CHECKS) {
      const row = doc.split("\n").find((line) => line.startsWith(`| \`${check.id}\``));
      expect({ check: check.id, row }).toEqual({ check: check.id, row: expect.stringContaining(check.beyondCheckov) });
    }
  });

  it("finds no private key, bootstrap token, certificate key or encryption key in plans, synthesized Terraform, decoded user data or snapshots", () => {
    const texts: Record<string, string> = {};
    for (const stack of stacks) {
      Object.assign(texts, stack.texts);
      for (const t of stack.plan.resources.filter((r) => r.type === "aws_launch_template")) texts[`${t.address} user data`] = decodeUserData(t.values.user_data).text;
      for (const o of stack.plan.resources.filter((r) => r.type === "aws_s3_object" && typeof r.values.content === "string")) texts[`${o.address} content`] = o.values.content;
    }
    texts["cluster-stack snapshot"] = readFileSync(`${__dirname}/../app/__snapshots__/cluster-stack.test.ts.snap`, "utf8");
    expect(Object.keys(texts).some((k) => k.endsWith("user data"))).toBe(true);
    const found = Object.entries(texts).flatMap(([where, text]) => findSecrets(text).map((s) => `${where}: ${s}`));
    expect(found).toEqual([]);
  });

  describe("each check fails, naming the resource and the value, when its hardening is removed", () => {
    type Mutation = [check: string, pick: (r: PlannedResource) => boolean, change: (r: PlannedResource, plan: PlanUnderReview) => void, detail: string];
    const isType = (type: string, also: (r: PlannedResource) => boolean = () => true) => (r: PlannedResource) => r.type === type && also(r);
    const setPolicy = (r: PlannedResource, plan: PlanUnderReview, edit: (doc: any) => void, attribute = "policy") => {
      const source = typeof r.values[attribute] === "string" ? r.values : plan.configuration[r.address];
      const doc = parsePolicyText(source[attribute]);
      edit(doc);
      source[attribute] = JSON.stringify(doc);
    };
    const mutations: Mutation[] = [
      ["KA-CLUSTER-KEY", isType("aws_launch_template"), (r) => (r.values.block_device_mappings[0].ebs[0].encrypted = "false"), 'encrypted = "false"'],
      ["KA-CLUSTER-KEY", isType("aws_launch_template"), (r) => delete r.references["block_device_mappings.0.ebs.0.kms_key_id"], "not the cluster key"],
      ["KA-CLUSTER-KEY", isType("aws_launch_template"), (r) => (r.values.block_device_mappings = []), "block_device_mappings = []"],
      ["KA-CLUSTER-KEY", isType("aws_cloudwatch_log_group"), (r) => delete r.references.kms_key_id, "kms_key_id"],
      ["KA-CLUSTER-KEY", isType("aws_s3_bucket_server_side_encryption_configuration"), (r) => (r.values.rule[0].apply_server_side_encryption_by_default[0].sse_algorithm = "AES256"), '"AES256"'],
      ["KA-CLUSTER-KEY", isType("aws_s3_bucket_server_side_encryption_configuration"), (r) => delete r.references["rule.0.apply_server_side_encryption_by_default.0.kms_master_key_id"], "not the cluster key"],
      ["KA-CLUSTER-KEY", isType("aws_secretsmanager_secret"), (r) => delete r.references.kms_key_id, "kms_key_id"],
      ["KA-CLUSTER-KEY", isType("aws_sqs_queue"), (r) => delete r.references.kms_master_key_id, "kms_master_key_id"],
      ["KA-CLUSTER-KEY", isType("aws_sns_topic"), (r) => delete r.references.kms_master_key_id, "kms_master_key_id"],
      ["KA-EC2-USER-DATA-SIZE", isType("aws_launch_template"), (r) => (r.values.user_data = Buffer.alloc(AWS_LIMITS.userDataBytes + 1, 120).toString("base64")), "16385 bytes"],
      ["KA-SG-NO-PUBLIC-ADMIN-INGRESS", isType("aws_vpc_security_group_ingress_rule", (r) => r.values.from_port === 10250), (r) => (r.values.cidr_ipv4 = "0.0.0.0/0"), "0.0.0.0/0 to 10250"],
      ["KA-SG-NO-PUBLIC-ADMIN-INGRESS", isType("aws_vpc_security_group_ingress_rule", (r) => r.values.ip_protocol === "udp"), (r) => Object.assign(r.values, { cidr_ipv6: "::/0", ip_protocol: "-1", from_port: null, to_port: null }), "::/0 to all ports"],
      // The rule metrics-server on workers needs to scrape other workers' kubelets, which was missing before.
      ["KA-SG-NODE-FLOWS", isType("aws_security_group", (r) => String(r.values.name).endsWith("-nodes")), (_, plan) => {
        plan.resources.splice(plan.resources.findIndex((x) => x.address.includes("worker-kubelet-from-workers")), 1);
      }, "metrics-server to kubelets: no rule admits tcp/10250"],
      ["KA-SG-NO-PUBLIC-EGRESS", isType("aws_vpc_security_group_egress_rule", (r) => r.address.includes("lb-to-control-plane")), (r) => (r.values.cidr_ipv4 = "0.0.0.0/0"), "egress to 0.0.0.0/0"],
      ["KA-KMS-SERVICE-GRANTS", isType("aws_kms_key"), (r, plan) => setPolicy(r, plan, (d) => (d.Statement = d.Statement.filter((s: any) => !JSON.stringify(s.Principal).includes("logs.")))), "CloudWatch Logs"],
      ["KA-KMS-SERVICE-GRANTS", isType("aws_kms_key"), (r, plan) => setPolicy(r, plan, (d) => (d.Statement = d.Statement.filter((s: any) => !JSON.stringify(s.Condition ?? {}).includes("AWSServiceRoleForAutoScaling")))), "Auto Scaling"],
      ["KA-S3-TLS-ONLY", isType("aws_s3_bucket_policy"), (r, plan) => setPolicy(r, plan, (d) => (d.Statement = d.Statement.filter((s: any) => s.Effect !== "Deny"))), "aws:SecureTransport"],
      ...(
        [
          ["DenyUploadsWithOtherEncryption", "SSE-S3"],
          ["DenyUploadsWithAnotherKey", "another KMS key"],
          ["DenyKmsUploadsWithoutTheKey", "without naming a key"],
        ] as const
      ).map(
        ([sid, detail]): Mutation => [
          "KA-S3-CLUSTER-KEY-UPLOADS",
          isType("aws_s3_bucket_policy"),
          (r, plan) => setPolicy(r, plan, (d) => (d.Statement = d.Statement.filter((st: any) => st.Sid !== sid))),
          detail,
        ],
      ),
      ["KA-S3-TRUSTED-WRITERS", isType("aws_s3_bucket_policy", (r) => r.address.includes("node-artifacts")), (r, plan) => setPolicy(r, plan, (d) => (d.Statement = d.Statement.filter((st: any) => st.Sid !== "OnlyNamedPrincipalsWrite"))), "denies s3:PutObject"],
      ["KA-S3-TRUSTED-WRITERS", isType("aws_s3_bucket_policy", (r) => r.address.includes("etcd-backup")), (r, plan) => setPolicy(r, plan, (d) => d.Statement.forEach((st: any) => st.Action = [st.Action].flat().filter((a: string) => a !== "s3:DeleteObjectVersion"))), "denies s3:DeleteObjectVersion"],
      ["KA-S3-ETCD-SNAPSHOTS", isType("aws_s3_bucket_policy", (r) => r.address.includes("etcd-backup")), (r, plan) => setPolicy(r, plan, (d) => (d.Statement = d.Statement.filter((st: any) => st.Sid !== "DenyOverwrites"))), "without If-None-Match"],
      ["KA-S3-ETCD-SNAPSHOTS", isType("aws_s3_bucket_policy", (r) => r.address.includes("etcd-backup")), (r, plan) => setPolicy(r, plan, (d) => (d.Statement = d.Statement.filter((st: any) => !st.Sid.endsWith("Read")))), "denies reads"],
      ["KA-S3-ETCD-SNAPSHOTS", isType("aws_s3_bucket_lifecycle_configuration", (r) => r.address.includes("etcd-backup")), (r) => (r.values.rule[0].noncurrent_version_expiration[0].noncurrent_days = 1), "keeps old versions 1 days, under its retention of 7"],
      ["KA-SECRETS-GUARDED", isType("aws_secretsmanager_secret_policy"), (r, plan) => setPolicy(r, plan, (d) => (d.Statement = d.Statement.filter((st: any) => !st.Sid.includes("Manage")))), "denies secretsmanager:PutResourcePolicy"],
      ["KA-SECRETS-GUARDED", isType("aws_secretsmanager_secret_policy"), (r, plan) => setPolicy(r, plan, (d) => (d.Statement = d.Statement.filter((st: any) => !st.Sid.includes("WriteValues")))), "denies secretsmanager:PutSecretValue"],
      // Before the add-on specification's checksum existed, nodes could write every parameter under the cluster's path.
      ["KA-SSM-TERRAFORM-VALUES", isType("aws_iam_role_policy", (r) => r.values.name === "cluster-secrets"), (r, plan) => setPolicy(r, plan, (d) => d.Statement.forEach((st: any) => st.Sid === "WriteJoinParametersAndLocks" && (st.Resource = st.Resource[0].replace("/join/*", "/*")))), "lets nodes write /k8s/"],
      ["KA-IAM-NO-WILDCARD-ACTION", isType("aws_iam_role_policy", (r) => r.values.name === "join-cluster"), (r, plan) => setPolicy(r, plan, (d) => d.Statement.push({ Sid: "All", Effect: "Allow", Action: "s3:*", Resource: "arn:aws:s3:::x" })), "allows s3:*"],
      ["KA-IAM-PASSROLE-SCOPED", isType("aws_iam_role_policy", (r) => r.values.name === "join-cluster"), (r, plan) => setPolicy(r, plan, (d) => d.Statement.push({ Sid: "Pass", Effect: "Allow", Action: "iam:PassRole", Resource: "arn:aws:iam::111122223333:role/*" })), '"Pass" passes'],
      ["KA-IAM-NO-ADMIN-POLICY", isType("aws_iam_role"), (r) => (r.values.managed_policy_arns = ["arn:aws:iam::aws:policy/PowerUserAccess"]), "PowerUserAccess"],
      ["KA-IAM-POLICY-SIZE", isType("aws_iam_role_policy", (r) => r.values.name === "join-cluster"), (r, plan) => setPolicy(r, plan, (d) => d.Statement.push({ Sid: "x".repeat(11000), Effect: "Deny", Action: "s3:GetObject", Resource: "arn:aws:s3:::x" })), "inline policies total"],
      ["KA-LB-INTERNAL", isType("aws_lb"), (r) => (r.values.internal = false), "internal = false"],
      ["KA-LB-API-NO-CLIENT-IP", isType("aws_lb_target_group"), (r) => (r.values.preserve_client_ip = "true"), 'preserve_client_ip = "true"'],
      ["KA-ASG-ELB-HEALTH-CHECK", isType("aws_autoscaling_group", (r) => r.values.name.includes("-general")), (r) => (r.references.target_group_arns = ["aws_lb_target_group.x"]), 'health_check_type = "EC2"'],
      ["KA-NAME-LENGTH", isType("aws_lb"), (r) => (r.values.name = "x".repeat(33)), "33 characters; AWS allows 32"],
    ];

    it.each(mutations)("%s", (check, pick, change, detail) => {
      const plan = structuredClone(byName("default").plan);
      const target = plan.resources.find(pick);
      expect(target).toBeDefined();
      expect(runPolicyChecks(plan).filter((f) => f.check === check && f.address.startsWith(target!.address))).toEqual([]);
      change(target!, plan);
      const findings: Finding[] = runPolicyChecks(plan).filter((f) => f.check === check);
      expect(findings).toEqual(expect.arrayContaining([{ check, address: expect.stringMatching(/^aws_/), detail: expect.stringContaining(detail) }]));
    });

    // The maximal configuration has a service account's role; the default app has none yet.
    it.each([
      ["a wildcard subject", (d: any) => (d.Statement[0].Condition.StringEquals[Object.keys(d.Statement[0].Condition.StringEquals)[0]] = "system:serviceaccount:batch:*"), "sub"],
      ["no subject", (d: any) => delete d.Statement[0].Condition.StringEquals[Object.keys(d.Statement[0].Condition.StringEquals).find((k) => k.endsWith(":sub"))!], "sub []"],
      ["the subject under StringLike", (d: any) => {
        const equals = d.Statement[0].Condition.StringEquals;
        const sub = Object.keys(equals).find((k) => k.endsWith(":sub"))!;
        d.Statement[0].Condition.StringLike = { [sub]: equals[sub] };
        delete equals[sub];
      }, "condition StringLike"],
      ["another audience", (d: any) => (d.Statement[0].Condition.StringEquals[Object.keys(d.Statement[0].Condition.StringEquals).find((k) => k.endsWith(":aud"))!] = "kubernetes"), "aud"],
    ])("KA-IAM-WEB-IDENTITY-ONE-ACCOUNT: %s", (_, edit, detail) => {
      const plan = structuredClone(byName("maximal").plan);
      const role = plan.resources.find((r) => r.type === "aws_iam_role" && String(r.values.name).includes("-sa-"))!;
      expect(role).toBeDefined();
      expect(runPolicyChecks(plan).filter((f) => f.check === "KA-IAM-WEB-IDENTITY-ONE-ACCOUNT")).toEqual([]);
      setPolicy(role, plan, edit, "assume_role_policy");
      expect(runPolicyChecks(plan).filter((f) => f.check === "KA-IAM-WEB-IDENTITY-ONE-ACCOUNT")).toEqual([
        { check: "KA-IAM-WEB-IDENTITY-ONE-ACCOUNT", address: role.address, detail: expect.stringContaining(detail) },
      ]);
    });

    it("KA-SSM-SECURE-STRING", () => {
      const plan = structuredClone(byName("default").plan);
      const key = plan.resources.find((r) => r.type === "aws_kms_key")!.address;
      const parameter = (name: string, values: Record<string, any>, keyed: boolean): PlannedResource => ({
        address: `aws_ssm_parameter.${name}`,
        type: "aws_ssm_parameter",
        values: { name: `/k8s/prod/${name}`, ...values },
        references: keyed ? { key_id: [`${key}.arn`, key] } : {},
      });
      plan.resources.push(
        parameter("ok-token", { type: "SecureString" }, true),
        parameter("join-token", { type: "String", value: "x" }, false),
        parameter("default-key", { type: "SecureString" }, false),
        parameter("big", { type: "String", value: "x".repeat(AWS_LIMITS.ssmStandardValueBytes + 1) }, false),
      );
      expect(runPolicyChecks(plan).filter((f) => f.check === "KA-SSM-SECURE-STRING")).toEqual([
        { check: "KA-SSM-SECURE-STRING", address: "aws_ssm_parameter.join-token", detail: 'sensitive name "/k8s/prod/join-token" with type "String"' },
        { check: "KA-SSM-SECURE-STRING", address: "aws_ssm_parameter.default-key", detail: "key_id = null" },
        { check: "KA-SSM-SECURE-STRING", address: "aws_ssm_parameter.big", detail: "value is 4097 bytes" },
      ]);
    });

    it("the exceptions do not hide a finding of another resource or another check", () => {
      const plan = structuredClone(byName("default").plan);
      const worker = plan.resources.find((r) => r.type === "aws_autoscaling_group" && r.values.name.includes("-general"))!;
      worker.references.target_group_arns = ["aws_lb_target_group.x"];
      const { open } = applyExceptions(runPolicyChecks(plan), exceptions, (f) => f.address);
      expect(open.map((f) => `${f.check} ${f.address}`)).toEqual([`KA-ASG-ELB-HEALTH-CHECK ${worker.address}`]);
    });
  });
});

describe("SECURITY.md exceptions", () => {
  it("are read from its table, each with a check, a scope and a reason", () => {
    const exceptions = readExceptions();
    expect(exceptions.length).toBeGreaterThan(3);
    for (const e of exceptions) expect(e.reason.length).toBeGreaterThan(20);
    expect(readExceptions("## Accepted exceptions\n\n| Check | Scope | Reason |\n|---|---|---|\n| `KA-X` | `aws_lb.*` | because of a documented reason |\n")).toEqual([
      { check: "KA-X", scope: "aws_lb.*", reason: "because of a documented reason" },
    ]);
  });
});

describe("the secret scan", () => {
  it.each([
    ["a PEM private key", "-----BEGIN RSA PRIVATE KEY-----\nMIIE"],
    ["a bootstrap token", "token: abcdef.0123456789abcdef\n"],
    ["a kubeadm certificate key", `certificateKey: ${"a1".repeat(32)}`],
    ["an encryption-at-rest key", `secret: ${Buffer.alloc(32, 7).toString("base64")}`],
    ["a client key in a kubeconfig", "client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVkt"],
  ])("finds %s", (what, text) => {
    expect(findSecrets(`harmless\n${text}\nharmless`)).toEqual([expect.stringContaining(what)]);
  });

  it("passes placeholders and public checksums", () => {
    expect(findSecrets("token: ${JOIN_TOKEN}\nsha256: " + "ab".repeat(32) + "\n")).toEqual([]);
  });
});
