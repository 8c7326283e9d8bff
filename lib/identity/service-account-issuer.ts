import { IamOpenidConnectProvider } from "@cdktf/provider-aws/lib/iam-openid-connect-provider";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { S3BucketLifecycleConfiguration } from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration";
import { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning";
import { Construct } from "constructs";
import { AwsEnvironment } from "../aws-environment";
import { PolicyStatement, policyDocument } from "../iam";
import { clusterBucketName, resourceName } from "../naming";
import { STS_AUDIENCE } from "./web-identity";
import { ABORT_INCOMPLETE_UPLOADS_RULE, OBJECT_WRITES, denyInsecureTransport } from "../private-bucket";

/** The two documents of OpenID Connect discovery, under the issuer URL, at the paths kube-apiserver serves them. */
export const ISSUER_DOCUMENT_KEYS = { discovery: ".well-known/openid-configuration", keys: "openid/v1/jwks" } as const;


/** The issuer kubeadm gives kube-apiserver by default; kept as a second issuer so tokens it signed stay valid. */
export function inClusterIssuer(clusterDomain: string): string {
  return `https://kubernetes.default.svc.${clusterDomain}`;
}

/** Where the issuer's documents live, and what kube-apiserver is told, all known at synth. */
export interface ServiceAccountIssuerUrls {
  /** The issuer of new service-account tokens: the bucket's HTTPS endpoint. */
  readonly issuer: string;
  /** The JSON Web Key Set, as `--service-account-jwks-uri` and the discovery document name it. */
  readonly jwksUri: string;
  /** The bucket control-plane nodes publish both documents to. */
  readonly bucketName: string;
}

export function serviceAccountIssuerUrls(clusterName: string, env: Pick<AwsEnvironment, "accountId" | "region" | "dnsSuffix">): ServiceAccountIssuerUrls {
  const bucketName = clusterBucketName(clusterName, "oidc", env.accountId, env.region);
  // Virtual-hosted style: the name has no dots, so S3's wildcard certificate covers it.
  const issuer = `https://${bucketName}.s3.${env.region}.${env.dnsSuffix}`;
  return { issuer, jwksUri: `${issuer}/${ISSUER_DOCUMENT_KEYS.keys}`, bucketName };
}

/** A cluster's service-account issuer, as a role in this or another stack trusts it. */
export interface IServiceAccountIssuer {
  /** The IAM OpenID Connect provider of the issuer. */
  readonly providerArn: string;
  /** The issuer URL without its scheme, as trust policy condition keys name it. */
  readonly providerHost: string;
}

export interface ServiceAccountIssuerProps {
  /** The cluster whose tokens the issuer signs; it names the bucket (`<cluster>-oidc-<account>-<region>`). */
  readonly clusterName: string;
  /** The role of the nodes that publish the documents (control-plane nodes, after kubeadm init). */
  readonly publisherRoleArn: string;
}

/**
 * A service-account token issuer that AWS IAM trusts (IAM roles for service accounts): a bucket that serves the
 * issuer's discovery document and public keys to anyone, as OpenID Connect discovery requires, and the IAM OpenID
 * Connect provider for it. The keys are born on the first control-plane node with the rest of the PKI; every
 * control-plane node publishes the documents its own kube-apiserver serves (after init, join and each rollout).
 * Terraform never holds a key.
 *
 * The bucket is public for reading those two objects only: S3's Block Public Access must allow public bucket
 * policies (account-level `BlockPublicPolicy` and `RestrictPublicBuckets` off), or the apply stops at the bucket
 * policy. The objects are public keys and URLs; SSE-S3, not the cluster key, which anonymous readers cannot use.
 */
export class ServiceAccountIssuer extends Construct implements IServiceAccountIssuer {
  readonly urls: ServiceAccountIssuerUrls;
  readonly bucketArn: string;
  /** The IAM OpenID Connect provider that IAM roles for service accounts trust. */
  readonly providerArn: string;
  /** The provider as trust policy conditions name it: the issuer URL without its scheme. */
  readonly providerHost: string;
  /**
   * The bucket the nodes publish to. Control-plane groups depend on it, so the first node never races it; its
   * settings need no wait: S3's defaults for a new bucket (owner-enforced, SSE-S3) are these, and the policy only
   * denies others.
   */
  readonly bucket: S3Bucket;

  constructor(scope: Construct, id: string, props: ServiceAccountIssuerProps) {
    super(scope, id);
    const env = AwsEnvironment.of(this);
    this.urls = serviceAccountIssuerUrls(props.clusterName, env);
    this.bucketArn = `arn:${env.partition}:s3:::${this.urls.bucketName}`;
    this.providerHost = this.urls.issuer.replace(/^https:\/\//, "");
    const documents = Object.values(ISSUER_DOCUMENT_KEYS).map((key) => `${this.bucketArn}/${key}`);

    const bucket = new S3Bucket(this, "bucket", {
      bucket: this.urls.bucketName,
      // Nodes publish the documents again when the cluster is created again.
      forceDestroy: true,
      tags: { Name: resourceName(props.clusterName, "service-account-issuer") },
    });
    new S3BucketPublicAccessBlock(this, "public-access-block", {
      bucket: bucket.id,
      // Public through the policy below, for two objects; never through ACLs.
      blockPublicAcls: true,
      ignorePublicAcls: true,
      blockPublicPolicy: false,
      restrictPublicBuckets: false,
    });
    new S3BucketOwnershipControls(this, "ownership", { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } });
    new S3BucketVersioningA(this, "versioning", { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } });
    new S3BucketServerSideEncryptionConfigurationA(this, "encryption", {
      bucket: bucket.id,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
    });
    new S3BucketLifecycleConfiguration(this, "lifecycle", {
      bucket: bucket.id,
      rule: [{ id: "old-documents", status: "Enabled", filter: [{ prefix: "" }], noncurrentVersionExpiration: [{ noncurrentDays: 30 }] }, ABORT_INCOMPLETE_UPLOADS_RULE],
    });
    new S3BucketPolicy(this, "policy", {
      bucket: bucket.id,
      policy: policyDocument([
        { Sid: "PublicReadOfTheIssuerDocuments", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: documents },
        denyInsecureTransport(this.bucketArn),
        {
          Sid: "OnlyThePublishersWrite",
          Effect: "Deny",
          Principal: "*",
          Action: OBJECT_WRITES,
          Resource: `${this.bucketArn}/*`,
          Condition: { ArnNotLike: { "aws:PrincipalArn": [props.publisherRoleArn, ...env.deployingPrincipalArns()] } },
        },
      ]),
    });
    const provider = new IamOpenidConnectProvider(this, "provider", {
      url: this.urls.issuer,
      clientIdList: [STS_AUDIENCE],
      // No thumbprint: IAM verifies an S3 endpoint's certificate with its own library of trusted root CAs.
      tags: { Name: resourceName(props.clusterName, "service-account-issuer") },
    });
    this.providerArn = provider.arn;
    this.bucket = bucket;
  }

  /** What the publishing nodes may do: replace the two documents, nothing else. */
  publisherStatements(): PolicyStatement[] {
    return [
      {
        Sid: "PublishServiceAccountIssuerDocuments",
        Effect: "Allow",
        Action: "s3:PutObject",
        Resource: Object.values(ISSUER_DOCUMENT_KEYS).map((key) => `${this.bucketArn}/${key}`),
      },
    ];
  }
}
