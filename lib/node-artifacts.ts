import { S3Object } from "@cdktf/provider-aws/lib/s3-object";
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
}

export interface NodeArtifactsProps {
  readonly clusterName: string;
  readonly encryptionKey: IClusterKey;
}

/**
 * The bucket nodes fetch their bundles (scripts and configs) from. Each
 * bundle's key carries its checksum, and user data pins that checksum, so a
 * node runs exactly what the plan showed. Encrypted with the cluster key,
 * TLS only, private.
 */
export class NodeArtifacts extends Construct implements INodeArtifacts {
  readonly bucketName: string;
  readonly bucketArn: string;

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
        { id: "old-bundles", status: "Enabled", filter: [{ prefix: "" }], noncurrentVersionExpiration: [{ noncurrentDays: 30 }], abortIncompleteMultipartUpload: [{ daysAfterInitiation: 1 }] },
      ],
      tags: { Name: resourceName(props.clusterName, "node-artifacts") },
    });
    this.bucketName = bucket.bucketName;
    this.bucketArn = bucket.bucketArn;
  }
}

/** Uploads a node bundle; `scope` may be in another stack than the bucket. */
export function storeBundle(scope: Construct, id: string, artifacts: INodeArtifacts, bundle: NodeBundle): S3Object {
  return new S3Object(scope, id, {
    bucket: artifacts.bucketName,
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
