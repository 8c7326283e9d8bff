import { gunzipSync } from "node:zlib";
import { PlannedResource, referencedAddress } from "../helpers/plan";

/**
 * AWS security checks over an offline plan, in the spirit of checkov and
 * trivy, with the gaps they leave filled (launch-template EBS encryption,
 * all-protocol rules, sizes AWS rejects only at apply). Each check has a
 * stable id, cites the scanner ids it mirrors, and reports the resource
 * address with the offending value. Ids and citations are listed in SECURITY.md.
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
  /** checkov and trivy ids this check mirrors, or why none does. */
  readonly mirrors: string;
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

/**
 * Actions for which the AWS Service Authorization Reference lists no resource
 * type: `"Resource": "*"` is the only way to grant them.
 */
export const ACTIONS_WITHOUT_RESOURCE_TYPES = [
  /^ec2:Describe[A-Za-z]+$/,
  /^ec2:GetInstanceTypesFromInstanceRequirements$/,
  /^autoscaling:Describe[A-Za-z]+$/,
  /^elasticloadbalancing:Describe[A-Za-z]+$/,
  /^ecr:GetAuthorizationToken$/,
  /^cloudwatch:PutMetricData$/,
];

const ADMIN_POLICIES = /:policy\/(AdministratorAccess|PowerUserAccess|IAMFullAccess)$/;
const TAG_CONDITION = /^(aws:ResourceTag|aws:RequestTag|[a-z0-9-]+:ResourceTag)\//;
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
  const doc = JSON.parse(text) as { Statement: Statement | Statement[] };
  return { Statement: list(doc.Statement) };
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

export const POLICY_CHECKS: PolicyCheck[] = [
  {
    id: "KA-EC2-IMDSV2",
    title: "Launch templates require IMDSv2 with a hop limit of 1",
    mirrors: "checkov CKV_AWS_79, CKV_AWS_341; trivy AVD-AWS-0130",
    run: (plan) =>
      ofType(plan, "aws_launch_template").flatMap((t) => {
        const options = list<Record<string, any>>(t.values.metadata_options)[0] ?? {};
        const ok = options.http_tokens === "required" && Number(options.http_put_response_hop_limit) === 1 && options.http_endpoint !== "disabled";
        return ok ? [] : [finding("KA-EC2-IMDSV2", t.address, `metadata_options = ${show(options)}`)];
      }),
  },
  {
    id: "KA-EC2-NO-PUBLIC-IP",
    title: "Nodes get no public IP address",
    mirrors: "checkov CKV_AWS_88 (trivy AVD-AWS-0009 covers launch configurations only)",
    run: (plan) =>
      ofType(plan, "aws_launch_template").flatMap((t) =>
        list<Record<string, any>>(t.values.network_interfaces)
          .filter((n) => String(n.associate_public_ip_address) === "true")
          .map((n) => finding("KA-EC2-NO-PUBLIC-IP", t.address, `network_interfaces.associate_public_ip_address = ${show(n.associate_public_ip_address)}`)),
      ),
  },
  {
    id: "KA-EC2-EBS-CLUSTER-KEY",
    title: "Every launch-template block device is encrypted with the cluster key",
    mirrors: "none: checkov CKV_AWS_8 and trivy AVD-AWS-0008 check launch configurations, not launch templates",
    run: (plan) =>
      ofType(plan, "aws_launch_template").flatMap((t) => {
        const devices = list<Record<string, any>>(t.values.block_device_mappings);
        if (devices.length === 0) return [finding("KA-EC2-EBS-CLUSTER-KEY", t.address, "block_device_mappings = [] (the AMI's unencrypted default applies)")];
        return devices.flatMap((device, i) => {
          const ebs = list<Record<string, any>>(device.ebs)[0] ?? {};
          if (String(ebs.encrypted) !== "true") return [finding("KA-EC2-EBS-CLUSTER-KEY", t.address, `${device.device_name}: encrypted = ${show(ebs.encrypted)}`)];
          if (!usesClusterKey(plan, t, `block_device_mappings.${i}.ebs.0.kms_key_id`)) {
            return [finding("KA-EC2-EBS-CLUSTER-KEY", t.address, `${device.device_name}: kms_key_id = ${show(ebs.kms_key_id)}, not the cluster key`)];
          }
          return [];
        });
      }),
  },
  {
    id: "KA-EC2-USER-DATA-SIZE",
    title: `User data fits EC2's ${AWS_LIMITS.userDataBytes}-byte limit`,
    mirrors: "none: AWS rejects it only at apply",
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
    mirrors: "checkov CKV_AWS_24, CKV_AWS_277; trivy AVD-AWS-0107 (both only for 22/3389 and all ports)",
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
    mirrors: "checkov CKV_AWS_382; trivy AVD-AWS-0104",
    run: (plan) =>
      sgRules(plan, "egress").flatMap(({ address, rule, cidrs }) =>
        cidrs.filter((c) => PUBLIC_CIDRS.includes(c)).map((c) => finding("KA-SG-NO-PUBLIC-EGRESS", address, `egress to ${c} (${show(rule.ip_protocol ?? rule.protocol)})`)),
      ),
  },
  {
    id: "KA-SG-DESCRIPTIONS",
    title: "Every security group and rule has a description",
    mirrors: "checkov CKV_AWS_23; trivy AVD-AWS-0099, AVD-AWS-0124",
    run: (plan) => {
      const missing = (d: unknown) => typeof d !== "string" || d.trim() === "" || d === "Managed by Terraform";
      const groups = ofType(plan, "aws_security_group")
        .filter((g) => missing(g.values.description))
        .map((g) => finding("KA-SG-DESCRIPTIONS", g.address, `description = ${show(g.values.description)}`));
      const rules = [...sgRules(plan, "ingress"), ...sgRules(plan, "egress")]
        .filter(({ rule }) => missing(rule.description))
        .map(({ address, rule }) => finding("KA-SG-DESCRIPTIONS", address, `description = ${show(rule.description)}`));
      return [...groups, ...rules];
    },
  },
  {
    id: "KA-VPC-DEFAULT-SG-CLOSED",
    title: "Every VPC we create has its default security group stripped of all rules",
    mirrors: "checkov CKV2_AWS_12 (trivy AVD-AWS-0173 never fires on Terraform)",
    run: (plan) =>
      ofType(plan, "aws_vpc").flatMap((vpc) => {
        const defaults = ofType(plan, "aws_default_security_group").filter((g) => referencedAddress(g.references.vpc_id).includes(vpc.address));
        if (defaults.length === 0) return [finding("KA-VPC-DEFAULT-SG-CLOSED", vpc.address, "no aws_default_security_group manages its default group")];
        return defaults
          .filter((g) => list(g.values.ingress).length + list(g.values.egress).length > 0)
          .map((g) => finding("KA-VPC-DEFAULT-SG-CLOSED", g.address, `ingress = ${show(g.values.ingress)}, egress = ${show(g.values.egress)}`));
      }),
  },
  {
    id: "KA-VPC-FLOW-LOGS",
    title: "Every VPC we create has flow logs",
    mirrors: "checkov CKV2_AWS_11; trivy AVD-AWS-0178",
    run: (plan) =>
      ofType(plan, "aws_vpc")
        .filter((vpc) => !ofType(plan, "aws_flow_log").some((f) => referencedAddress(f.references.vpc_id).includes(vpc.address)))
        .map((vpc) => finding("KA-VPC-FLOW-LOGS", vpc.address, "no aws_flow_log references it")),
  },
  {
    id: "KA-LOGS-CLUSTER-KEY",
    title: "Log groups are encrypted with the cluster key",
    mirrors: "checkov CKV_AWS_158; trivy AVD-AWS-0017",
    run: (plan) =>
      ofType(plan, "aws_cloudwatch_log_group")
        .filter((g) => !usesClusterKey(plan, g, "kms_key_id"))
        .map((g) => finding("KA-LOGS-CLUSTER-KEY", g.address, `kms_key_id = ${show(g.values.kms_key_id)}`)),
  },
  {
    id: "KA-LOGS-RETENTION",
    title: "Log groups have a retention period",
    mirrors: "checkov CKV_AWS_66",
    run: (plan) =>
      ofType(plan, "aws_cloudwatch_log_group")
        .filter((g) => !(Number(g.values.retention_in_days) > 0))
        .map((g) => finding("KA-LOGS-RETENTION", g.address, `retention_in_days = ${show(g.values.retention_in_days)}`)),
  },
  {
    id: "KA-KMS-ROTATION",
    title: "KMS keys rotate",
    mirrors: "checkov CKV_AWS_7; trivy AVD-AWS-0065",
    run: (plan) =>
      ofType(plan, "aws_kms_key")
        .filter((k) => k.values.enable_key_rotation !== true)
        .map((k) => finding("KA-KMS-ROTATION", k.address, `enable_key_rotation = ${show(k.values.enable_key_rotation)}`)),
  },
  {
    id: "KA-KMS-POLICY",
    title: "KMS keys have an explicit policy with no unconditioned \"*\" principal, and statements for CloudWatch Logs and Auto Scaling",
    mirrors: "checkov CKV_AWS_33, CKV2_AWS_64",
    run: (plan) =>
      ofType(plan, "aws_kms_key").flatMap((k) => {
        const policy = policyOf(plan, k);
        if (!policy) return [finding("KA-KMS-POLICY", k.address, "policy is not set: the default key policy applies")];
        const wildcard = policy.Statement.filter((s) => s.Effect === "Allow" && !s.Condition && list((s.Principal as any)?.AWS ?? s.Principal).includes("*"));
        const principals = JSON.stringify(policy.Statement.map((s) => s.Principal));
        const conditions = JSON.stringify(policy.Statement.map((s) => s.Condition));
        return [
          ...wildcard.map((s) => finding("KA-KMS-POLICY", k.address, `statement ${show(s.Sid)} allows Principal "*" without a condition`)),
          ...(principals.includes('"logs.') ? [] : [finding("KA-KMS-POLICY", k.address, "no statement lets CloudWatch Logs use the key")]),
          ...(conditions.includes("AWSServiceRoleForAutoScaling") ? [] : [finding("KA-KMS-POLICY", k.address, "no statement lets Auto Scaling use the key for volumes")]),
        ];
      }),
  },
  {
    id: "KA-S3-PUBLIC-ACCESS-BLOCK",
    title: "Buckets block all four kinds of public access",
    mirrors: "checkov CKV_AWS_53, CKV_AWS_54, CKV_AWS_55, CKV_AWS_56, CKV2_AWS_6; trivy AVD-AWS-0086, 0087, 0091, 0093, 0094",
    run: (plan) => {
      const blocks = bucketParts(plan, "aws_s3_bucket_public_access_block");
      const flags = ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"];
      return ofType(plan, "aws_s3_bucket").flatMap((b) => {
        const block = blocks.get(b.address);
        if (!block) return [finding("KA-S3-PUBLIC-ACCESS-BLOCK", b.address, "no aws_s3_bucket_public_access_block")];
        const off = flags.filter((f) => block.values[f] !== true);
        return off.length ? [finding("KA-S3-PUBLIC-ACCESS-BLOCK", block.address, `${off.join(", ")} not true`)] : [];
      });
    },
  },
  {
    id: "KA-S3-OWNERSHIP-ENFORCED",
    title: "Buckets disable ACLs (BucketOwnerEnforced)",
    mirrors: "checkov CKV2_AWS_65",
    run: (plan) => {
      const controls = bucketParts(plan, "aws_s3_bucket_ownership_controls");
      return ofType(plan, "aws_s3_bucket").flatMap((b) => {
        const ownership = list<Record<string, any>>(controls.get(b.address)?.values.rule)[0]?.object_ownership;
        return ownership === "BucketOwnerEnforced" ? [] : [finding("KA-S3-OWNERSHIP-ENFORCED", b.address, `object_ownership = ${show(ownership)}`)];
      });
    },
  },
  {
    id: "KA-S3-VERSIONING",
    title: "Buckets are versioned",
    mirrors: "checkov CKV_AWS_21; trivy AVD-AWS-0090",
    run: (plan) => {
      const versioning = bucketParts(plan, "aws_s3_bucket_versioning");
      return ofType(plan, "aws_s3_bucket").flatMap((b) => {
        const status = list<Record<string, any>>(versioning.get(b.address)?.values.versioning_configuration)[0]?.status;
        return status === "Enabled" ? [] : [finding("KA-S3-VERSIONING", b.address, `versioning status = ${show(status)}`)];
      });
    },
  },
  {
    id: "KA-S3-CLUSTER-KEY",
    title: "Buckets encrypt by default with aws:kms and the cluster key",
    mirrors: "checkov CKV_AWS_145; trivy AVD-AWS-0132",
    run: (plan) => {
      const encryption = bucketParts(plan, "aws_s3_bucket_server_side_encryption_configuration");
      return ofType(plan, "aws_s3_bucket").flatMap((b) => {
        const config = encryption.get(b.address);
        const rule = list<Record<string, any>>(config?.values.rule)[0];
        const sse = list<Record<string, any>>(rule?.apply_server_side_encryption_by_default)[0];
        const keyed = config !== undefined && usesClusterKey(plan, config, "rule.0.apply_server_side_encryption_by_default.0.kms_master_key_id");
        return sse?.sse_algorithm === "aws:kms" && keyed ? [] : [finding("KA-S3-CLUSTER-KEY", b.address, `default encryption = ${show(sse)}`)];
      });
    },
  },
  {
    id: "KA-S3-TLS-ONLY",
    title: "Bucket policies deny requests without TLS",
    mirrors: "none in general: checkov CKV_AWS_379 only looks at public buckets; trivy has no such check",
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
    id: "KA-S3-LIFECYCLE",
    title: "Buckets have lifecycle rules",
    mirrors: "checkov CKV2_AWS_61",
    run: (plan) => {
      const lifecycles = bucketParts(plan, "aws_s3_bucket_lifecycle_configuration");
      return ofType(plan, "aws_s3_bucket")
        .filter((b) => list(lifecycles.get(b.address)?.values.rule).length === 0)
        .map((b) => finding("KA-S3-LIFECYCLE", b.address, "no lifecycle rule"));
    },
  },
  {
    id: "KA-IAM-NO-WILDCARD-ACTION",
    title: 'Identity policies allow no "*" or "service:*" action',
    mirrors: "checkov CKV_AWS_63, CKV_AWS_62 (trivy AVD-AWS-0057 is deprecated)",
    run: (plan) =>
      identityPolicies(plan).flatMap(({ address, statements }) =>
        statements
          .filter((s) => s.Effect === "Allow")
          .flatMap((s) => list(s.Action).filter((a) => a === "*" || a.endsWith(":*")).map((a) => finding("KA-IAM-NO-WILDCARD-ACTION", address, `statement ${show(s.Sid)} allows ${a}`))),
      ),
  },
  {
    id: "KA-IAM-NO-WILDCARD-RESOURCE",
    title: 'Identity policies use Resource "*" only for actions without resource types, or under a tag condition',
    mirrors: "checkov CKV_AWS_355, CKV_AWS_290",
    run: (plan) =>
      identityPolicies(plan).flatMap(({ address, statements }) =>
        statements
          .filter((s) => s.Effect === "Allow" && list(s.Resource).includes("*"))
          .filter((s) => !Object.values(s.Condition ?? {}).some((c) => Object.keys(c).some((key) => TAG_CONDITION.test(key))))
          .flatMap((s) => {
            const scopable = list(s.Action).filter((a) => !ACTIONS_WITHOUT_RESOURCE_TYPES.some((re) => re.test(a)));
            return scopable.length ? [finding("KA-IAM-NO-WILDCARD-RESOURCE", address, `statement ${show(s.Sid)} grants ${scopable.join(", ")} on "*"`)] : [];
          }),
      ),
  },
  {
    id: "KA-IAM-PASSROLE-SCOPED",
    title: "iam:PassRole names the roles it passes",
    mirrors: "checkov CKV_AWS_286 (privilege escalation)",
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
    mirrors: "checkov CKV_AWS_274, CKV_AWS_62",
    run: (plan) =>
      [...ofType(plan, "aws_iam_role_policy_attachment", "aws_iam_policy_attachment").map((a) => ({ address: a.address, arns: [a.values.policy_arn] })),
        ...ofType(plan, "aws_iam_role").map((r) => ({ address: r.address, arns: list<string>(r.values.managed_policy_arns) }))]
        .flatMap(({ address, arns }) => arns.filter((arn) => ADMIN_POLICIES.test(String(arn))).map((arn) => finding("KA-IAM-NO-ADMIN-POLICY", address, `attaches ${arn}`))),
  },
  {
    id: "KA-IAM-POLICY-SIZE",
    title: `Inline policies of a role stay under ${AWS_LIMITS.inlineRolePoliciesChars} characters, managed policies under ${AWS_LIMITS.managedPolicyChars}`,
    mirrors: "none: IAM rejects oversized policies only at apply",
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
    id: "KA-SSM-SECURE-STRING",
    title: `SSM parameters that hold anything sensitive are SecureString under the cluster key; values fit the standard tier (${AWS_LIMITS.ssmStandardValueBytes} bytes)`,
    mirrors: "checkov CKV2_AWS_34, CKV_AWS_337",
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
    id: "KA-SECRETS-CLUSTER-KEY",
    title: "Secrets Manager secrets use the cluster key",
    mirrors: "checkov CKV_AWS_149; trivy AVD-AWS-0098",
    run: (plan) =>
      ofType(plan, "aws_secretsmanager_secret")
        .filter((s) => !usesClusterKey(plan, s, "kms_key_id"))
        .map((s) => finding("KA-SECRETS-CLUSTER-KEY", s.address, `kms_key_id = ${show(s.values.kms_key_id)}`)),
  },
  {
    id: "KA-SQS-SNS-CLUSTER-KEY",
    title: "Queues and topics are encrypted with the cluster key",
    mirrors: "checkov CKV_AWS_27, CKV_AWS_26, CKV2_AWS_73; trivy AVD-AWS-0096, 0095, 0135, 0136",
    run: (plan) =>
      ofType(plan, "aws_sqs_queue", "aws_sns_topic")
        .filter((q) => !usesClusterKey(plan, q, "kms_master_key_id"))
        .map((q) => finding("KA-SQS-SNS-CLUSTER-KEY", q.address, `kms_master_key_id = ${show(q.values.kms_master_key_id)}`)),
  },
  {
    id: "KA-LB-CROSS-ZONE",
    title: "Network load balancers balance across zones",
    mirrors: "checkov CKV_AWS_152",
    run: (plan) =>
      ofType(plan, "aws_lb")
        .filter((lb) => lb.values.enable_cross_zone_load_balancing !== true)
        .map((lb) => finding("KA-LB-CROSS-ZONE", lb.address, `enable_cross_zone_load_balancing = ${show(lb.values.enable_cross_zone_load_balancing)}`)),
  },
  {
    id: "KA-LB-DELETION-PROTECTION",
    title: "Load balancers are protected from deletion",
    mirrors: "checkov CKV_AWS_150",
    run: (plan) =>
      ofType(plan, "aws_lb")
        .filter((lb) => lb.values.enable_deletion_protection !== true)
        .map((lb) => finding("KA-LB-DELETION-PROTECTION", lb.address, `enable_deletion_protection = ${show(lb.values.enable_deletion_protection)}`)),
  },
  {
    id: "KA-LB-INTERNAL",
    title: "Load balancers are internal",
    mirrors: "trivy AVD-AWS-0053",
    run: (plan) =>
      ofType(plan, "aws_lb")
        .filter((lb) => lb.values.internal !== true)
        .map((lb) => finding("KA-LB-INTERNAL", lb.address, `internal = ${show(lb.values.internal)}`)),
  },
  {
    id: "KA-LB-API-NO-CLIENT-IP",
    title: "The 6443 target groups do not preserve client IPs (nodes behind them are also clients)",
    mirrors: "none: DESIGN.md rule 6",
    run: (plan) =>
      ofType(plan, "aws_lb_target_group")
        .filter((tg) => Number(tg.values.port) === 6443 && String(tg.values.preserve_client_ip) !== "false")
        .map((tg) => finding("KA-LB-API-NO-CLIENT-IP", tg.address, `preserve_client_ip = ${show(tg.values.preserve_client_ip)}`)),
  },
  {
    id: "KA-ASG-ELB-HEALTH-CHECK",
    title: "Auto Scaling groups behind a load balancer use its health check",
    mirrors: "checkov CKV2_AWS_15",
    run: (plan) =>
      ofType(plan, "aws_autoscaling_group")
        .filter((g) => (g.references.target_group_arns ?? []).length > 0 || list(g.values.target_group_arns).length > 0)
        .filter((g) => g.values.health_check_type !== "ELB")
        .map((g) => finding("KA-ASG-ELB-HEALTH-CHECK", g.address, `health_check_type = ${show(g.values.health_check_type)}`)),
  },
  {
    id: "KA-NAME-LENGTH",
    title: "Generated names fit AWS's length limits",
    mirrors: "none: AWS rejects long names only at apply",
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

/** Inline and managed identity policies, read from the plan or the synthesized configuration. */
function identityPolicies(plan: PlanUnderReview): Array<{ address: string; statements: Statement[] }> {
  return ofType(plan, "aws_iam_role_policy", "aws_iam_policy").map((p) => ({ address: p.address, statements: policyOf(plan, p)?.Statement ?? [] }));
}

export function runPolicyChecks(plan: PlanUnderReview, checks = POLICY_CHECKS): Finding[] {
  return checks.flatMap((check) => check.run(plan));
}
