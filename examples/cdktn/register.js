/**
 * Loads this project's constructs on CDK Terrain, unchanged: one source of truth, two frameworks.
 *
 * Before main.ts loads, module resolution is redirected:
 * - `cdktf` to `cdktn`, which keeps cdktf's API under the new name;
 * - `@cdktf/provider-aws/lib/<resource>` to the bindings `cdktn get` generated for hashicorp/aws 5.100.0 in
 *   `.gen/providers/aws/<resource>` (the same layout the prebuilt provider packages have);
 * - `constructs` to the copy cdktn uses, so there is one Construct class.
 * TypeScript (ours and the generated bindings) is compiled on load by the project's ts-node, types unchecked.
 */
const Module = require("node:module");
const path = require("node:path");

const here = __dirname;
const root = path.resolve(here, "../..");
const bindings = path.join(here, ".gen", "providers", "aws");
// Resolved before the redirection is in place.
const redirected = { cdktf: require.resolve("cdktn", { paths: [here] }), constructs: require.resolve("constructs", { paths: [here] }) };

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (Object.hasOwn(redirected, request)) return redirected[request];
  if (request.startsWith("@cdktf/provider-aws/lib/")) {
    return path.join(bindings, request.slice("@cdktf/provider-aws/lib/".length), "index.ts");
  }
  if (request === "@cdktf/provider-aws" || request.startsWith("cdktf/")) {
    throw new Error(`${request}: not mapped to cdktn (import provider classes by deep path, and cdktf from its root)`);
  }
  return resolveFilename.call(this, request, parent, ...rest);
};

require(require.resolve("ts-node", { paths: [root] })).register({ transpileOnly: true, project: path.join(root, "tsconfig.json") });
