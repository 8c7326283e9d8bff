import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { S3BucketLifecycleConfiguration, S3BucketLifecycleConfigurationRule } from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration";
import { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning";
import { TerraformResource } from "cdktf";
import { Construct } from "constructs";
import { AwsEnvironment } from "./aws-environment";
import { IClusterKey } from "./cluster-key";
import { PolicyStatement, policyDocument } from "./iam";

export interface PrivateBucketProps {
  readonly name: string;
  readonly encryptionKey: IClusterKey;
  readonly lifecycleRules: S3BucketLifecycleConfigurationRule[];
  /** Statements added to the bucket policy, after the TLS-only and cluster-key ones. */
  readonly extraPolicy?: (bucketArn: string) => PolicyStatement[];
  /**
   * The only principals (`aws:PrincipalArn` patterns) that may write or
   * delete objects, whatever their IAM policies allow.
   * @default - anyone IAM allows
   */
  readonly writers?: string[];
  /** Object Lock needs to be switched on when the bucket is created. @default false */
  readonly objectLockEnabled?: boolean;
  /** Let `destroy` empty the bucket first. @default false */
  readonly forceDestroy?: boolean;
  readonly tags?: Record<string, string>;
}

/** What writes, replaces or deletes an object or its version, or changes what guards it. */
export const OBJECT_WRITES = [
  "s3:PutObject",
  "s3:DeleteObject",
  "s3:DeleteObjectVersion",
  "s3:PutObjectRetention",
  "s3:PutObjectLegalHold",
  "s3:RestoreObject",
];

/** Every request to the bucket over TLS only. */
export function denyInsecureTransport(bucketArn: string): PolicyStatement {
  return {
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: [bucketArn, `${bucketArn}/*`],
    Condition: { Bool: { "aws:SecureTransport": "false" } },
  };
}

/** Every bucket drops the parts of multipart uploads that never completed, a day after they began. */
export const ABORT_INCOMPLETE_UPLOADS_RULE: S3BucketLifecycleConfigurationRule = {
  id: "abort-incomplete-uploads",
  status: "Enabled",
  // The empty prefix covers every key, not only the prefixes of the other rules.
  filter: [{ prefix: "" }],
  abortIncompleteMultipartUpload: [{ daysAfterInitiation: 1 }],
};

/**
 * A bucket as every cluster bucket must be: encrypted with the cluster key,
 * versioned, public access blocked, ownership enforced, TLS only, with
 * lifecycle rules, one of which aborts incomplete multipart uploads.
 */
export class PrivateBucket extends Construct {
  readonly bucketName: string;
  /** Built from the name, not read from the bucket, so policies show in full in the plan. */
  readonly bucketArn: string;
  readonly bucketId: string;
  /**
   * The bucket and the configuration an object must find in place when it is
   * written: default encryption, the TLS-only policy, the public access
   * block, ownership and versioning. Terraform resources that write objects
   * depend on these; the bucket's name alone, a plain string, orders nothing.
   */
  readonly uploadPrerequisites: TerraformResource[];

  constructor(scope: Construct, id: string, props: PrivateBucketProps) {
    super(scope, id);
    const env = AwsEnvironment.of(this);
    const bucket = new S3Bucket(this, "bucket", {
      bucket: props.name,
      objectLockEnabled: props.objectLockEnabled || undefined,
      forceDestroy: props.forceDestroy || undefined,
      tags: props.tags,
    });
    this.bucketName = props.name;
    this.bucketArn = `arn:${env.partition}:s3:::${props.name}`;
    this.bucketId = bucket.id;
    const publicAccessBlock = new S3BucketPublicAccessBlock(this, "public-access-block", {
      bucket: bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    const ownership = new S3BucketOwnershipControls(this, "ownership", { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } });
    const versioning = new S3BucketVersioningA(this, "versioning", { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } });
    const encryption = new S3BucketServerSideEncryptionConfigurationA(this, "encryption", {
      bucket: bucket.id,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: props.encryptionKey.keyArn }, bucketKeyEnabled: true }],
    });
    const policy = new S3BucketPolicy(this, "policy", {
      bucket: bucket.id,
      policy: policyDocument([
        denyInsecureTransport(this.bucketArn),
        // Every object is encrypted with the cluster key. An upload may ask for nothing (the bucket's default
        // applies) or for SSE-KMS with the cluster key, as the provider does when it rewrites an object; SSE-S3,
        // another key, or SSE-KMS without a key (S3 would use aws/s3) is refused.
        {
          Sid: "DenyUploadsWithOtherEncryption",
          Effect: "Deny",
          Principal: "*",
          Action: "s3:PutObject",
          Resource: `${this.bucketArn}/*`,
          Condition: { StringNotEquals: { "s3:x-amz-server-side-encryption": "aws:kms" }, Null: { "s3:x-amz-server-side-encryption": "false" } },
        },
        {
          Sid: "DenyUploadsWithAnotherKey",
          Effect: "Deny",
          Principal: "*",
          Action: "s3:PutObject",
          Resource: `${this.bucketArn}/*`,
          Condition: {
            StringNotEquals: { "s3:x-amz-server-side-encryption-aws-kms-key-id": props.encryptionKey.keyArn },
            Null: { "s3:x-amz-server-side-encryption-aws-kms-key-id": "false" },
          },
        },
        {
          Sid: "DenyKmsUploadsWithoutTheKey",
          Effect: "Deny",
          Principal: "*",
          Action: "s3:PutObject",
          Resource: `${this.bucketArn}/*`,
          Condition: { StringEquals: { "s3:x-amz-server-side-encryption": "aws:kms" }, Null: { "s3:x-amz-server-side-encryption-aws-kms-key-id": "true" } },
        },
        ...(props.writers
          ? [
              {
                Sid: "OnlyNamedPrincipalsWrite",
                Effect: "Deny" as const,
                Principal: "*" as const,
                Action: OBJECT_WRITES,
                Resource: `${this.bucketArn}/*`,
                Condition: { ArnNotLike: { "aws:PrincipalArn": props.writers } },
              },
            ]
          : []),
        ...(props.extraPolicy?.(this.bucketArn) ?? []),
      ]),
    });
    new S3BucketLifecycleConfiguration(this, "lifecycle", { bucket: bucket.id, rule: [...props.lifecycleRules, ABORT_INCOMPLETE_UPLOADS_RULE] });
    this.uploadPrerequisites = [bucket, encryption, policy, publicAccessBlock, ownership, versioning];
  }
}
