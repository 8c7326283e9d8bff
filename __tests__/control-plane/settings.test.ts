import { resolveControlPlaneSettings } from "../../lib/control-plane/settings";
import { resolveObservabilitySettings } from "../../lib/observability/settings";
import { parseInstanceType } from "../../lib/instance-types";
import { resolveKubernetesVersion } from "../../lib/versions";
import { parseAllDocuments } from "yaml";
import { controlPlaneNode } from "../../lib/control-plane/control-plane-user-data";
import { controlPlaneBootstrap } from "../helpers/control-plane-fixture";

describe("resolveControlPlaneSettings", () => {
  it("defaults to 3 m7i.large nodes on Kubernetes 1.35 with every controller and Secrets encrypted", () => {
    const s = resolveControlPlaneSettings({}, "10.0.0.0/16");
    expect(s).toMatchObject({
      count: 3,
      instanceType: "m7i.large",
      architecture: "amd64",
      version: { minor: "1.35", patch: "1.35.4" },
      podCidr: "192.168.0.0/16",
      serviceCidr: "10.96.0.0/12",
      clusterDomain: "cluster.local",
      rootVolumeSizeGiB: 50,
      apiServer: { encryptionAtRest: true, publicAllowedCidrs: undefined },
      controllerManager: { controllers: ["*", "bootstrapsigner", "tokencleaner"] },
      adminPrincipalArns: undefined,
    });
  });

  it("defaults Pod Security to baseline enforced and restricted audited and warned, with kube-system exempt", () => {
    expect(resolveControlPlaneSettings({}, "10.0.0.0/16").apiServer.podSecurity).toEqual({
      enforce: "baseline",
      audit: "restricted",
      warn: "restricted",
      exemptNamespaces: ["kube-system"],
    });
    const strict = resolveControlPlaneSettings({ apiServer: { podSecurity: { enforce: "restricted", exemptNamespaces: ["kube-system", "ingress"] } } }, "10.0.0.0/16");
    expect(strict.apiServer.podSecurity).toMatchObject({ enforce: "restricted", exemptNamespaces: ["kube-system", "ingress"] });
  });

  it.each([
    [{ count: 2 }, "count: 2 is not allowed; use 1, 3 or 5 (an odd count keeps etcd's quorum)"],
    [{ count: 4 }, "count: 4 is not allowed"],
    [{ instanceType: "t3.micro" }, 'instanceType: "t3.micro" has less than 2 vCPU or 2 GiB'],
    [{ instanceType: "m6g.medium" }, 'instanceType: "m6g.medium" has less than 2 vCPU or 2 GiB'],
    [{ instanceType: "big" }, 'instanceType: "big" is not an EC2 instance type'],
    [{ kubernetesVersion: "1.29" }, 'kubernetesVersion: "1.29" is not a supported Kubernetes version; use one of 1.35, 1.36'],
    [{ podCidr: "10.0.128.0/17" }, "podCidr: 10.0.128.0/17 overlaps the VPC CIDR 10.0.0.0/16"],
    [{ serviceCidr: "10.0.0.0/20" }, "serviceCidr: 10.0.0.0/20 overlaps the VPC CIDR 10.0.0.0/16"],
    [{ podCidr: "10.96.0.0/16" }, "podCidr: 10.96.0.0/16 overlaps serviceCidr 10.96.0.0/12"],
    [{ podCidr: "192.168.0.0/25" }, "podCidr: 192.168.0.0/25 is too small"],
    [{ clusterDomain: "Cluster_Local" }, 'clusterDomain: "Cluster_Local" is not a DNS name'],
    [{ ami: "ubuntu" }, 'ami: "ubuntu" is not an AMI id'],
    [{ apiServer: { extraArgs: { "--profiling": "true" } } }, 'apiServer.extraArgs: flag name "--profiling" is invalid; give names without "--"'],
    [{ apiServer: { publicAccess: { allowedCidrs: [] } } }, 'apiServer.publicAccess.allowedCidrs: must list at least one CIDR; write "0.0.0.0/0" explicitly'],
    [{ apiServer: { publicAccess: { allowedCidrs: ["1.2.3.4"] } } }, 'apiServer.publicAccess.allowedCidrs: "1.2.3.4" is not an IPv4 CIDR'],
    [{ apiServer: { certSANs: ["not a name"] } }, 'apiServer.certSANs: "not a name" is neither a DNS name nor an IPv4 address'],
    [{ controllerManager: { extraArgs: { controllers: "*" } } }, 'controllerManager.extraArgs: sets "controllers"; use controllerManager.controllers instead'],
    [{ controllerManager: { controllers: ["*", "Node Lifecycle"] } }, 'controllerManager.controllers: "Node Lifecycle" is invalid'],
    [{ secretsRecoveryWindowDays: 3 }, "secretsRecoveryWindowDays: 3 is not allowed; use a whole number from 7 to 30"],
    [{ apiServer: { audit: { maxAgeDays: 0 } } }, "apiServer.audit.maxAgeDays: 0 is not allowed"],
    [{ apiServer: { extraArgs: { "anonymous-auth": "true" } } }, 'apiServer.extraArgs: sets "anonymous-auth", which kube-apiserver rejects next to --authentication-config'],
    [{ apiServer: { extraArgs: { "oidc-issuer-url": "https://x" } } }, 'apiServer.extraArgs: sets "oidc-issuer-url"'],
    [{ apiServer: { podSecurity: { enforce: "strict" } } }, 'apiServer.podSecurity.enforce: "strict" is not a Pod Security level; use one of privileged, baseline, restricted'],
    [{ apiServer: { podSecurity: { exemptNamespaces: ["Kube_System"] } } }, 'apiServer.podSecurity.exemptNamespaces: "Kube_System" is not a namespace name'],
    [{ adminAccess: { principalArns: [] } }, "adminAccess.principalArns: must name at least one IAM role or user ARN"],
    [{ adminAccess: { principalArns: ["arn:aws:sts::111122223333:assumed-role/admin/me"] } }, 'adminAccess.principalArns: "arn:aws:sts::111122223333:assumed-role/admin/me" is not an IAM role or user ARN'],
    [{ etcd: { extraArgs: { "quota-backend-bytes": "8589934592" } } }, 'etcd.extraArgs["quota-backend-bytes"]: "8589934592" is not allowed with backups on; use a number of bytes up to 5368709120'],
    [{ joinTokenTtlMinutes: 5 }, "joinTokenTtlMinutes: 5 is not allowed; use a whole number from 6 to 1440"],
    [{ joinTokenTtlMinutes: 2880 }, "joinTokenTtlMinutes: 2880 is not allowed; use a whole number from 6 to 1440"],
    [{ certificateRenewalDaysBeforeExpiry: 1 }, "certificateRenewalDaysBeforeExpiry: 1 is not allowed; use a whole number from 2 to 180"],
    [{ certificateRenewalDaysBeforeExpiry: 200 }, "certificateRenewalDaysBeforeExpiry: 200 is not allowed; use a whole number from 2 to 180"],
    [
      { certificateRenewalDaysBeforeExpiry: 15 },
      "certificateRenewalDaysBeforeExpiry: 15 lets the last of 3 control-plane nodes renew at 13 days left, but observability.alarms.certificateDaysThreshold (14) fires first; renew at 17 days or more, or lower the alarm threshold below 13",
    ],
    [
      { count: 5, observability: { alarms: { certificateDaysThreshold: 26 } } },
      "certificateRenewalDaysBeforeExpiry: 30 lets the last of 5 control-plane nodes renew at 26 days left, but observability.alarms.certificateDaysThreshold (26) fires first",
    ],
  ])("rejects %j", (options, message) => {
    // observability: the cluster services' settings, which the renewal day is checked against.
    const { observability, ...controlPlane } = options as any;
    expect(() => resolveControlPlaneSettings(controlPlane, "10.0.0.0/16", resolveObservabilitySettings(observability ?? {}))).toThrow(message);
  });

  it("lets etcd grow past 5 GiB only with backups off", () => {
    const big = { "quota-backend-bytes": "8589934592" };
    expect(resolveControlPlaneSettings({ etcd: { extraArgs: big, backup: { enabled: false } } }, "10.0.0.0/16").etcd.extraArgs).toEqual(big);
    expect(resolveControlPlaneSettings({ etcd: { extraArgs: { "quota-backend-bytes": "4294967296" } } }, "10.0.0.0/16").etcd.extraArgs["quota-backend-bytes"]).toBe("4294967296");
  });

  it("accepts an explicit internet-wide allow-list, because it is written out", () => {
    expect(resolveControlPlaneSettings({ apiServer: { publicAccess: { allowedCidrs: ["0.0.0.0/0"] } } }, "10.0.0.0/16").apiServer.publicAllowedCidrs).toEqual(["0.0.0.0/0"]);
  });

  it("renders the certificate renewal days into the environment of both renewal scripts, which daily timers run", () => {
    const node = (options: object) => controlPlaneNode(controlPlaneBootstrap(options));
    expect(node({}).env.CERTIFICATE_RENEW_BEFORE_DAYS).toBe(30);
    expect(node({ certificateRenewalDaysBeforeExpiry: 60 }).env.CERTIFICATE_RENEW_BEFORE_DAYS).toBe(60);
    // With the alarm off, nothing constrains the renewal day but its bounds.
    expect(node({ certificateRenewalDaysBeforeExpiry: 3, observability: { alarms: { enabled: false } } }).env.CERTIFICATE_RENEW_BEFORE_DAYS).toBe(3);
    const timers = node({}).units.filter((u) => /^kubeadm-aws-(certificates|admin-kubeconfig)\.timer$/.test(u.name));
    expect(timers.map((t) => /OnUnitActiveSec=(\d+)min/.exec(t.content)![1])).toEqual(["1440", "1440"]);
    expect(node({}).scripts).toContain("renew-certificates.sh");
  });

  it("renders a join token lifetime into kubeadm's token, the rotator's environment and its timer", () => {
    const node = (ttl?: number) => controlPlaneNode(controlPlaneBootstrap(ttl === undefined ? {} : { joinTokenTtlMinutes: ttl }));
    const initToken = (ttl?: number) => (parseAllDocuments(node(ttl).files.find((f) => f.path.endsWith("/init.yaml"))!.content)[0].toJSON() as any).bootstrapTokens[0].ttl;
    const timer = (ttl?: number) => node(ttl).units.find((u) => u.name === "kubeadm-aws-join-token.timer")!.content;
    expect(initToken()).toBe("24h0m0s");
    expect(node().env).toMatchObject({ JOIN_TOKEN_TTL: "24h0m0s", JOIN_TOKEN_TTL_SECONDS: 86400, JOIN_TOKEN_RENEW_BEFORE_SECONDS: 43200 });
    expect(timer()).toContain("OnUnitActiveSec=60min");
    expect(initToken(90)).toBe("1h30m0s");
    expect(node(90).env).toMatchObject({ JOIN_TOKEN_TTL: "1h30m0s", JOIN_TOKEN_TTL_SECONDS: 5400, JOIN_TOKEN_RENEW_BEFORE_SECONDS: 2700 });
    expect(timer(90)).toContain("OnUnitActiveSec=15min");
    expect(initToken(6)).toBe("6m0s");
    expect(timer(6)).toContain("OnUnitActiveSec=1min");
  });

  it("accepts an exact patch version and keeps it", () => {
    expect(resolveKubernetesVersion("1.35.4")).toMatchObject({ minor: "1.35", patch: "1.35.4" });
  });

  it.each([
    ["m7g.large", "arm64"],
    ["c7gn.xlarge", "arm64"],
    ["t4g.medium", "arm64"],
    ["a1.large", "arm64"],
    ["m7i.large", "amd64"],
    ["g5.xlarge", "amd64"],
    ["m7i-flex.large", "amd64"],
  ])("knows %s is %s", (type, architecture) => {
    expect(parseInstanceType(type, "instanceType").architecture).toBe(architecture);
  });
});
