import { createHash } from "node:crypto";
import { Testing } from "cdktf";
import { ClusterStack } from "../../lib/app/cluster-stack";
import { configFromEnv } from "../../lib/app/config";
import { decodeUserData, readScript } from "../../lib/bootstrap/user-data";

/**
 * The synthesized stack as a reviewer wants to read it: launch-template user
 * data decoded to its cloud-config, with each script (a file in the repository,
 * reviewed there) replaced by its name and checksum.
 */
function reviewable(synth: string): string {
  const stack = JSON.parse(synth);
  for (const template of Object.values<any>(stack.resource.aws_launch_template ?? {})) {
    const cloudConfig = decodeUserData(template.user_data).replace(/(- path: \/opt\/kubeadm-aws\/bin\/(\S+)\n(?:.*\n){2}\s+content: \|\n)((?: {6}.*\n|\n)+)/g, (_match, head: string, script: string, body: string) => {
      const sha = createHash("sha256").update(readScript(script)).digest("hex");
      return `${head}      <lib/bootstrap/scripts/${script}, ${body.length} bytes, sha256 ${sha}>\n`;
    });
    template.user_data = ["<gzip+base64 of these lines>", ...cloudConfig.split("\n")];
  }
  return JSON.stringify(stack, null, 2);
}

function synthApp(env: Record<string, string>) {
  const config = configFromEnv(env);
  const stack = new ClusterStack(Testing.app(), config.clusterName, config);
  return Testing.synth(stack, true);
}

describe("ClusterStack (main.ts)", () => {
  it("matches the reviewed snapshot of the default app, with user data decoded", () => {
    expect(reviewable(synthApp({}))).toMatchSnapshot();
  });

  it("uses local state by default", () => {
    expect(JSON.parse(synthApp({})).terraform.backend).toEqual({ local: { path: "terraform.kubeadm.tfstate" } });
  });

  it("uses encrypted S3 state with S3-native locking when a bucket is configured", () => {
    const backend = JSON.parse(synthApp({ CLUSTER_STATE_BUCKET: "tf-state", CLUSTER_STATE_REGION: "us-east-1" })).terraform.backend;
    expect(backend).toEqual({ s3: { bucket: "tf-state", key: "kubeadm/terraform.tfstate", region: "us-east-1", encrypt: true, use_lockfile: true } });
  });

  it("tags every resource with the cluster through the provider's default tags", () => {
    expect(JSON.parse(synthApp({ CLUSTER_NAME: "prod" })).provider.aws[0].default_tags).toEqual([
      { tags: { "k8s-cluster": "prod", "managed-by": "cdktf-kubeadm-aws" } },
    ]);
  });

  it("skips the account lookup when the account id is given", () => {
    expect(JSON.parse(synthApp({ CLUSTER_ACCOUNT_ID: "111122223333" })).data).toBeUndefined();
  });
});
