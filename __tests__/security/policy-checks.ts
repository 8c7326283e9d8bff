import { gunzipSync } from "node:zlib";
import { NODE_FLOWS, NodeFlow, NodeKind } from "../../lib/control-plane/security-groups";
import { PlannedResource, referencedAddress } from "../helpers/plan";

/**
 * Our own AWS checks over an offline plan: only those that go beyond checkov,
 * which runs on the same plans for real (checkov.test.ts). They hold what is
 * specific to this cluster (the cluster key, the API target groups, the key
 * grants nodes need), what checkov misses on the resource types we use
 * (launch-template volumes, standalone security group rules), and limits AWS
 * enforces only at apply. Each check has a stable id, says why checkov does
 * not cover it, and reports the resource address with the offending value.
 * Ids and reasons are listed in SECURITY.md.
 */

export interface Finding {
  readonly check: string;
  readonly address: string;
  readonly detail: string;
}

/** A plan as the checks read it: planned values, plus the synthesized configuration for values known only at apply. */
export interface PlanUnderReview {
  readonly resources: PlannedResource[];
  /** Synthesized Terraform JSON by resource address ("aws_iam_role_policy.x"), with `${...}` references left in. */
  readonly configuration: Record<string, Record<string, any>>;
}

export interface PolicyCheck {
  readonly id: string;
  readonly title: string;
  /** Why checkov does not cover this, with the checkov ids that come closest. */
  readonly beyondCheckov: string;
  readonly run: (plan: PlanUnderReview) => Finding[];
}

/** EC2 user data limit (bytes, before base64), SSM standard-tier value limit, IAM policy size limits (characters without whitespace). */
export const AWS_LIMITS = {
  userDataBytes: 16384,
  ssmStandardValueBytes: 4096,
  inlineRolePoliciesChars: 10240,
  managedPolicyChars: 6144,
} as const;

/** Name length limits of AWS, by resource type and attribute. */
export const NAME_LIMITS: Record<string, { attribute: string; max: number }> = {
  aws_lb: { attribute: "name", max: 32 },
  aws_lb_target_group: { attribute: "name", max: 32 },
  aws_iam_role: { attribute: "name", max: 64 },
  aws_iam_instance_profile: { attribute: "name", max: 128 },
  aws_iam_role_policy: { attribute: "name", max: 128 },
  aws_iam_policy: { attribute: "name", max: 128 },
  aws_autoscaling_group: { attribute: "name", max: 255 },
  aws_launch_template: { attribute: "name", max: 128 },
  aws_security_group: { attribute: "name", max: 255 },
  aws_s3_bucket: { attribute: "bucket", max: 63 },
  aws_sqs_queue: { attribute: "name", max: 80 },
  aws_sns_topic: { attribute: "name", max: 256 },
  aws_cloudwatch_log_group: { attribute: "name", max: 512 },
  aws_cloudwatch_event_rule: { attribute: "name", max: 64 },
  aws_cloudwatch_metric_alarm: { attribute: "alarm_name", max: 255 },
  aws_cloudwatch_dashboard: { attribute: "dashboard_name", max: 255 },
  aws_secretsmanager_secret: { attribute: "name", max: 512 },
  aws_ssm_parameter: { attribute: "name", max: 1011 },
  aws_kms_alias: { attribute: "name", max: 256 },
  aws_autoscaling_lifecycle_hook: { attribute: "name", max: 255 },
};

/** Ports that must never be open to the internet: SSH, the API, etcd, the kubelet. */
export const ADMIN_PORTS = [22, 6443, 2379, 2380, 10250];

const ADMIN_POLICIES = /:policy\/(AdministratorAccess|PowerUserAccess|IAMFullAccess)$/;
const PUBLIC_CIDRS = ["0.0.0.0/0", "::/0"];

type Statement = { Sid?: string; Effect: string; Action?: string | string[]; Resource?: string | string[]; Principal?: unknown; Condition?: Record<string, Record<string, unknown>> };

const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
const ofType = (plan: PlanUnderReview, ...types: string[]) => plan.resources.filter((r) => types.includes(r.type));
const finding = (check: string, address: string, detail: string): Finding => ({ check, address, detail });
const show = (value: unknown) => JSON.stringify(value ?? null);

/** The cluster's KMS keys: every `aws_kms_key` of the plan. */
function clusterKeys(plan: PlanUnderReview): string[] {
  return ofType(plan, "aws_kms_key").map((k) => k.address);
}

/** Whether an attribute references one of the cluster keys (directly, or through its alias). */
function usesClusterKey(plan: PlanUnderReview, resource: PlannedResource, attribute: string): boolean {
  const keys = clusterKeys(plan);
  const aliases = ofType(plan, "aws_kms_alias")
    .filter((a) => referencedAddress(a.references.target_key_id).some((k) => keys.includes(k)))
    .map((a) => a.address);
  return referencedAddress(resource.references[attribute]).some((ref) => keys.includes(ref) || aliases.includes(ref));
}

/** A policy document of a resource, from the plan or, when known only at apply, from the synthesized configuration. */
function policyOf(plan: PlanUnderReview, resource: PlannedResource, attribute = "policy"): { Statement: Statement[] } | undefined {
  const text = typeof resource.values[attribute] === "string" ? resource.values[attribute] : plan.configuration[resource.address]?.[attribute];
  if (typeof text !== "string" || text === "") return undefined;
  const doc = parsePolicyText(text) as { Statement: Statement | Statement[] };
  return { Statement: list(doc.Statement) };
}

/**
 * A policy document's JSON, as synthesized: a Terraform expression in it (the
 * deployer's ARN) carries quotes of its own, which become single quotes, so
 * the expression stays readable and the JSON parses.
 */
export function parsePolicyText(text: string): any {
  return JSON.parse(text.replace(/\$\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\}/g, (expression) => expression.replace(/"/g, "'")));
}

/** Resources of a type that belong to a bucket, by the bucket's address. */
function bucketParts(plan: PlanUnderReview, type: string): Map<string, PlannedResource> {
  return new Map(ofType(plan, type).flatMap((r) => referencedAddress(r.references.bucket).map((bucket) => [bucket, r] as [string, PlannedResource])));
}

function portsOf(rule: Record<string, any>): { all: boolean; from: number; to: number } {
  const protocol = String(rule.ip_protocol ?? rule.protocol ?? "");
  if (protocol === "-1" || protocol === "all") return { all: true, from: 0, to: 65535 };
  const from = Number(rule.from_port ?? 0);
  const to = Number(rule.to_port ?? 65535);
  return { all: from <= 0 && to >= 65535, from, to };
}

/** Ingress and egress rules, standalone or inline, with the CIDRs they open. */
function sgRules(plan: PlanUnderReview, direction: "ingress" | "egress"): Array<{ address: string; rule: Record<string, any>; cidrs: string[] }> {
  const standalone = ofType(plan, `aws_vpc_security_group_${direction}_rule`).map((r) => ({
    address: r.address,
    rule: r.values,
    cidrs: [r.values.cidr_ipv4, r.values.cidr_ipv6].filter(Boolean),
  }));
  const legacy = ofType(plan, "aws_security_group_rule")
    .filter((r) => r.values.type === direction)
    .map((r) => ({ address: r.address, rule: r.values, cidrs: [...list(r.values.cidr_blocks), ...list(r.values.ipv6_cidr_blocks)] }));
  const inline = ofType(plan, "aws_security_group").flatMap((g) =>
    list<Record<string, any>>(g.values[direction]).map((rule, i) => ({
      address: `${g.address}.${direction}[${i}]`,
      rule,
      cidrs: [...list(rule.cidr_blocks), ...list(rule.ipv6_cidr_blocks)],
    })),
  );
  return [...standalone, ...legacy, ...inline];
}

/** Decoded user data: base64, then gunzip when compressed, as cloud-init reads it. */
export function decodeUserData(base64: string): { bytes: number; text: string } {
  const raw = Buffer.from(base64, "base64");
  const text = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw).toString("utf8") : raw.toString("utf8");
  return { bytes: raw.length, text };
}

/** The node security groups of a plan by kind, from their names (<cluster>-control-plane, <cluster>-nodes). */
function nodeSecurityGroups(plan: PlanUnderReview): Record<NodeKind, string[]> {
  const groups = ofType(plan, "aws_security_group");
  return {
    "control-plane": groups.filter((g) => String(g.values.name).endsWith("-control-plane")).map((g) => g.address),
    worker: groups.filter((g) => String(g.values.name).endsWith("-nodes")).map((g) => g.address),
  };
}

/** Does an ingress rule on `to` admit `flow` from the group `from`? */
function admits(rule: PlannedResource, flow: NodeFlow, from: string, to: string): boolean {
  const target = referencedAddress(rule.references.security_group_id);
  const source = referencedAddress(rule.references.referenced_security_group_id);
  const protocol = rule.values.ip_protocol;
  const ports = protocol === "-1" || (rule.values.from_port <= flow.port && flow.port <= rule.values.to_port);
  return target.includes(to) && source.includes(from) && (protocol === "-1" || protocol === flow.protocol) && ports;
}

export const POLICY_CHECKS: PolicyCheck[] = [
  {
    id: "KA-SG-NODE-FLOWS",
    title: "Every connection a component makes between nodes (NODE_FLOWS) is admitted by a security group rule",
    beyondCheckov: "checkov checks what rules open, never what the cluster needs open; a missing rule fails only at run time (metrics-server could not scrape workers)",
    run: (plan) => {
      const groups = nodeSecurityGroups(plan);
      const rules = ofType(plan, "aws_vpc_security_group_ingress_rule");
      return NODE_FLOWS.flatMap((flow) =>
        groups[flow.to].flatMap((to) =>
          groups[flow.from]
            .filter((from) => !rules.some((rule) => admits(rule, flow, from, to)))
            .map((from) => finding("KA-SG-NODE-FLOWS", to, `${flow.component}: no rule admits ${flow.protocol}/${flow.port} from ${from} (${flow.from} nodes)`)),
        ),
      );
    },
  },
  {
    id: "KA-CLUSTER-KEY",
    title: "Launch-template volumes, log groups, bucket default encryption, secrets, queues and topics are encrypted with the cluster key",
    beyondCheckov:
      "checkov checks that a KMS key is set (CKV_AWS_158, CKV_AWS_145, CKV_AWS_149, CKV_AWS_27, CKV_AWS_26), not which one, and checks no launch-template volume (CKV_AWS_8 covers launch configurations and instances)",
    run: (plan) => {
      const keyed = (r: PlannedResource, attribute: string, shown: unknown) => (usesClusterKey(plan, r, attribute) ? [] : [finding("KA-CLUSTER-KEY", r.address, `${attribute} = ${show(shown)}, not the cluster key`)]);
      const volumes = ofType(plan, "aws_launch_template").flatMap((t) => {
        const devices = list<Record<string, any>>(t.values.block_device_mappings);
        if (devices.length === 0) return [finding("KA-CLUSTER-KEY", t.address, "block_device_mappings = [] (the AMI's unencrypted default applies)")];
        return devices.flatMap((device, i) => {
          const ebs = list<Record<string, any>>(device.ebs)[0] ?? {};
          if (String(ebs.encrypted) !== "true") return [finding("KA-CLUSTER-KEY", t.address, `${device.device_name}: encrypted = ${show(ebs.encrypted)}`)];
          return keyed(t, `block_device_mappings.${i}.ebs.0.kms_key_id`, ebs.kms_key_id);
        });
      });
      const buckets = ofType(plan, "aws_s3_bucket_server_side_encryption_configuration").flatMap((c) => {
        const sse = list<Record<string, any>>(list<Record<string, any>>(c.values.rule)[0]?.apply_server_side_encryption_by_default)[0];
        if (sse?.sse_algorithm !== "aws:kms") return [finding("KA-CLUSTER-KEY", c.address, `default encryption = ${show(sse)}`)];
        return keyed(c, "rule.0.apply_server_side_encryption_by_default.0.kms_master_key_id", sse.kms_master_key_id);
      });
      const unencryptedBuckets = ofType(plan, "aws_s3_bucket")
        .filter((b) => !bucketParts(plan, "aws_s3_bucket_server_side_encryption_configuration").has(b.address))
        .map((b) => finding("KA-CLUSTER-KEY", b.address, "no aws_s3_bucket_server_side_encryption_configuration"));
      return [
        ...volumes,
        ...buckets,
        ...unencryptedBuckets,
        ...ofType(plan, "aws_cloudwatch_log_group", "aws_secretsmanager_secret").flatMap((r) => keyed(r, "kms_key_id", r.values.kms_key_id)),
        ...ofType(plan, "aws_sqs_queue", "aws_sns_topic").flatMap((r) => keyed(r, "kms_master_key_id", r.values.kms_master_key_id)),
      ];
    },
  },
  {
    id: "KA-EC2-USER-DATA-SIZE",
    title: `User data fits EC2's ${AWS_LIMITS.userDataBytes}-byte limit`,
    beyondCheckov: "no scanner checks it: AWS rejects it only at apply",
    run: (plan) =>
      ofType(plan, "aws_launch_template").flatMap((t) => {
        if (typeof t.values.user_data !== "string") return [finding("KA-EC2-USER-DATA-SIZE", t.address, "user_data is unknown at plan time, so its size cannot be checked")];
        const { bytes } = decodeUserData(t.values.user_data);
        return bytes > AWS_LIMITS.userDataBytes ? [finding("KA-EC2-USER-DATA-SIZE", t.address, `user data is ${bytes} bytes`)] : [];
      }),
  },
  {
    id: "KA-SG-NO-PUBLIC-ADMIN-INGRESS",
    title: `No ingress from 0.0.0.0/0 or ::/0 to ports ${ADMIN_PORTS.join(", ")}, all ports or all protocols`,
    beyondCheckov: "checkov looks at ports 22, 80 and 3389 only (CKV_AWS_24, CKV_AWS_260, CKV_AWS_25), and its all-ports check (CKV_AWS_277) misses an all-protocol aws_vpc_security_group_ingress_rule",
    run: (plan) =>
      sgRules(plan, "ingress").flatMap(({ address, rule, cidrs }) => {
        const open = cidrs.filter((c) => PUBLIC_CIDRS.includes(c));
        if (open.length === 0) return [];
        const ports = portsOf(rule);
        const hit = ports.all ? "all ports" : ADMIN_PORTS.filter((p) => p >= ports.from && p <= ports.to).join(", ");
        return hit ? [finding("KA-SG-NO-PUBLIC-ADMIN-INGRESS", address, `${open.join(", ")} to ${hit} (${show(rule.ip_protocol ?? rule.protocol)} ${ports.from}-${ports.to})`)] : [];
      }),
  },
  {
    id: "KA-SG-NO-PUBLIC-EGRESS",
    title: "No egress to 0.0.0.0/0 or ::/0",
    beyondCheckov: "checkov flags public egress only on all ports (CKV_AWS_382), and not on an all-protocol aws_vpc_security_group_egress_rule",
    run: (plan) =>
      sgRules(plan, "egress").flatMap(({ address, rule, cidrs }) =>
        cidrs.filter((c) => PUBLIC_CIDRS.includes(c)).map((c) => finding("KA-SG-NO-PUBLIC-EGRESS", address, `egress to ${c} (${show(rule.ip_protocol ?? rule.protocol)})`)),
      ),
  },
  {
    id: "KA-KMS-SERVICE-GRANTS",
    title: "KMS key policies let CloudWatch Logs and Auto Scaling use the key",
    beyondCheckov: "cluster-specific: without these statements log groups and node volumes fail at apply or at launch; checkov checks only that a policy exists and has no open principal (CKV2_AWS_64, CKV_AWS_33)",
    run: (plan) =>
      ofType(plan, "aws_kms_key").flatMap((k) => {
        const policy = policyOf(plan, k);
        if (!policy) return [finding("KA-KMS-SERVICE-GRANTS", k.address, "policy is not set: the default key policy grants no service")];
        const principals = JSON.stringify(policy.Statement.map((s) => s.Principal));
        const conditions = JSON.stringify(policy.Statement.map((s) => s.Condition));
        return [
          ...(principals.includes('"logs.') ? [] : [finding("KA-KMS-SERVICE-GRANTS", k.address, "no statement lets CloudWatch Logs use the key")]),
          ...(conditions.includes("AWSServiceRoleForAutoScaling") ? [] : [finding("KA-KMS-SERVICE-GRANTS", k.address, "no statement lets Auto Scaling use the key for volumes")]),
        ];
      }),
  },
  {
    id: "KA-S3-TLS-ONLY",
    title: "Bucket policies deny requests without TLS",
    beyondCheckov: "checkov has no such check for private buckets (CKV_AWS_379 looks at public ones only)",
    run: (plan) => {
      const policies = bucketParts(plan, "aws_s3_bucket_policy");
      return ofType(plan, "aws_s3_bucket").flatMap((b) => {
        const policy = policies.get(b.address);
        const doc = policy && policyOf(plan, policy);
        const deniesPlainHttp = doc?.Statement.some((s) => s.Effect === "Deny" && JSON.stringify(s.Condition ?? {}).includes('"aws:SecureTransport":"false"'));
        return deniesPlainHttp ? [] : [finding("KA-S3-TLS-ONLY", b.address, "no bucket policy statement denies aws:SecureTransport = false")];
      });
    },
  },
  {
    id: "KA-S3-CLUSTER-KEY-UPLOADS",
    title: "Bucket policies refuse uploads that ask for other encryption than the cluster key",
    beyondCheckov: "checkov checks a bucket's default encryption (CKV_AWS_145), which a request header overrides; no check reads the bucket policy for it",
    run: (plan) => {
      const policies = bucketParts(plan, "aws_s3_bucket_policy");
      const keys = clusterKeys(plan);
      const SSE = "s3:x-amz-server-side-encryption";
      const KEY_ID = `${SSE}-aws-kms-key-id`;
      return ofType(plan, "aws_s3_bucket").flatMap((b) => {
        const denials = (policies.get(b.address) && policyOf(plan, policies.get(b.address)!))?.Statement.filter((st) => st.Effect === "Deny" && list(st.Action).includes("s3:PutObject")) ?? [];
        const refuses = (what: string, condition: (c: NonNullable<Statement["Condition"]>) => boolean) =>
          denials.some((st) => st.Condition && condition(st.Condition)) ? [] : [finding("KA-S3-CLUSTER-KEY-UPLOADS", b.address, `no statement denies uploads that ${what}`)];
        return [
          ...refuses("ask for SSE-S3", (c) => c.StringNotEquals?.[SSE] === "aws:kms" && c.Null?.[SSE] === "false"),
          ...refuses("name another KMS key than the cluster key", (c) => keys.some((k) => String(c.StringNotEquals?.[KEY_ID]).includes(`${k}.arn`)) && c.Null?.[KEY_ID] === "false"),
          ...refuses("ask for SSE-KMS without naming a key (S3 would use aws/s3)", (c) => c.StringEquals?.[SSE] === "aws:kms" && c.Null?.[KEY_ID] === "true"),
        ];
      });
    },
  },
  {
    id: "KA-S3-TRUSTED-WRITERS",
    title: "Buckets whose objects nodes trust or keep (node artifacts, etcd snapshots) deny writes and deletes to all but named principals",
    beyondCheckov: "cluster-specific: checkov has no notion of which principal may write a bucket nodes run code from (its CKV_AWS_70 only looks for public principals)",
    run: (plan) => {
      const policies = bucketParts(plan, "aws_s3_bucket_policy");
      return ofType(plan, "aws_s3_bucket")
        .filter((b) => /-(nodes|etcd)-/.test(String(b.values.bucket)))
        .flatMap((b) => {
          const statements = (policies.get(b.address) && policyOf(plan, policies.get(b.address)!))?.Statement ?? [];
          const guarded = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"].filter(
            (action) => !statements.some((st) => st.Effect === "Deny" && st.Principal === "*" && list(st.Action).includes(action) && list(st.Condition?.ArnNotLike?.["aws:PrincipalArn"] as string[]).length > 0),
          );
          return guarded.map((action) => finding("KA-S3-TRUSTED-WRITERS", b.address, `no statement denies ${action} to principals other than named ones`));
        });
    },
  },
  {
    id: "KA-S3-ETCD-SNAPSHOTS",
    title: "etcd snapshots are never overwritten, are read only by named principals, and stay recoverable for their retention",
    beyondCheckov: "cluster-specific: checkov checks versioning and lifecycle exist (CKV_AWS_21, CKV2_AWS_61), not conditional writes, readers or how long old versions stay",
    run: (plan) => {
      const policies = bucketParts(plan, "aws_s3_bucket_policy");
      const lifecycles = bucketParts(plan, "aws_s3_bucket_lifecycle_configuration");
      return ofType(plan, "aws_s3_bucket")
        .filter((b) => /-etcd-/.test(String(b.values.bucket)))
        .flatMap((b) => {
          const statements = (policies.get(b.address) && policyOf(plan, policies.get(b.address)!))?.Statement ?? [];
          const denies = (action: string, condition: (c: Statement["Condition"]) => boolean) =>
            statements.some((st) => st.Effect === "Deny" && st.Principal === "*" && list(st.Action).includes(action) && condition(st.Condition));
          const rules = list<Record<string, any>>(lifecycles.get(b.address)?.values.rule).filter((r) => r.expiration?.[0]?.days);
          return [
            ...(denies("s3:PutObject", (c) => c?.Null?.["s3:if-none-match"] === "true") ? [] : [finding("KA-S3-ETCD-SNAPSHOTS", b.address, "no statement denies uploads without If-None-Match")]),
            ...(denies("s3:GetObject", (c) => list(c?.ArnNotLike?.["aws:PrincipalArn"] as string[]).length > 0) ? [] : [finding("KA-S3-ETCD-SNAPSHOTS", b.address, "no statement denies reads to principals other than named ones")]),
            ...rules
              .filter((r) => !(r.noncurrent_version_expiration?.[0]?.noncurrent_days >= r.expiration[0].days))
              .map((r) => finding("KA-S3-ETCD-SNAPSHOTS", b.address, `rule ${show(r.id)} keeps old versions ${show(r.noncurrent_version_expiration?.[0]?.noncurrent_days)} days, under its retention of ${r.expiration[0].days}`)),
          ];
        });
    },
  },
  {
    id: "KA-SECRETS-GUARDED",
    title: "Secret policies deny writing a value, and changing or deleting the secret or its policy, to all but named principals",
    beyondCheckov: "checkov checks the key and rotation of a secret (CKV_AWS_149, CKV2_AWS_57), not who may replace its value",
    run: (plan) => {
      const policies = new Map(ofType(plan, "aws_secretsmanager_secret_policy").flatMap((p) => referencedAddress(p.references.secret_arn).map((s) => [s, p] as [string, PlannedResource])));
      const guarded = ["PutSecretValue", "UpdateSecret", "DeleteSecret", "PutResourcePolicy", "DeleteResourcePolicy"].map((a) => `secretsmanager:${a}`);
      return ofType(plan, "aws_secretsmanager_secret").flatMap((secret) => {
        const statements = (policies.get(secret.address) && policyOf(plan, policies.get(secret.address)!))?.Statement ?? [];
        return guarded
          .filter((action) => !statements.some((st) => st.Effect === "Deny" && list(st.Action).includes(action) && list(st.Condition?.ArnNotLike?.["aws:PrincipalArn"] as string[]).length > 0))
          .map((action) => finding("KA-SECRETS-GUARDED", secret.address, `no statement denies ${action} to principals other than named ones`));
      });
    },
  },
  {
    id: "KA-SSM-TERRAFORM-VALUES",
    title: "No identity policy lets nodes write an SSM parameter whose value Terraform sets (the add-on specification's checksum, the bundle control-plane nodes roll to)",
    beyondCheckov: "cluster-specific: which parameters Terraform owns is known only from the plan's lifecycle; checkov has no check across parameters and policies",
    run: (plan) => {
      // Parameters whose value Terraform keeps (nodes write only those whose changes Terraform ignores).
      const owned = ofType(plan, "aws_ssm_parameter").filter((p) => plan.configuration[p.address]?.lifecycle?.ignore_changes === undefined);
      return identityPolicies(plan).flatMap(({ address, statements }) =>
        statements
          .filter((st) => st.Effect === "Allow" && list(st.Action).some((a) => /^ssm:(PutParameter|\*)$/.test(a) || a === "*"))
          .flatMap((st) =>
            owned
              .filter((p) => list(st.Resource).some((r) => r === "*" || globMatches(r.split(":parameter")[1] ?? "", String(p.values.name))))
              .map((p) => finding("KA-SSM-TERRAFORM-VALUES", address, `statement ${show(st.Sid)} lets nodes write ${p.values.name}`)),
          ),
      );
    },
  },
  {
    id: "KA-IAM-NO-WILDCARD-ACTION",
    title: 'Identity policies allow no "*" or "service:*" action',
    beyondCheckov: 'checkov flags only a bare "*" (CKV_AWS_63); "s3:*" on a named resource passes every checkov check',
    run: (plan) =>
      identityPolicies(plan).flatMap(({ address, statements }) =>
        statements
          .filter((s) => s.Effect === "Allow")
          .flatMap((s) => list(s.Action).filter((a) => a === "*" || a.endsWith(":*")).map((a) => finding("KA-IAM-NO-WILDCARD-ACTION", address, `statement ${show(s.Sid)} allows ${a}`))),
      ),
  },
  {
    id: "KA-IAM-PASSROLE-SCOPED",
    title: "iam:PassRole names the roles it passes",
    beyondCheckov: 'checkov\'s privilege-escalation check (CKV_AWS_286) passes iam:PassRole on "role/*"',
    run: (plan) =>
      identityPolicies(plan).flatMap(({ address, statements }) =>
        statements
          .filter((s) => s.Effect === "Allow" && list(s.Action).some((a) => /^iam:(PassRole|\*)$/.test(a) || a === "*"))
          .filter((s) => list(s.Resource).length === 0 || list(s.Resource).some((r) => r === "*" || r.endsWith(":role/*")))
          .map((s) => finding("KA-IAM-PASSROLE-SCOPED", address, `statement ${show(s.Sid)} passes ${show(s.Resource)}`)),
      ),
  },
  {
    id: "KA-IAM-NO-ADMIN-POLICY",
    title: "No administrator managed policy is attached",
    beyondCheckov: "checkov knows AdministratorAccess and IAMFullAccess (CKV_AWS_274, CKV2_AWS_56), not PowerUserAccess",
    run: (plan) =>
      [...ofType(plan, "aws_iam_role_policy_attachment", "aws_iam_policy_attachment").map((a) => ({ address: a.address, arns: [a.values.policy_arn] })),
        ...ofType(plan, "aws_iam_role").map((r) => ({ address: r.address, arns: list<string>(r.values.managed_policy_arns) }))]
        .flatMap(({ address, arns }) => arns.filter((arn) => ADMIN_POLICIES.test(String(arn))).map((arn) => finding("KA-IAM-NO-ADMIN-POLICY", address, `attaches ${arn}`))),
  },
  {
    id: "KA-IAM-POLICY-SIZE",
    title: `Inline policies of a role stay under ${AWS_LIMITS.inlineRolePoliciesChars} characters, managed policies under ${AWS_LIMITS.managedPolicyChars}`,
    beyondCheckov: "no scanner checks it: IAM rejects oversized policies only at apply",
    run: (plan) => {
      const size = (text: string) => text.replace(/\s/g, "").length;
      const byRole = new Map<string, number>();
      for (const p of ofType(plan, "aws_iam_role_policy")) {
        const text = typeof p.values.policy === "string" ? p.values.policy : plan.configuration[p.address]?.policy;
        const role = referencedAddress(p.references.role)[0] ?? p.values.role;
        byRole.set(role, (byRole.get(role) ?? 0) + size(String(text ?? "")));
      }
      const roles = [...byRole].filter(([, total]) => total > AWS_LIMITS.inlineRolePoliciesChars).map(([role, total]) => finding("KA-IAM-POLICY-SIZE", role, `inline policies total ${total} characters`));
      const managed = ofType(plan, "aws_iam_policy")
        .map((p) => ({ p, chars: size(String(p.values.policy ?? plan.configuration[p.address]?.policy ?? "")) }))
        .filter(({ chars }) => chars > AWS_LIMITS.managedPolicyChars)
        .map(({ p, chars }) => finding("KA-IAM-POLICY-SIZE", p.address, `policy is ${chars} characters`));
      return [...roles, ...managed];
    },
  },
  {
    id: "KA-IAM-WEB-IDENTITY-ONE-ACCOUNT",
    title: "A role that service-account tokens assume trusts exactly one service account, for the STS audience",
    beyondCheckov: "checkov checks the subject of GitHub's OIDC provider only (CKV_AWS_358); for another provider, a trust without a sub condition passes",
    run: (plan) =>
      ofType(plan, "aws_iam_role").flatMap((role) =>
        (policyOf(plan, role, "assume_role_policy")?.Statement ?? [])
          .filter((s) => s.Effect === "Allow" && list(s.Action).some((a) => a === "sts:AssumeRoleWithWebIdentity" || a === "sts:*" || a === "*"))
          .flatMap((s) => {
            const equals = (s.Condition?.StringEquals ?? {}) as Record<string, unknown>;
            const key = (suffix: string) => Object.keys(equals).filter((k) => k.endsWith(suffix));
            const subjects = key(":sub").flatMap((k) => list(equals[k] as string | string[]));
            const audiences = key(":aud").flatMap((k) => list(equals[k] as string | string[]));
            const problems = [
              ...(subjects.length === 1 && /^system:serviceaccount:[a-z0-9-]+:[a-z0-9-]+$/.test(String(subjects[0])) ? [] : [`sub ${show(subjects)}`]),
              ...(audiences.length === 1 && audiences[0] === "sts.amazonaws.com" ? [] : [`aud ${show(audiences)}`]),
              ...Object.keys(s.Condition ?? {}).filter((operator) => operator !== "StringEquals").map((operator) => `condition ${operator}`),
            ];
            return problems.length ? [finding("KA-IAM-WEB-IDENTITY-ONE-ACCOUNT", role.address, `statement ${show(s.Sid)}: ${problems.join(", ")}`)] : [];
          }),
      ),
  },
  {
    id: "KA-SSM-SECURE-STRING",
    title: `SSM parameters that hold anything sensitive are SecureString under the cluster key; values fit the standard tier (${AWS_LIMITS.ssmStandardValueBytes} bytes)`,
    beyondCheckov: "checkov checks the type and that some KMS key is set (CKV2_AWS_34, CKV_AWS_337), not sensitive names, the cluster key or the tier's size limit",
    run: (plan) =>
      ofType(plan, "aws_ssm_parameter").flatMap((p) => {
        const sensitive = /token|key|secret|password|kubeconfig|credential|cert/i.test(String(p.values.name));
        const out: Finding[] = [];
        if (p.values.type === "SecureString" && !usesClusterKey(plan, p, "key_id")) out.push(finding("KA-SSM-SECURE-STRING", p.address, `key_id = ${show(p.values.key_id)}`));
        if (sensitive && p.values.type !== "SecureString") out.push(finding("KA-SSM-SECURE-STRING", p.address, `sensitive name ${show(p.values.name)} with type ${show(p.values.type)}`));
        const bytes = Buffer.byteLength(String(p.values.value ?? p.values.insecure_value ?? ""));
        if (p.values.tier !== "Advanced" && bytes > AWS_LIMITS.ssmStandardValueBytes) out.push(finding("KA-SSM-SECURE-STRING", p.address, `value is ${bytes} bytes`));
        return out;
      }),
  },
  {
    id: "KA-LB-INTERNAL",
    title: "Load balancers are internal",
    beyondCheckov: "checkov has no such check (trivy's AVD-AWS-0053 is one)",
    run: (plan) =>
      ofType(plan, "aws_lb")
        .filter((lb) => lb.values.internal !== true)
        .map((lb) => finding("KA-LB-INTERNAL", lb.address, `internal = ${show(lb.values.internal)}`)),
  },
  {
    id: "KA-LB-API-NO-CLIENT-IP",
    title: "The 6443 target groups do not preserve client IPs (nodes behind them are also clients)",
    beyondCheckov: "cluster-specific: DESIGN.md rule 6",
    run: (plan) =>
      ofType(plan, "aws_lb_target_group")
        .filter((tg) => Number(tg.values.port) === 6443 && String(tg.values.preserve_client_ip) !== "false")
        .map((tg) => finding("KA-LB-API-NO-CLIENT-IP", tg.address, `preserve_client_ip = ${show(tg.values.preserve_client_ip)}`)),
  },
  {
    id: "KA-ASG-ELB-HEALTH-CHECK",
    title: "Auto Scaling groups behind a load balancer use its health check",
    beyondCheckov: "checkov's CKV2_AWS_15 does not evaluate our groups: their target groups are known only at apply",
    run: (plan) =>
      ofType(plan, "aws_autoscaling_group")
        .filter((g) => (g.references.target_group_arns ?? []).length > 0 || list(g.values.target_group_arns).length > 0)
        .filter((g) => g.values.health_check_type !== "ELB")
        .map((g) => finding("KA-ASG-ELB-HEALTH-CHECK", g.address, `health_check_type = ${show(g.values.health_check_type)}`)),
  },
  {
    id: "KA-NAME-LENGTH",
    title: "Generated names fit AWS's length limits",
    beyondCheckov: "no scanner checks it: AWS rejects long names only at apply",
    run: (plan) =>
      plan.resources.flatMap((r) => {
        const limit = NAME_LIMITS[r.type];
        const name = limit && r.values[limit.attribute];
        return typeof name === "string" && name.length > limit.max
          ? [finding("KA-NAME-LENGTH", r.address, `${limit.attribute} ${show(name)} has ${name.length} characters; AWS allows ${limit.max}`)]
          : [];
      }),
  },
];

/** Whether an IAM resource pattern ("/k8s/prod/*") matches a name. */
function globMatches(pattern: string, name: string): boolean {
  return new RegExp(`^${pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`).test(name);
}

/** Inline and managed identity policies, read from the plan or the synthesized configuration. */
function identityPolicies(plan: PlanUnderReview): Array<{ address: string; statements: Statement[] }> {
  return ofType(plan, "aws_iam_role_policy", "aws_iam_policy").map((p) => ({ address: p.address, statements: policyOf(plan, p)?.Statement ?? [] }));
}

export function runPolicyChecks(plan: PlanUnderReview, checks = POLICY_CHECKS): Finding[] {
  return checks.flatMap((check) => check.run(plan));
}
