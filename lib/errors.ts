/**
 * A configuration mistake found at synth time. The message names the property,
 * the value given and what is allowed, so a user can fix it without reading code.
 */
export class ConfigError extends Error {
  constructor(
    /** The property (or environment variable) that holds the bad value. */
    readonly property: string,
    message: string,
  ) {
    super(`${property}: ${message}`);
    this.name = "ConfigError";
  }
}
