import { offlineOverride } from "../../lib/plan/offline-plan";

/**
 * The Terraform override that points a synthesized stack at moto, and works
 * around what moto lacks, and nothing else. Each workaround names the
 * emulator's limit; each was told apart from a defect of ours by reading
 * moto's code and by running without it (the failure or the drift it removes
 * is quoted in its reason).
 */

export const OVERRIDE_FILE = "emulator_override.tf.json";

/** The limits of moto 5.2.5 we work around, one reason each. */
export const EMULATOR_LIMITS = {
  bucketPolicyConditions:
    "moto evaluates a bucket policy's conditions without the request's context (moto/iam/access_control.py: a condition key the request does not carry fails the statement, and a failed condition denies), " +
    "so the TLS-only (aws:SecureTransport) and KMS-only (s3:x-amz-server-side-encryption) Deny statements refuse every object request, over TLS too; the conditional statements are dropped",
  ruleDescriptions:
    "moto keeps a security group rule's description only for CIDR rules (SecurityGroupRule.description reads ip_range), so rules that reference a group read back without one",
  launchTemplateTags:
    "moto files the launch template's own tags (TagSpecifications of type launch-template on CreateLaunchTemplate) among the template data's tag specifications, so they read back as an extra tag_specifications block",
  privateZoneVpc:
    "moto makes a hosted zone private only when HostedZoneConfig.PrivateZone is true, while AWS makes a zone private when CreateHostedZone names a VPC, so the zone reads back public and without its VPC",
  mixedInstancesPolicy:
    "moto's CreateAutoScalingGroup drops MixedInstancesPolicy (UpdateAutoScalingGroup keeps it), so worker groups read back without their policy",
  objectLockVersioning:
    "moto lets versioning be suspended on an Object Lock bucket; AWS refuses (InvalidBucketState) and the provider then leaves versioning on, " +
    "so on AWS the lock configuration's removal finds versioning on, in moto it fails; naming the bucket through the versioning resource removes the lock configuration first",
} as const;

type Limit = keyof typeof EMULATOR_LIMITS;
type Resources = Record<string, Record<string, Record<string, any>>>;

interface Workaround {
  limit: Limit;
  /** Arguments that replace the resource's own; undefined if none apply to this resource. */
  override: (resource: Record<string, any>, synth: { resource?: Resources }) => Record<string, unknown> | undefined;
}

/** By resource type: the workarounds that apply to it. */
const WORKAROUNDS: Record<string, Workaround[]> = {
  aws_s3_bucket_policy: [{ limit: "bucketPolicyConditions", override: (r) => ({ policy: withoutConditionalStatements(r.policy) }) }],
  aws_autoscaling_group: [
    { limit: "mixedInstancesPolicy", override: (r) => (r.mixed_instances_policy ? { lifecycle: [{ ignore_changes: ["mixed_instances_policy"] }] } : undefined) },
  ],
  aws_vpc_security_group_ingress_rule: [
    { limit: "ruleDescriptions", override: (r) => (r.referenced_security_group_id ? { lifecycle: [{ ignore_changes: ["description"] }] } : undefined) },
  ],
  aws_vpc_security_group_egress_rule: [
    { limit: "ruleDescriptions", override: (r) => (r.referenced_security_group_id ? { lifecycle: [{ ignore_changes: ["description"] }] } : undefined) },
  ],
  aws_launch_template: [{ limit: "launchTemplateTags", override: () => ({ lifecycle: [{ ignore_changes: ["tag_specifications"] }] }) }],
  aws_s3_bucket_object_lock_configuration: [{ limit: "objectLockVersioning", override: (r, synth) => ({ bucket: throughVersioning(r.bucket, synth) }) }],
  aws_route53_zone: [{ limit: "privateZoneVpc", override: (r) => (r.vpc ? { lifecycle: [{ ignore_changes: ["vpc"] }] } : undefined) }],
};

/**
 * The override for a synthesized stack (cdk.tf.json, parsed): provider
 * endpoints at `url`, placeholder credentials, local state, and the
 * workarounds, each resource's reasons in its "//" key. Also returns which
 * limits applied, so a test can show that none is unused.
 */
export function emulatorOverride(synth: { provider?: { aws?: Array<{ alias?: string }> }; resource?: Resources }, url: string) {
  const base = offlineOverride(synth.provider?.aws ?? [{}], { url });
  const provider = {
    aws: base.provider.aws.map((p) => ({
      ...p,
      // moto takes any key; these name what they are in its request log.
      access_key: "emulator",
      secret_key: "emulator",
      // moto answers STS and IAM: with the account known, the provider reads rules that reference a group
      // of the same account back as "sg-..." rather than "<account>/sg-...".
      skip_requesting_account_id: false,
      // Bucket names as hostnames (bucket.127.0.0.1) do not resolve: address buckets by path.
      s3_use_path_style: true,
    })),
  };
  const resource: Resources = {};
  const applied = new Set<Limit>();
  for (const [type, workarounds] of Object.entries(WORKAROUNDS)) {
    for (const [name, block] of Object.entries(synth.resource?.[type] ?? {})) {
      const reasons: string[] = [];
      let merged: Record<string, any> = {};
      for (const { limit, override } of workarounds) {
        const args = override(block, synth);
        if (!args) continue;
        applied.add(limit);
        reasons.push(`${limit}: ${EMULATOR_LIMITS[limit]}`);
        // Two workarounds may both set lifecycle.ignore_changes: keep both lists.
        const ignore = [...(merged.lifecycle?.[0]?.ignore_changes ?? []), ...((args.lifecycle as any)?.[0]?.ignore_changes ?? [])];
        merged = { ...merged, ...args, ...(ignore.length ? { lifecycle: [{ ignore_changes: ignore }] } : {}) };
      }
      if (reasons.length) (resource[type] ??= {})[name] = { "//": reasons, ...merged };
    }
  }
  return {
    override: {
      "//": "Runs this stack against the moto AWS emulator. Each overridden resource names, under \"//\", the emulator limit it works around.",
      terraform: [{ backend: { local: { path: "emulator.tfstate" } } }],
      provider,
      ...(Object.keys(resource).length ? { resource } : {}),
    },
    applied: [...applied].sort(),
  };
}

/** `${aws_s3_bucket.x.id}` to `${aws_s3_bucket_versioning.y.bucket}`, the same name, read through the bucket's versioning resource. */
function throughVersioning(bucketExpression: string, synth: { resource?: Resources }): string {
  const versioning = Object.entries(synth.resource?.aws_s3_bucket_versioning ?? {}).find(([, v]) => v.bucket === bucketExpression);
  if (!versioning) throw new Error(`no aws_s3_bucket_versioning for the Object Lock bucket ${bucketExpression}`);
  return `\${aws_s3_bucket_versioning.${versioning[0]}.bucket}`;
}

/** The policy without its conditional statements; a placeholder that moto evaluates correctly if none is left. */
function withoutConditionalStatements(policy: string): string {
  // Interpolations such as the account id sit inside JSON strings, and Terraform fills them in. Those with quotes of
  // their own (the deployer's ARN) stand aside while the document is parsed, and come back unchanged.
  const expressions: string[] = [];
  const text = policy.replace(/\$\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\}/g, (expression) => `<expression ${expressions.push(expression) - 1}>`);
  const doc = JSON.parse(text) as { Version?: string; Statement: Array<Record<string, any>> };
  const kept = doc.Statement.filter((s) => !s.Condition);
  const bucketArn = [doc.Statement[0].Resource].flat()[0].replace(/\/\*$/, "");
  // A bucket-level action: moto checks bucket policies on object requests only, so this never refuses one.
  const placeholder = { Sid: "EmulatorPlaceholder", Effect: "Deny", Principal: "*", Action: "s3:PutBucketAcl", Resource: bucketArn };
  return JSON.stringify({ ...doc, Statement: kept.length ? kept : [placeholder] }).replace(/<expression (\d+)>/g, (_, i) => expressions[Number(i)]);
}
