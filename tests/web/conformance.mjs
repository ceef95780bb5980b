// conformance.mjs PORT [TOKEN] - the daemon against its own OpenAPI document. For every
// operation in /openapi.json it sends valid requests (the document's examples, in every
// request content type it lists, and every Accept its 200 lists) and invalid ones (a broken
// body, an unknown name), and checks that each status is one the document lists for that
// operation, that the Content-Type is one that response lists, and that JSON bodies validate
// against the response's schema. Every route GET / lists must be in the document and every
// operation in the document must be a route. Prints "ok"/"FAIL" lines; exits 1 on a failure.
import Ajv2020 from "ajv/dist/2020.js";

const port = process.argv[2];
const token = process.argv[3];
const base = `http://127.0.0.1:${port}`;
const auth = token ? { Authorization: `Bearer ${token}` } : {};
let failures = 0, checks = 0;
const fail = (msg) => { failures++; console.log("FAIL " + msg); };

const doc = await (await fetch(base + "/openapi.json")).json();
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema(doc, "openapi");
const pointer = (...parts) => "openapi#/" + parts.map((p) => String(p).replace(/~/g, "~0").replace(/\//g, "~1")).join("/");

// ---- request bodies in every content type, made from the document's JSON example
function npy(shape, data) {
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - 10 - 1, " ") + "\n";
  const out = Buffer.alloc(total + 4 * data.length);
  out.write("\x93NUMPY", 0, "latin1");
  out[6] = 1; out[7] = 0;
  out.writeUInt16LE(dict.length, 8);
  out.write(dict, 10, "latin1");
  data.forEach((v, i) => out.writeFloatLE(v, total + 4 * i));
  return out;
}
const f32 = (data) => { const b = Buffer.alloc(4 * data.length); data.forEach((v, i) => b.writeFloatLE(v, 4 * i)); return b; };
const SEED_INPUT = { shape: [1, 2, 3, 3], data: Array.from({ length: 18 }, (_, i) => i) };

function multipart(parts) {
  const boundary = "ctconformance" + Math.random().toString(16).slice(2);
  const chunks = [];
  for (const [name, value, type] of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}"\r\nContent-Type: ${type}\r\n\r\n`));
    chunks.push(Buffer.isBuffer(value) ? value : Buffer.from(value));
    chunks.push(Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
}

// Valid bodies for one operation: [{label, headers, body}]
function validBodies(op, example) {
  const out = [];
  const content = op.requestBody ? op.requestBody.content : {};
  for (const type of Object.keys(content)) {
    const ex = content[type].example || example;
    if (type === "application/json") {
      out.push({ label: type, headers: { "Content-Type": type }, body: JSON.stringify(content[type].example ?? {}) });
    } else if (type === "multipart/form-data") {
      const json = content["application/json"] && content["application/json"].example;
      if (!json) continue;
      const parts = [], config = {};
      for (const [k, v] of Object.entries(json)) {
        if (v && typeof v === "object" && !Array.isArray(v) && v.shape) parts.push([k, npy(v.shape, v.data), "application/x-npy"]);
        else config[k] = v;
      }
      if (!json.weight) parts.push(["input", npy(SEED_INPUT.shape, SEED_INPUT.data), "application/x-npy"]);
      parts.push(["config", JSON.stringify(config), "application/json"]);
      const m = multipart(parts);
      out.push({ label: type, headers: { "Content-Type": m.type }, body: m.body });
    } else if (type === "application/x-npy") {
      out.push({ label: type, headers: { "Content-Type": type }, body: npy(SEED_INPUT.shape, SEED_INPUT.data) });
    } else if (type === "application/octet-stream" && op.operationId.startsWith("v2")) {
      // the binary extension: the JSON example's tensors moved after the header
      const json = JSON.parse(JSON.stringify(content["application/json"].example));
      const bins = [];
      for (const input of json.inputs) {
        bins.push(f32(input.data));
        input.parameters = { binary_data_size: 4 * input.data.length };
        delete input.data;
      }
      const header = Buffer.from(JSON.stringify(json));
      out.push({ label: "binary extension", headers: { "Content-Type": type, "Inference-Header-Content-Length": String(header.length) },
                 body: Buffer.concat([header, ...bins]) });
    } else if (type === "application/octet-stream") {
      out.push({ label: type, headers: { "Content-Type": type, "X-Tensor-Shape": SEED_INPUT.shape.join(",") }, body: f32(SEED_INPUT.data) });
    }
    void ex;
  }
  return out;
}

async function check(op, path, method, url, req, label) {
  checks++;
  const res = await fetch(url, { method, headers: { ...auth, ...req.headers }, body: req.body, redirect: "manual" });
  const where = `${method} ${path} (${label}) -> ${res.status}`;
  const buf = Buffer.from(await res.arrayBuffer());
  const spec = op.responses[String(res.status)] || op.responses.default;
  if (!spec) return fail(`${where}: status not in the document (lists ${Object.keys(op.responses).join(", ")}): ${buf.toString().slice(0, 200)}`);
  const type = (res.headers.get("content-type") || "").split(";")[0].trim();
  if (!spec.content) {
    if (buf.length) fail(`${where}: the document lists no body, got ${buf.length} bytes`);
    return res.status;
  }
  if (!spec.content[type]) return fail(`${where}: Content-Type ${type} not in the document (${Object.keys(spec.content).join(", ")})`);
  if (type === "application/json") {
    const code = String(op.responses[String(res.status)] ? res.status : "default");
    const validate = ajv.getSchema(pointer("paths", path, method.toLowerCase(), "responses", code, "content", type, "schema"))
      || ajv.compile({ $ref: pointer("paths", path, method.toLowerCase(), "responses", code, "content", type, "schema") });
    let body;
    try { body = JSON.parse(buf.toString()); } catch (e) { return fail(`${where}: invalid JSON: ${e.message}`); }
    if (!validate(body)) return fail(`${where}: body does not match the schema: ${ajv.errorsText(validate.errors)}; ${buf.toString().slice(0, 200)}`);
  }
  console.log(`ok   ${where} ${type}`);
  return res.status;
}

// ---- every operation, layers registered first and deleted last
const ops = [];
for (const [path, item] of Object.entries(doc.paths))
  for (const method of ["put", "get", "post", "delete"])
    if (item[method]) ops.push({ path, method: method.toUpperCase(), op: item[method], params: (item.parameters || []).concat(item[method].parameters || []) });
const rank = (o) => (o.method === "PUT" ? 0 : o.method === "DELETE" ? 2 : 1);
ops.sort((a, b) => rank(a) - rank(b));

for (const { path, method, op, params } of ops) {
  const fill = (override) => path.replace(/\{(\w+)\}/g, (_, n) => {
    const p = params.find((x) => x.name === n);
    return override && override[n] !== undefined ? override[n] : p && p.example !== undefined ? p.example : "x";
  });
  let url = base + fill();
  // a registered layer's model routes: run them on the layer too
  const bodies = op.requestBody ? validBodies(op) : [{ label: "no body", headers: {}, body: undefined }];
  for (const req of bodies) {
    await check(op, path, method, url, req, req.label);
    const ok = op.responses["200"];
    if (ok && ok.content && req.body !== undefined)
      for (const accept of Object.keys(ok.content).filter((t) => t !== "application/json"))
        await check(op, path, method, url, { ...req, headers: { ...req.headers, Accept: accept } }, `${req.label}, Accept ${accept}`);
  }
  if (params.some((p) => p.in === "path") && method !== "PUT")
    await check(op, path, method, base + fill({ name: "no-such-layer", model: "no-such-model" }), { headers: {}, body: method === "POST" ? "{}" : undefined }, "unknown name");
  if (op.requestBody)
    await check(op, path, method, url, { headers: { "Content-Type": "application/json" }, body: '{"input": [' }, "broken JSON");
  if (token)
    { checks++; const r = await fetch(url, { method, headers: {}, body: op.requestBody ? "{}" : undefined });
      const public_ = op.security && op.security.length === 0;
      if (!public_ && (r.status !== 401 || !op.responses["401"])) fail(`${method} ${path} without the token: ${r.status}`); }
}
if (token && !(doc.components.securitySchemes && doc.components.securitySchemes.bearer && doc.security[0].bearer))
  fail("with --auth-token-file the document must name the bearer scheme");
if (!token && doc.components.securitySchemes)
  fail("without --auth-token-file the document must not ask for credentials");

// ---- routes and document agree
const info = await (await fetch(base + "/", { headers: auth })).json();
const documented = new Set(ops.map((o) => `${o.method} ${o.path}`));
const routed = new Set();
for (const e of info.endpoints)
  for (const m of e.methods.split(", ")) {
    routed.add(`${m} ${e.path}`);
    checks++;
    if (!documented.has(`${m} ${e.path}`)) fail(`route ${m} ${e.path} is not in the OpenAPI document`);
  }
for (const d of documented) { checks++; if (!routed.has(d)) fail(`${d} is documented but GET / does not list it`); }

console.log(`conformance: ${checks} checks, ${failures} failures`);
process.exit(failures ? 1 : 0);
