import { parsePlanArguments } from "../../lib/plan/cli";
import { CheckovResult } from "../../lib/plan/checkov";
import { MAX_MARKDOWN_CHARS, PLAN_DIFF_MARKER, StackDiff, attributeChanges, comparePolicy, diffStack, renderDiffMarkdown, renderDiffText, showValue } from "../../lib/plan/plan-diff";
import { ProviderSchemas, placeholderNames, seededState } from "../../lib/plan/seeded-state";

/** The renderer and the seeding, on hand-made plans; plan-diff-terraform.test.ts runs them on real ones. */

describe("attribute changes of a planned update", () => {
  it("lists changed leaves only, nested blocks by index", () => {
    const changes = attributeChanges(
      {
        actions: ["update"],
        before: { max_size: 3, tag: [{ key: "a", value: "1" }, { key: "b", value: "2" }], name: "x" },
        after: { max_size: 5, tag: [{ key: "a", value: "1" }, { key: "b", value: "3" }], name: "x" },
      },
      [],
    );
    expect(changes).toEqual([
      { path: "max_size", before: "3", after: "5", forcesReplacement: false },
      { path: "tag.1.value", before: '"2"', after: '"3"', forcesReplacement: false },
    ]);
  });

  it("never shows a sensitive value, on either side", () => {
    const changes = attributeChanges(
      {
        actions: ["update"],
        before: { value: "old-secret", description: "d" },
        after: { value: "new-secret", description: "e" },
        before_sensitive: {},
        after_sensitive: { value: true },
      },
      [],
    );
    expect(JSON.stringify(changes)).not.toMatch(/secret/);
    expect(changes).toContainEqual({ path: "value", before: "(sensitive)", after: "(sensitive, changed)", forcesReplacement: false });
  });

  it("shows values known only after apply, and AWS-assigned placeholders of the base, as such", () => {
    const changes = attributeChanges(
      { actions: ["update"], before: { latest_version: 1, arn: "arn:aws:offline:eu-west-1:123456789012:offline0123456789ab" }, after: { arn: null }, after_unknown: { latest_version: true } },
      [],
    );
    expect(changes).toEqual([
      { path: "arn", before: "(assigned by AWS)", after: "null", forcesReplacement: false },
      { path: "latest_version", before: "1", after: "(known after apply)", forcesReplacement: false },
    ]);
  });

  it("compares JSON documents held in strings (policies) by their contents", () => {
    const policy = (actions: string[]) => JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: actions, Resource: "*" }] });
    const changes = attributeChanges({ actions: ["update"], before: { policy: policy(["s3:GetObject"]) }, after: { policy: policy(["s3:GetObject", "s3:PutObject"]) } }, []);
    expect(changes).toEqual([{ path: "policy{json}.Statement.0.Action.1", before: "(none)", after: '"s3:PutObject"', forcesReplacement: false }]);
  });

  it("marks the changes that force a replacement, from the plan's replace_paths", () => {
    const changes = attributeChanges({ actions: ["delete", "create"], before: { key: "a.tar.gz", etag: "1" }, after: { key: "b.tar.gz", etag: "2" } }, [["key"]]);
    expect(changes.filter((c) => c.forcesReplacement).map((c) => c.path)).toEqual(["key"]);
  });

  it("shows long values by size and digest", () => {
    expect(showValue("x".repeat(121))).toMatch(/^\(121 characters, sha256 [0-9a-f]{12}\)$/);
    expect(showValue("short")).toBe('"short"');
  });

  it("marks a change inside a JSON document as forcing the replacement when its attribute does", () => {
    const document = (name: string) => JSON.stringify({ Statement: [{ Sid: name }] });
    const changes = attributeChanges({ actions: ["delete", "create"], before: { policy: document("a") }, after: { policy: document("b") } }, [["policy"]]);
    expect(changes).toEqual([{ path: "policy{json}.Statement.0.Sid", before: '"a"', after: '"b"', forcesReplacement: true }]);
    const nested = attributeChanges({ actions: ["delete", "create"], before: { block: [{ x: 1 }] }, after: { block: [{ x: 2 }] } }, [["block"]]);
    expect(nested.map((c) => c.forcesReplacement)).toEqual([true]);
  });
});

describe("a stack's diff and its rendering", () => {
  const plan = {
    resource_changes: [
      { address: "aws_autoscaling_group.g", mode: "managed", type: "aws_autoscaling_group", name: "g", change: { actions: ["update"], before: { max_size: 3, name: "a|b", version: "1" }, after: { max_size: 5, name: "a|c" }, after_unknown: { version: true } } },
      { address: "aws_s3_object.bundle", mode: "managed", type: "aws_s3_object", name: "bundle", replace_paths: [["key"]], change: { actions: ["create", "delete"], before: { key: "old" }, after: { key: "new" } } },
      { address: "aws_iam_role.gone", mode: "managed", type: "aws_iam_role", name: "gone", change: { actions: ["delete"], before: {}, after: null } },
      { address: "aws_vpc.same", mode: "managed", type: "aws_vpc", name: "same", change: { actions: ["no-op"], before: {}, after: {} } },
    ],
  };
  const synth = { resource: { aws_autoscaling_group: { g: { "//": { metadata: { path: "prod/cluster/node-group-general/group" } } } } } };
  const diff = diffStack("prod", "compared", plan, { head: synth, base: {} });

  it("orders replacements first, then deletions, updates and creations, and skips no-ops", () => {
    expect(diff.resources.map((r) => `${r.action} ${r.address} ${r.construct}`)).toEqual([
      "replace aws_s3_object.bundle (outside constructs)",
      "delete aws_iam_role.gone (outside constructs)",
      "update aws_autoscaling_group.g cluster/node-group-general",
    ]);
    expect(diff.actions).toEqual({ replace: 1, delete: 1, update: 1 });
  });

  it("renders text and Markdown with the changed attributes, pipes escaped", () => {
    const policy = comparePolicy("checkov 3", [], [{ plan: "p", check: "CKV_AWS_79", address: "aws_launch_template.t", name: "IMDSv1 | off", passed: false }]);
    const withPolicy: StackDiff = { ...diff, policy };
    expect(renderDiffText([withPolicy], "origin/main")).toContain(
      '~ aws_autoscaling_group.g (cluster/node-group-general)\n      max_size: 3 -> 5\n      name: "a|b" -> "a|c"\n      known after apply: version',
    );
    const markdown = renderDiffMarkdown([withPolicy], "origin/main");
    expect(markdown).toContain('| `max_size` | `3` | `5` |\n| `name` | `"a\\|b"` | `"a\\|c"` |\n\nKnown after apply: `version`');
    expect(markdown).toContain("| `key` (forces replacement) | `\"old\"` | `\"new\"` |");
    expect(markdown).toContain("New policy finding (checkov 3): CKV\\_AWS\\_79 on aws\\_launch\\_template.t: IMDSv1 \\| off");
    // A pipe in a value stays inside its cell.
    expect(markdown).toContain('| `name` | `"a\\|b"` | `"a\\|c"` |');
    expect(markdown.startsWith(`${PLAN_DIFF_MARKER}\n## Offline plan against \`origin/main\``)).toBe(true);
  });

  it("tells of a removed stack that its resources stay in AWS, not that the deploy deletes them", () => {
    const removed: StackDiff = { ...diffStack("old", "removed", { resource_changes: [plan.resource_changes[2]] }, { base: {} }) };
    expect(renderDiffText([removed], "main")).toContain('Stack "old": removed from the app. cdktf deploy does not destroy a stack it no longer has: its 1 resource(s) stay in AWS');
    const markdown = renderDiffMarkdown([removed], "main");
    expect(markdown).toContain("| ! left in AWS | `aws_iam_role.gone` |");
    expect(markdown).not.toMatch(/to delete/);
  });

  it("escapes names that Markdown would turn into mentions, links or HTML", () => {
    const noisy: StackDiff = { ...diff, rollout: ["worker group @org/team_[x](y) <b>: refreshed"] };
    expect(renderDiffMarkdown([noisy], "main")).toContain("1. worker group \\@org/team\\_\\[x\\](y) \\<b\\>: refreshed");
  });

  it("keeps a comment GitHub would refuse under its limit: whole stacks while they fit, then each stack in brief", () => {
    const resources = Array.from({ length: 100 }, (_, i) => ({ ...diff.resources[2], address: `aws_autoscaling_group.g${i}` }));
    const big = (stack: string): StackDiff => ({ ...diff, stack, actions: { update: 100 }, rollout: [`worker group ${stack}: refreshed`], resources });
    const markdown = renderDiffMarkdown([big("first"), big("second"), big("third")], "main");
    expect(markdown.length).toBeLessThanOrEqual(MAX_MARKDOWN_CHARS);
    expect(markdown.length).toBeGreaterThan(MAX_MARKDOWN_CHARS / 2);
    expect(markdown).toContain("<code>aws_autoscaling_group.g99</code>");
    for (const stack of ["first", "second", "third"]) expect(markdown).toContain(`### \`${stack}\`: 100 to update.\n\n**What rolls, in this order:**\n\n1. worker group ${stack}: refreshed`);
    expect(markdown.split("_Resources left out: too long for a comment.").length - 1).toBe(2);
    expect(markdown.split("<details>").length).toBe(markdown.split("</details>").length);
  });
});

describe("policy comparison", () => {
  const result = (check: string, address: string, passed: boolean): CheckovResult => ({ plan: "x", check, address, name: check, passed });
  it("reports checks that newly fail, and those that no longer do", () => {
    const base = [result("A", "r1", false), result("B", "r1", true), result("C", "r2", false)];
    const head = [result("A", "r1", false), result("B", "r1", false), result("C", "r2", true)];
    expect(comparePolicy("t", base, head)).toEqual({ tool: "t", ran: true, newFindings: [{ check: "B", address: "r1", name: "B" }], resolvedFindings: [{ check: "C", address: "r2", name: "C" }] });
  });
});

describe("the base's seeded state", () => {
  const schemas: ProviderSchemas = {
    provider_schemas: {
      "registry.terraform.io/hashicorp/aws": {
        resource_schemas: {
          aws_launch_template: {
            version: 0,
            block: {
              attributes: {
                id: { type: "string", optional: true, computed: true },
                arn: { type: "string", computed: true },
                latest_version: { type: "number", computed: true },
                name_prefix: { type: "string", optional: true, computed: true },
                vpc_security_group_ids: { type: ["set", "string"], optional: true },
                user_data: { type: "string", optional: true },
                tags: { type: ["map", "string"], optional: true },
              },
            },
          },
        },
      },
    },
  };
  const plan = {
    resource_changes: [
      {
        address: "aws_launch_template.t",
        mode: "managed",
        type: "aws_launch_template",
        name: "t",
        provider_name: "registry.terraform.io/hashicorp/aws",
        change: {
          actions: ["create"],
          after: { user_data: "x", vpc_security_group_ids: null, tags: { secret: "s" } },
          after_unknown: { id: true, arn: true, latest_version: true, name_prefix: true, vpc_security_group_ids: true },
          after_sensitive: { user_data: true, tags: { secret: true } },
        },
      },
    ],
  };
  const state = seededState(plan, schemas);
  const attributes = (state.resources[0].instances as any[])[0].attributes;

  it("keeps planned values, and gives each unknown a value of its type: EC2-shaped ids, ARN-shaped ARNs, zero for what the provider may leave unset", () => {
    expect(attributes).toEqual({
      user_data: "x",
      tags: { secret: "s" },
      id: expect.stringMatching(/^lt-offline[0-9a-f]{12}$/),
      arn: expect.stringMatching(/^arn:aws:offline:eu-west-1:123456789012:offline[0-9a-f]{12}$/),
      latest_version: 1,
      name_prefix: "",
      vpc_security_group_ids: [],
    });
    expect(state.resources[0].provider).toBe('provider["registry.terraform.io/hashicorp/aws"]');
  });

  it("carries the plan's sensitive marks, so a state differing only in marks plans no update", () => {
    expect((state.resources[0].instances as any[])[0].sensitive_attributes).toEqual([
      [{ type: "get_attr", value: "user_data" }],
      [{ type: "get_attr", value: "tags" }, { type: "index", value: { value: "secret", type: "string" } }],
    ]);
  });

  it("keeps a previous round's value for what a re-plan leaves unknown", () => {
    const previous = seededState(plan, schemas);
    (previous.resources[0].instances as any[])[0].attributes.latest_version = 7;
    const again = seededState(plan, schemas, previous);
    expect((again.resources[0].instances as any[])[0].attributes.latest_version).toBe(7);
  });

  it("names the resource and attribute a placeholder stands for, wherever a reference carried it", () => {
    const names = placeholderNames(state);
    expect(showValue(attributes.id, names)).toBe("(id of aws_launch_template.t, assigned by AWS)");
    expect(showValue(attributes.arn, names)).toBe("(arn of aws_launch_template.t, assigned by AWS)");
    expect(showValue("lt-offline000000000000", names)).toBe("(assigned by AWS)");
  });

  it("refuses a resource type the schemas do not know", () => {
    expect(() => seededState({ resource_changes: [{ ...plan.resource_changes[0], type: "aws_nothing" }] }, schemas)).toThrow(/no schema for aws_nothing/);
  });
});

describe("npm run plan arguments", () => {
  it("takes --base <ref> or --base=<ref>, then stack names", () => {
    expect(parsePlanArguments(["--base", "origin/main", "prod"])).toEqual({ base: "origin/main", stacks: ["prod"] });
    expect(parsePlanArguments(["--base=v1.2.0"])).toEqual({ base: "v1.2.0", stacks: [] });
    expect(parsePlanArguments([])).toEqual({ base: undefined, stacks: [] });
    expect(parsePlanArguments(["prod", "--help"])).toEqual({ stacks: [], help: true });
  });

  it("refuses a missing ref and unknown options, naming what is allowed", () => {
    expect(() => parsePlanArguments(["--base"])).toThrow("--base needs a git ref");
    expect(() => parsePlanArguments(["--base", "--json"])).toThrow("--base needs a git ref");
    expect(() => parsePlanArguments(["--json"])).toThrow("unknown option --json; allowed: --base <git-ref>, --help, then stack names");
  });
});
