import { Testing } from "cdktf";
import { ClusterStack } from "../../lib/app/cluster-stack";
import { configFromEnv } from "../../lib/app/config";
import { gzipSync } from "node:zlib";
import { parse } from "yaml";
import { sha256 } from "../../lib/bootstrap/tar";
import { decodeUserData, readScript } from "../../lib/bootstrap/user-data";
import { untarGz, userDataFiles } from "../helpers/bundle";

/**
 * The synthesized stack as a reviewer wants to read it: user data decoded to
 * its cloud-config, node bundles unpacked into their files, the add-on
 * specification parsed, and each script (a
 * file in the repository, reviewed there) replaced by its name and checksum.
 */
function reviewable(synth: string): string {
  const stack = JSON.parse(synth);
  const script = (path: string, content: string) => {
    const name = path.replace("/opt/kubeadm-aws/bin/", "");
    return content === readScript(name) ? `<lib/bootstrap/scripts/${name}, sha256 ${sha256(content)}>` : content;
  };
  const readable = (files: Record<string, string>) =>
    Object.fromEntries(Object.entries(files).map(([path, content]) => [path, path.startsWith("/opt/kubeadm-aws/bin/") ? script(path, content) : content.split("\n")]));
  for (const template of Object.values<any>(stack.resource.aws_launch_template ?? {})) {
    const { cloudConfig, files } = userDataFiles(Buffer.from(gzipSync(decodeUserData(template.user_data))).toString("base64"));
    const { write_files: _, ...rest } = parse(cloudConfig.replace(/^#cloud-config\n/, ""));
    template.user_data = { "gzip+base64 of a #cloud-config": { ...rest, write_files: readable(files) } };
  }
  for (const object of Object.values<any>(stack.resource.aws_s3_object ?? {})) {
    if (object.content_base64) {
      object.content_base64 = { "gzip+base64 of a tar of": readable(untarGz(Buffer.from(object.content_base64, "base64"))) };
    } else {
      // The add-on specification: JSON, each add-on's files split into lines.
      const spec = JSON.parse(object.content);
      for (const addon of spec.addons) addon.files = readable(addon.files);
      object.content = { "JSON of": spec };
    }
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

  it("looks the caller up once: resource policies name the deploying principal", () => {
    expect(Object.keys(JSON.parse(synthApp({})).data.aws_caller_identity)).toHaveLength(1);
    expect(Object.keys(JSON.parse(synthApp({ CLUSTER_ACCOUNT_ID: "111122223333" })).data.aws_caller_identity)).toHaveLength(1);
    const explicit = synthApp({ CLUSTER_ACCOUNT_ID: "111122223333", CLUSTER_ADMIN_PRINCIPALS: "arn:aws:iam::111122223333:role/admin" });
    expect(Object.keys(JSON.parse(explicit).data.aws_caller_identity)).toHaveLength(1);
  });
});
