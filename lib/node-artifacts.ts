import { S3Object, S3ObjectConfig } from "@cdktf/provider-aws/lib/s3-object";
import { TerraformResource, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { AwsEnvironment } from "./aws-environment";
import { NodeBundle } from "./bootstrap/user-data";
import { IClusterKey } from "./cluster-key";
import { PolicyStatement } from "./iam";
import { PrivateBucket } from "./private-bucket";
import { clusterBucketName, resourceName } from "./naming";

/** What a node group needs to store its bundle and let its nodes read it. */
export interface INodeArtifacts {
  readonly bucketName: string;
  readonly bucketArn: string;
  /**
   * What an upload must wait for: the bucket with its encryption, TLS-only
   * policy, public access block, ownership and versioning (see
   * `PrivateBucket.uploadPrerequisites`). Empty for a bucket that exists
   * before any stack of this app.
   */
  readonly uploadPrerequisites: TerraformResource[];
}

export interface NodeArtifactsProps {
  readonly clusterName: string;
  readonly encryptionKey: IClusterKey;
  /** Principals besides the deploying one that may write (those that deploy node groups in other stacks). @default - none */
  readonly additionalWriters?: string[];
}

/**
 * The bucket nodes fetch their bundles (scripts and configs) from. Each
 * bundle's key carries its checksum, and user data pins that checksum, so a
 * node runs exactly what the plan showed. Encrypted with the cluster key,
 * TLS only, private, and written only by the principal that deploys.
 */
export class NodeArtifacts extends Construct implements INodeArtifacts {
  readonly bucketName: string;
  readonly bucketArn: string;
  readonly uploadPrerequisites: TerraformResource[];

  constructor(scope: Construct, id: string, props: NodeArtifactsProps) {
    super(scope, id);
    const env = AwsEnvironment.of(this);
    // Nodes derive the same name from their instance identity document (lib.sh, cluster_bucket).
    const bucket = new PrivateBucket(this, "bucket", {
      name: clusterBucketName(props.clusterName, "nodes", env.accountId, env.region),
      encryptionKey: props.encryptionKey,
      // Bundles are rebuilt from code at every synth: nothing here needs to outlive the cluster.
      forceDestroy: true,
      // Old bundles stay a while for nodes still booting from them, then go.
      lifecycleRules: [
        { id: "old-bundles", status: "Enabled", filter: [{ prefix: "" }], noncurrentVersionExpiration: [{ noncurrentDays: 30 }] },
      ],
      // Nodes run what this bucket holds: only the deploying principal (Terraform) may write it.
      writers: [...env.deployingPrincipalArns(), ...(props.additionalWriters ?? [])],
      tags: { Name: resourceName(props.clusterName, "node-artifacts") },
    });
    this.bucketName = bucket.bucketName;
    this.bucketArn = bucket.bucketArn;
    this.uploadPrerequisites = bucket.uploadPrerequisites;
  }
}

/**
 * Writes an object into the node-artifacts bucket, only once the bucket is
 * encrypted, TLS-only and private. `scope` may be in another stack than the bucket.
 *
 * The bucket is named by a plain string (nodes derive the same name), so
 * nothing orders the upload after the bucket unless we say so:
 * - in the bucket's stack, the object depends on the bucket and its configuration;
 * - in another stack, that stack depends on the bucket's stack, so cdktf
 *   deploys the bucket's stack, configuration included, first. Terraform
 *   cannot depend on a resource of another state; apply such stacks in that
 *   order when running Terraform by hand.
 */
export function storeNodeArtifact(scope: Construct, id: string, artifacts: INodeArtifacts, config: Omit<S3ObjectConfig, "bucket">): S3Object {
  const here = TerraformStack.of(scope);
  // Empty for a bucket managed outside this app: it exists before any of our stacks.
  const bucketStack = artifacts.uploadPrerequisites.length ? TerraformStack.of(artifacts.uploadPrerequisites[0]) : undefined;
  const sameStack = here === bucketStack;
  if (bucketStack && !sameStack) here.addDependency(bucketStack);
  const dependsOn = [...(sameStack ? artifacts.uploadPrerequisites : []), ...(config.dependsOn ?? [])];
  return new S3Object(scope, id, { ...config, bucket: artifacts.bucketName, dependsOn: dependsOn.length ? dependsOn : undefined });
}

/** Uploads a node bundle; `scope` may be in another stack than the bucket. */
export function storeBundle(scope: Construct, id: string, artifacts: INodeArtifacts, bundle: NodeBundle): S3Object {
  return storeNodeArtifact(scope, id, artifacts, {
    key: bundle.key,
    contentBase64: bundle.archive.toString("base64"),
    contentType: "application/gzip",
  });
}

/** Read of key prefixes of the bucket, and the key to decrypt them through S3. */
export function bundleReadStatements(env: AwsEnvironment, artifacts: INodeArtifacts, keyPrefixes: string[], keyArn: string): PolicyStatement[] {
  return [
    { Sid: "ReadNodeBundle", Effect: "Allow", Action: "s3:GetObject", Resource: keyPrefixes.map((p) => `${artifacts.bucketArn}/${p}/*`) },
    {
      Sid: "DecryptNodeBundle",
      Effect: "Allow",
      Action: "kms:Decrypt",
      Resource: keyArn,
      Condition: { StringEquals: { "kms:ViaService": `s3.${env.region}.${env.dnsSuffix}` } },
    },
  ];
}
