// lint.mjs PORT [TOKEN] - lints the OpenAPI document the daemon serves with @redocly/cli's
// recommended rules; exits non-zero when redocly finds an error (warnings are printed).
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const [port, token] = process.argv.slice(2);
const res = await fetch(`http://127.0.0.1:${port}/openapi.json`);
if (res.status !== 200) { console.log(`FAIL GET /openapi.json: ${res.status}`); process.exit(1); }
const file = join(mkdtempSync(join(tmpdir(), "ct-openapi-")), token ? "openapi-auth.json" : "openapi.json");
writeFileSync(file, await res.text());
const here = dirname(fileURLToPath(import.meta.url));
const run = spawnSync(process.execPath, [join(here, "node_modules/@redocly/cli/bin/cli.js"), "lint", "--format=summary", file],
                      { encoding: "utf8", env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" } });
process.stdout.write(run.stdout + run.stderr);
console.log(run.status === 0 ? "lint: no errors" : "lint: errors found");
process.exit(run.status === 0 ? 0 : 1);
