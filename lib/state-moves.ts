import { TerraformResource, TerraformStack } from "cdktf";
import { Construct, IConstruct, Node } from "constructs";

/**
 * The Terraform address the resource would have if `construct` had the path `formerPath` in its stack. The stack
 * names it (`getLogicalId` of a node with that path), so a stack that allocates its logical ids its own way is
 * followed too.
 */
function formerAddress(resource: TerraformResource, construct: Construct, formerPath: string[]): string {
  const stack = TerraformStack.of(resource);
  const below = resource.node.scopes.slice(resource.node.scopes.indexOf(construct) + 1).map((c) => c.node.id);
  // Only the ids of the scopes are read, so a path of stand-ins below the real stack is enough.
  const former = { scopes: [stack, ...[...formerPath, ...below].map((id) => ({ node: { id } }))] } as unknown as Node;
  return `${resource.terraformResourceType}.${stack.getLogicalId(former)}`;
}

/** A construct's path of ids below its stack, as cdktf builds logical ids from it. */
export function stackPath(construct: IConstruct): string[] {
  const scopes = construct.node.scopes;
  const stack = scopes.findIndex((c) => TerraformStack.isStack(c));
  return scopes.slice(stack + 1).map((c) => c.node.id);
}

/**
 * Keeps the state of resources whose constructs moved: every resource below `construct` gets a `moved` block from
 * the address it had when `construct` sat at `formerPath` (ids below the stack), so Terraform renames it in the state
 * instead of destroying and creating it. A moved block whose former address is not in the state does nothing, so a
 * new deployment is unaffected. Call it after everything below `construct` exists.
 */
export function keepStateOfMovedConstruct(construct: Construct, formerPath: string[]): void {
  for (const child of construct.node.findAll()) {
    if (child instanceof TerraformResource) child.moveFromId(formerAddress(child, construct, formerPath));
  }
}
