import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { Testing, TerraformStack } from "cdktf";
import { AwsEnvironment } from "../../lib/aws-environment";

export const TEST_ACCOUNT = "111122223333";
export const TEST_REGION = "eu-west-1";

export interface SynthResource {
  readonly name: string;
  readonly path: string;
  readonly values: Record<string, any>;
}

/** A synthesized stack, with lookups by resource type. */
export class Synthesized {
  constructor(readonly json: Record<string, any>) {}

  resources(type: string): SynthResource[] {
    return Object.entries((this.json.resource?.[type] ?? {}) as Record<string, Record<string, any>>).map(([name, values]) => ({
      name,
      path: values["//"]?.metadata?.path ?? "",
      values,
    }));
  }

  /** The single resource of a type, failing when there is not exactly one. */
  only(type: string): SynthResource {
    const found = this.resources(type);
    if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
    return found[0];
  }

  dataSources(type: string): string[] {
    return Object.keys(this.json.data?.[type] ?? {});
  }

  /** `${type}.${name}`, as Terraform interpolations reference a resource. */
  static ref(type: string, resource: SynthResource, attribute = "id"): string {
    return `\${${type}.${resource.name}.${attribute}}`;
  }
}

/** A stack with an AWS provider and explicit account and region (no lookups), synthesized with validations. */
export function synthStack(build: (stack: TerraformStack) => void): Synthesized {
  const stack = testStack();
  build(stack);
  Testing.synth(stack, true); // runs aspects and construct validations
  // toTerraform() keeps the construct paths ("//" metadata) that Testing.synth strips.
  return new Synthesized(JSON.parse(JSON.stringify(stack.toTerraform())));
}

export function testStack(): TerraformStack {
  const app = Testing.app();
  const stack = new TerraformStack(app, "test");
  new AwsProvider(stack, "aws", { region: TEST_REGION });
  new AwsEnvironment(stack, { accountId: TEST_ACCOUNT, region: TEST_REGION });
  return stack;
}

/** What `policy()` puts for the deploying principal's two ARN patterns (AwsEnvironment.deployingPrincipalArns). */
export const DEPLOYER = ["<deployer role or user>", "<deployer role, with a path>"];

/**
 * A synthesized policy document's statements. The deploying principal's
 * ARNs are Terraform expressions, whose quotes JSON cannot hold: they become
 * the two DEPLOYER markers.
 */
export function policyStatements(text: string): Array<Record<string, any>> {
  const marked = text.replace(/\$\{replace\(data\.aws_caller_identity[^}]*\)\}/g, (expression) => (expression.includes("role/*/") ? DEPLOYER[1] : DEPLOYER[0]));
  return JSON.parse(marked).Statement;
}
