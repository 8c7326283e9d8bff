import { controlPlaneNode } from "../../lib/control-plane/control-plane-user-data";
import { ControlPlaneOptions, resolveControlPlaneSettings } from "../../lib/control-plane/settings";
import { ConfigError } from "../../lib/errors";
import { controlPlaneBootstrap, controlPlaneImage } from "../helpers/control-plane-fixture";
import { Sandbox } from "../helpers/sandbox";
import { synthControlPlane } from "../helpers/control-plane-stack";
import { DEPLOYER, Synthesized, policyStatements } from "../helpers/synth";

const ISSUER = "https://prod-oidc-111122223333-eu-west-1.s3.eu-west-1.amazonaws.com";
const BUCKET_ARN = "arn:aws:s3:::prod-oidc-111122223333-eu-west-1";
const DOCUMENTS = [`${BUCKET_ARN}/.well-known/openid-configuration`, `${BUCKET_ARN}/openid/v1/jwks`];


describe("the service-account issuer AWS IAM trusts (workloadIdentity)", () => {
  const synth = synthControlPlane();
  const issuerBucket = synth.resources("aws_s3_bucket").find((b) => b.values.bucket === "prod-oidc-111122223333-eu-west-1");
  const onIssuerBucket = (type: string) => synth.resources(type).find((r) => r.values.bucket === Synthesized.ref("aws_s3_bucket", issuerBucket!))!.values;

  it("has IAM trust the bucket's HTTPS endpoint, for tokens whose audience is STS", () => {
    expect(issuerBucket).toBeDefined();
    expect(synth.only("aws_iam_openid_connect_provider").values).toMatchObject({ url: ISSUER, client_id_list: ["sts.amazonaws.com"] });
    expect(synth.only("aws_iam_openid_connect_provider").values.thumbprint_list).toBeUndefined();
  });

  it("lets anyone read the two discovery documents and nothing else, over TLS, and only the control-plane role and the deployer write", () => {
    const statements = policyStatements(onIssuerBucket("aws_s3_bucket_policy").policy);
    const allows = statements.filter((s) => s.Effect === "Allow");
    expect(allows).toEqual([{ Sid: "PublicReadOfTheIssuerDocuments", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: DOCUMENTS }]);
    expect(statements.find((s) => s.Sid === "DenyInsecureTransport")).toMatchObject({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } });
    expect(statements.find((s) => s.Sid === "OnlyThePublishersWrite")).toMatchObject({
      Effect: "Deny",
      Action: expect.arrayContaining(["s3:PutObject", "s3:DeleteObject"]),
      Condition: { ArnNotLike: { "aws:PrincipalArn": ["arn:aws:iam::111122223333:role/prod-control-plane", ...DEPLOYER] } },
    });
  });

  it("blocks public ACLs but allows the public policy, owns every object, keeps versions and encrypts with SSE-S3", () => {
    expect(onIssuerBucket("aws_s3_bucket_public_access_block")).toMatchObject({
      block_public_acls: true,
      ignore_public_acls: true,
      block_public_policy: false,
      restrict_public_buckets: false,
    });
    expect(onIssuerBucket("aws_s3_bucket_ownership_controls").rule.object_ownership).toBe("BucketOwnerEnforced");
    expect(onIssuerBucket("aws_s3_bucket_versioning").versioning_configuration.status).toBe("Enabled");
    expect(onIssuerBucket("aws_s3_bucket_server_side_encryption_configuration").rule[0].apply_server_side_encryption_by_default.sse_algorithm).toBe("AES256");
  });

  it("lets control-plane nodes replace the two documents, and nothing more in that bucket", () => {
    const policy = synth.resources("aws_iam_role_policy").find((p) => p.values.name === "service-account-issuer")!.values.policy;
    expect(JSON.parse(policy).Statement).toEqual([{ Sid: "PublishServiceAccountIssuerDocuments", Effect: "Allow", Action: "s3:PutObject", Resource: DOCUMENTS }]);
  });

  it("starts control-plane nodes only once the bucket they publish to exists, so the first never races it", () => {
    for (const group of synth.resources("aws_autoscaling_group")) {
      expect(group.values.depends_on).toEqual(expect.arrayContaining([`aws_s3_bucket.${issuerBucket!.name}`]));
    }
  });

  it("trusts exactly the issuer a control-plane node computes for kube-apiserver from its account and region", async () => {
    const box = new Sandbox();
    const image = controlPlaneImage();
    const node = box.addNode(0, image);
    box.unpackBundle(node, image);
    const computed = await box.shell(node, ["control-plane.sh"], "service_account_issuer");
    expect(computed).toMatchObject({ code: 0, output: `${synth.only("aws_iam_openid_connect_provider").values.url}\n` });
  });

  it("creates none of it with workloadIdentity off", () => {
    const off = synthControlPlane({ workloadIdentity: false });
    expect(off.resources("aws_iam_openid_connect_provider")).toEqual([]);
    expect(off.resources("aws_s3_bucket").map((b) => b.values.bucket)).not.toContain("prod-oidc-111122223333-eu-west-1");
    expect(off.resources("aws_iam_role_policy").map((p) => p.values.name)).not.toContain("service-account-issuer");
  });
});

describe("kube-apiserver's issuers", () => {
  const issuerArgs = (options: ControlPlaneOptions) =>
    [...controlPlaneNode(controlPlaneBootstrap(options)).files.find((f) => f.path.endsWith("/init.yaml"))!.content.matchAll(/- name: (service-account-(?:issuer|jwks-uri))\n\s+value: (\S+)/g)].map((m) => `${m[1]}=${m[2]}`);

  it("sign as the issuer the node computes from its account, and keep the in-cluster issuer of the cluster's domain", () => {
    expect(issuerArgs({ clusterDomain: "prod.internal" })).toEqual([
      "service-account-issuer=${SERVICE_ACCOUNT_ISSUER}",
      "service-account-issuer=https://kubernetes.default.svc.prod.internal",
      "service-account-jwks-uri=${SERVICE_ACCOUNT_ISSUER}/openid/v1/jwks",
    ]);
    expect(issuerArgs({ workloadIdentity: false })).toEqual([]);
  });

  it("are not the user's to set while workloadIdentity sets them", () => {
    for (const flag of ["service-account-issuer", "service-account-jwks-uri"]) {
      const resolve = () => resolveControlPlaneSettings({ apiServer: { extraArgs: { [flag]: "https://issuer.example.com" } } }, "10.0.0.0/16");
      expect(resolve).toThrow(ConfigError);
      expect(resolve).toThrow(`apiServer.extraArgs: sets "${flag}", which workloadIdentity sets (the issuer AWS IAM trusts); remove it, or set workloadIdentity to false`);
      expect(() => resolveControlPlaneSettings({ workloadIdentity: false, apiServer: { extraArgs: { [flag]: "https://issuer.example.com" } } }, "10.0.0.0/16")).not.toThrow();
    }
  });
});
