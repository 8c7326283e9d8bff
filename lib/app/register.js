// The app's loader (cdktf.json "app"): ts-node, transpiling with SWC, whose source-map support maps stack traces
// back to TypeScript for errors only. cdktf captures a full stack trace for every token it creates (about 600 in the
// default app); mapping each of them frame by frame took about 0.27 s of a 0.93 s synth (README, "Benchmark").
// A thrown error still points at TypeScript lines; a token's trace, which cdktf shows only when the token cannot be
// resolved, points at the transpiled JavaScript's.
"use strict";
require("ts-node/register/transpile-only");

const mapToTypeScript = Error.prepareStackTrace;
if (mapToTypeScript) {
  Error.prepareStackTrace = (error, frames) =>
    error instanceof Error ? mapToTypeScript(error, frames) : [String(error), ...frames.map((frame) => `    at ${frame}`)].join("\n");
}
