/**
 * The environment file that configures the node scripts. Values are known at
 * synth time and single-quoted, so the shell reads them literally: no value is
 * ever interpolated into a script.
 */
export type NodeEnvironment = Record<string, string | number | boolean>;

const NAME = /^[A-Z][A-Z0-9_]*$/;

export function renderNodeEnv(env: NodeEnvironment): string {
  return Object.entries(env)
    .map(([name, value]) => {
      if (!NAME.test(name)) throw new Error(`invalid environment variable name ${JSON.stringify(name)}`);
      const text = String(value);
      if (text.includes("\n")) throw new Error(`environment value of ${name} must be one line`);
      return `${name}='${text.replace(/'/g, `'\\''`)}'\n`;
    })
    .join("");
}
