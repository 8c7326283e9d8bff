import { renderSummaryMarkdown, renderSummaryText, summarizePlan } from "../../lib/plan/summary";

const plan = {
  resource_changes: [
    { address: "aws_vpc.net_vpc", mode: "managed", type: "aws_vpc", name: "net_vpc", change: { actions: ["create"] } },
    { address: "aws_subnet.net_a", mode: "managed", type: "aws_subnet", name: "net_a", change: { actions: ["create"] } },
    { address: "aws_subnet.net_b", mode: "managed", type: "aws_subnet", name: "net_b", change: { actions: ["create"] } },
    { address: "aws_kms_key.key", mode: "managed", type: "aws_kms_key", name: "key", change: { actions: ["delete", "create"] } },
    { address: "aws_iam_role.r", mode: "managed", type: "aws_iam_role", name: "r", change: { actions: ["update"] } },
    { address: "aws_route.same", mode: "managed", type: "aws_route", name: "same", change: { actions: ["no-op"] } },
    { address: "data.aws_region.r", mode: "data", type: "aws_region", name: "r", change: { actions: ["read"] } },
  ],
};
const synth = {
  resource: {
    aws_vpc: { net_vpc: { "//": { metadata: { path: "prod/cluster/network/vpc" } } } },
    aws_subnet: {
      net_a: { "//": { metadata: { path: "prod/cluster/network/private-a" } } },
      net_b: { "//": { metadata: { path: "prod/cluster/network/endpoints/x" } } },
    },
  },
};

describe("summarizePlan", () => {
  const summary = summarizePlan("prod", plan, synth);

  it("counts managed resources per action, treating delete+create as a replacement", () => {
    expect(summary.actions).toEqual({ create: 2 + 1, replace: 1, update: 1 });
  });

  it("groups resources to create by type and by the construct that holds them", () => {
    expect(summary.createByType).toEqual([["aws_subnet", 2], ["aws_vpc", 1]]);
    expect(summary.createByConstruct).toEqual([["cluster/network", 2], ["cluster/network/endpoints", 1]]);
  });

  it("renders text and pull-request Markdown", () => {
    expect(renderSummaryText(summary)).toContain('Offline plan of stack "prod": 3 to create, 1 to update, 1 to replace.');
    const markdown = renderSummaryMarkdown(summary);
    expect(markdown).toContain("| `aws_subnet` | 2 |");
    expect(markdown).toContain("| `cluster/network/endpoints` | 1 |");
  });
});
