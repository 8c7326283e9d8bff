import { parse } from "yaml";
import { ANONYMOUS_PATHS, PodSecurityDefaults, renderAdmissionConfig, renderAuthenticationConfig } from "../../lib/bootstrap/apiserver-config";
import { NODE_FILES } from "../../lib/bootstrap/node-files";
import { validateKubernetesConfig } from "../helpers/kube-schema";

const DEFAULTS: PodSecurityDefaults = { enforce: "baseline", audit: "restricted", warn: "restricted", exemptNamespaces: ["kube-system"] };

describe("kube-apiserver authentication configuration", () => {
  const config = parse(renderAuthenticationConfig());

  // The real kube-apiserver and `kubeadm join` prove this in __tests__/kubernetes/cluster.test.ts.
  it("allows anonymous requests only on the health paths and the cluster-info ConfigMap that join discovery reads", () => {
    expect(config).toEqual({
      apiVersion: "apiserver.config.k8s.io/v1",
      kind: "AuthenticationConfiguration",
      anonymous: {
        enabled: true,
        conditions: [{ path: "/livez" }, { path: "/readyz" }, { path: "/healthz" }, { path: "/api/v1/namespaces/kube-public/configmaps/cluster-info" }],
      },
    });
    expect(ANONYMOUS_PATHS).not.toContain("/");
  });

  it("uses only fields of the upstream apiserver.config.k8s.io/v1 types", () => {
    expect(validateKubernetesConfig(renderAuthenticationConfig())).toEqual([]);
    // The check would catch a field the apiserver's strict decoder rejects.
    expect(validateKubernetesConfig(renderAuthenticationConfig().replace("enabled: true", "enabled: true\n  paths: []"))).toEqual([
      "AuthenticationConfiguration.anonymous.paths: unknown field of AnonymousAuthConfig",
    ]);
  });
});

describe("kube-apiserver admission configuration", () => {
  const plugins = (yaml: string) => Object.fromEntries(parse(yaml).plugins.map((p: any) => [p.name, p.configuration]));

  it("sets the cluster's Pod Security defaults, exempting only the listed namespaces", () => {
    const podSecurity = plugins(renderAdmissionConfig({ ...DEFAULTS, exemptNamespaces: ["kube-system", "ingress"] })).PodSecurity;
    expect(podSecurity.defaults).toEqual({
      enforce: "baseline",
      "enforce-version": "latest",
      audit: "restricted",
      "audit-version": "latest",
      warn: "restricted",
      "warn-version": "latest",
    });
    expect(podSecurity.exemptions).toEqual({ usernames: [], runtimeClasses: [], namespaces: ["ingress", "kube-system"] });
  });

  it("limits events per server, namespace and user", () => {
    const limits = plugins(renderAdmissionConfig(DEFAULTS)).EventRateLimit.limits;
    expect(limits.map((l: any) => l.type)).toEqual(["Server", "Namespace", "User"]);
    for (const l of limits) expect(l.qps).toBeGreaterThan(0);
  });

  it("uses only fields of the upstream admission, PodSecurity and EventRateLimit types", () => {
    const yaml = renderAdmissionConfig(DEFAULTS);
    expect(validateKubernetesConfig(yaml)).toEqual([]);
    for (const embedded of Object.values(plugins(yaml))) expect(validateKubernetesConfig(JSON.stringify(embedded))).toEqual([]);
  });

  it("lives in the directory the apiserver mounts read-only", () => {
    const dir = (path: string) => path.slice(0, path.lastIndexOf("/"));
    expect(dir(NODE_FILES.admissionConfig)).toBe(dir(NODE_FILES.authenticationConfig));
  });
});
