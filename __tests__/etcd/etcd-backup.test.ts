import { resolveControlPlaneSettings } from "../../lib/control-plane/settings";
import { OBJECT_WRITES } from "../../lib/private-bucket";
import { synthControlPlane } from "../helpers/control-plane-stack";
import { DEPLOYER, Synthesized, policyStatements } from "../helpers/synth";

const synth = synthControlPlane;

const backupAlarm = (s: Synthesized) => s.resources("aws_cloudwatch_metric_alarm").find((a) => a.values.alarm_name === "prod-etcd-backup-stale")!;
const backupBucket = (s: Synthesized) => s.resources("aws_s3_bucket").find((b) => b.values.bucket.includes("-etcd-"))!;
const forBucket = (s: Synthesized, type: string) => {
  const bucket = backupBucket(s);
  return s.resources(type).find((r) => r.values.bucket === Synthesized.ref("aws_s3_bucket", bucket))!.values;
};

describe("EtcdBackup", () => {
  const s = synth();

  it("creates a bucket named after cluster, account and region", () => {
    expect(backupBucket(s).values.bucket).toBe("prod-etcd-111122223333-eu-west-1");
  });

  it("encrypts with the cluster key, versions, blocks public access and enforces ownership", () => {
    expect(forBucket(s, "aws_s3_bucket_server_side_encryption_configuration").rule[0]).toMatchObject({
      apply_server_side_encryption_by_default: { sse_algorithm: "aws:kms", kms_master_key_id: expect.stringMatching(/aws_kms_key\.key_.*\.arn/) },
    });
    expect(forBucket(s, "aws_s3_bucket_versioning").versioning_configuration).toEqual({ status: "Enabled" });
    expect(forBucket(s, "aws_s3_bucket_public_access_block")).toMatchObject({ block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true });
    expect(forBucket(s, "aws_s3_bucket_ownership_controls").rule).toEqual({ object_ownership: "BucketOwnerEnforced" });
  });

  it("denies plain HTTP, other encryption than the cluster key, overwrites, and writes or reads by anyone but the control plane and the deployer", () => {
    const bucket = "arn:aws:s3:::prod-etcd-111122223333-eu-west-1";
    const controlPlaneRole = "arn:aws:iam::111122223333:role/prod-control-plane";
    const statements = policyStatements(forBucket(s, "aws_s3_bucket_policy").policy);
    expect(statements.map((st) => [st.Sid, st.Effect, st.Action, st.Condition])).toEqual([
      ["DenyInsecureTransport", "Deny", "s3:*", { Bool: { "aws:SecureTransport": "false" } }],
      ["DenyUploadsWithOtherEncryption", "Deny", "s3:PutObject", { StringNotEquals: { "s3:x-amz-server-side-encryption": "aws:kms" }, Null: { "s3:x-amz-server-side-encryption": "false" } }],
      [
        "DenyUploadsWithAnotherKey",
        "Deny",
        "s3:PutObject",
        {
          StringNotEquals: { "s3:x-amz-server-side-encryption-aws-kms-key-id": expect.stringMatching(/^\$\{aws_kms_key\.key_.*\.arn\}$/) },
          Null: { "s3:x-amz-server-side-encryption-aws-kms-key-id": "false" },
        },
      ],
      ["DenyKmsUploadsWithoutTheKey", "Deny", "s3:PutObject", { StringEquals: { "s3:x-amz-server-side-encryption": "aws:kms" }, Null: { "s3:x-amz-server-side-encryption-aws-kms-key-id": "true" } }],
      ["OnlyNamedPrincipalsWrite", "Deny", OBJECT_WRITES, { ArnNotLike: { "aws:PrincipalArn": [controlPlaneRole] } }],
      ["DenyOverwrites", "Deny", "s3:PutObject", { Null: { "s3:if-none-match": "true" } }],
      ["OnlyControlPlaneNodesAndNamedPrincipalsRead", "Deny", ["s3:GetObject", "s3:GetObjectVersion"], { ArnNotLike: { "aws:PrincipalArn": [controlPlaneRole, ...DEPLOYER] } }],
    ]);
    expect(statements.every((st) => st.Principal === "*")).toBe(true);
    expect(statements.slice(1).map((st) => st.Resource)).toEqual(Array(6).fill(`${bucket}/*`));
    // The control-plane role, named before it exists, is the one the nodes get.
    expect(s.resources("aws_iam_role").map((r) => r.values.name)).toContain("prod-control-plane");
  });

  it("lets the admin kubeconfig's readers, when named, read snapshots instead of the deployer", () => {
    const admins = ["arn:aws:iam::111122223333:role/platform/*"];
    const named = synth({ adminAccess: { principalArns: admins } });
    const read = policyStatements(forBucket(named, "aws_s3_bucket_policy").policy).find((st) => st.Sid === "OnlyControlPlaneNodesAndNamedPrincipalsRead")!;
    expect(read.Condition.ArnNotLike["aws:PrincipalArn"]).toEqual(["arn:aws:iam::111122223333:role/prod-control-plane", ...admins]);
  });

  it("keeps a deleted or expired snapshot's version for the retention of its kind", () => {
    const rules = forBucket(s, "aws_s3_bucket_lifecycle_configuration").rule.filter((r: any) => r.expiration);
    expect(rules.map((r: any) => [r.filter[0].prefix, r.noncurrent_version_expiration[0].noncurrent_days])).toEqual([["etcd/frequent/", 7], ["etcd/daily/", 90]]);
  });

  it("keeps frequent snapshots 7 days and daily ones 90 days by default", () => {
    const rules = forBucket(s, "aws_s3_bucket_lifecycle_configuration").rule.filter((r: any) => r.expiration);
    expect(rules.map((r: any) => [r.filter[0].prefix, r.expiration[0].days])).toEqual([["etcd/frequent/", 7], ["etcd/daily/", 90]]);
  });

  it("aborts incomplete multipart uploads anywhere in the bucket (CKV_AWS_300)", () => {
    const rules = forBucket(s, "aws_s3_bucket_lifecycle_configuration").rule;
    expect(rules.filter((r: any) => r.abort_incomplete_multipart_upload).map((r: any) => [r.filter[0].prefix, r.abort_incomplete_multipart_upload[0].days_after_initiation])).toEqual([["", 1]]);
  });

  it("lets control-plane nodes write and read snapshots under the prefix, and never delete", () => {
    const policy = s.resources("aws_iam_role_policy").find((p) => p.values.name === "etcd-backup")!.values.policy;
    const statements = JSON.parse(policy).Statement;
    expect(statements[0]).toMatchObject({ Action: ["s3:PutObject", "s3:GetObject"], Resource: "arn:aws:s3:::prod-etcd-111122223333-eu-west-1/etcd/*" });
    expect(policy).not.toMatch(/Delete/);
    expect(statements[3]).toMatchObject({ Action: "cloudwatch:PutMetricData", Condition: { StringEquals: { "cloudwatch:namespace": "KubeadmAws/Etcd" } } });
  });

  it("alarms when no snapshot succeeded for two intervals, counting missing data as failure", () => {
    expect(backupAlarm(s).values).toMatchObject({
      metric_name: "EtcdSnapshotAgeSeconds",
      namespace: "KubeadmAws/Etcd",
      dimensions: { ClusterName: "prod" },
      period: 900,
      evaluation_periods: 2,
      treat_missing_data: "breaching",
    });
    expect(backupAlarm(s).values.alarm_actions).toEqual([expect.stringMatching(/aws_sns_topic\..*\.arn/)]);
  });

  it("turns Object Lock on when asked, and retention and interval follow the props", () => {
    const locked = synth({ etcd: { backup: { intervalMinutes: 30, retention: { frequentDays: 3, dailyDays: 30 }, objectLock: { mode: "COMPLIANCE", days: 14 } } } });
    expect(backupBucket(locked).values.object_lock_enabled).toBe(true);
    expect(forBucket(locked, "aws_s3_bucket_object_lock_configuration").rule).toEqual({ default_retention: { mode: "COMPLIANCE", days: 14 } });
    expect(backupAlarm(locked).values.period).toBe(1800);
  });

  it("can be turned off", () => {
    const off = synth({ etcd: { backup: { enabled: false } } });
    expect(off.resources("aws_s3_bucket").map((b) => b.values.bucket)).toEqual(["prod-nodes-111122223333-eu-west-1", "prod-oidc-111122223333-eu-west-1"]);
    expect(backupAlarm(off)).toBeUndefined();
  });

  it("lets a restoring control plane read exactly the snapshot it restores from", () => {
    const uri = "s3://prod-etcd-111122223333-eu-west-1/etcd/daily/20261127T000000Z-rev42.db";
    const restoring = synth({ etcd: { restoreFrom: uri } });
    const statements = JSON.parse(restoring.resources("aws_iam_role_policy").find((p) => p.values.name === "etcd-restore")!.values.policy).Statement;
    expect(statements[0]).toEqual({ Sid: "ReadRestoreSnapshot", Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::prod-etcd-111122223333-eu-west-1/etcd/daily/20261127T000000Z-rev42.db" });
  });

  it.each([
    [{ backup: { intervalMinutes: 1 } }, "etcd.backup.intervalMinutes: 1 is not allowed; use a whole number from 5 to 1440"],
    [{ backup: { retention: { dailyDays: 0 } } }, "etcd.backup.retention.dailyDays: 0 is not allowed"],
    [{ backup: { objectLock: { mode: "FOREVER", days: 1 } } }, 'etcd.backup.objectLock.mode: "FOREVER" is not one of GOVERNANCE, COMPLIANCE'],
    [{ backup: { objectLock: { mode: "GOVERNANCE", days: 365 } } }, "etcd.backup.objectLock.days: 365 is not allowed; use a whole number from 1 to 90"],
    [{ restoreFrom: "https://bucket/x.db" }, 'etcd.restoreFrom: "https://bucket/x.db" is not a snapshot location'],
  ])("rejects %j", (etcd, message) => {
    expect(() => resolveControlPlaneSettings({ etcd } as any, "10.0.0.0/16")).toThrow(message);
  });
});
