// validate.mjs - checks the KServe manifests in this folder offline, since KServe's CRDs
// are not installed where the tests run: each object against the schema of its kind in
// schema/ (written from KServe's CRDs: see their $comment), and the Kubernetes parts
// inside (the runtime's pod fields, the model's container fields) against the Kubernetes
// API schemas (kubernetes-models). Also checks that the two fit together: the service
// asks for a format the runtime supports, the runtime speaks the protocol it asks for,
// and the runtime's probes and metrics point at the port its container serves.
// Prints one line per check and exits 1 if any fails.
//   node docker/kserve/validate.mjs   (with ajv, kubernetes-models and yaml; see docker/test.sh)
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import Ajv from "ajv";
import { Container, Pod } from "kubernetes-models/v1";

const here = dirname(fileURLToPath(import.meta.url));
const ajv = new Ajv({ allErrors: true, strict: true });
const schemas = {
  ServingRuntime: ajv.compile(JSON.parse(readFileSync(join(here, "schema/servingruntime.v1alpha1.schema.json"), "utf8"))),
  InferenceService: ajv.compile(JSON.parse(readFileSync(join(here, "schema/inferenceservice.v1beta1.schema.json"), "utf8"))),
};
let failed = 0, checked = 0;
function check(what, fn) {
  checked++;
  try {
    fn();
    console.log(`ok   ${what}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${what}: ${e.message}`);
  }
}

// kubernetes-models' validators let unknown fields through (the API server prunes them), so a
// misspelt field would pass unseen. The fields of each core/v1 type are read from its
// TypeScript declaration, and every object in the manifest is checked against them.
const models = dirname(createRequire(import.meta.url).resolve("kubernetes-models/package.json"));
const fieldCache = {};
function fieldsOf(type) {
  if (!(type in fieldCache)) {
    const dts = join(models, "v1", `${type}.d.ts`);
    fieldCache[type] = null;
    if (existsSync(dts)) {
      const fields = {};
      const text = readFileSync(dts, "utf8");
      const body = text.slice(text.indexOf(`export interface I${type} {`));
      for (const m of body.slice(0, body.indexOf("\n}")).matchAll(/^ {4}"(\w+)"\??: (.*)$/gm))
        fields[m[1]] = (m[2].match(/^(?:Array<)?IIoK8sApiCoreV1(\w+)/) || [])[1] || null; // a core/v1 type to recurse into, or null
      fieldCache[type] = fields;
    }
  }
  return fieldCache[type];
}
function strictFields(value, type, path) {
  const fields = fieldsOf(type);
  if (!fields || value === null || typeof value !== "object") return;
  for (const item of Array.isArray(value) ? value : [value])
    for (const [key, inner] of Object.entries(item)) {
      if (!(key in fields)) throw new Error(`${path}.${key}: no such field of ${type}`);
      if (fields[key]) strictFields(inner, fields[key], `${path}.${key}`);
    }
}

// Pod fields of a ServingRuntime, as KServe copies them into the predictor's pod.
function runtimePod(rt) {
  const { containers, volumes, nodeSelector, tolerations, affinity, imagePullSecrets } = rt.spec;
  return new Pod({ metadata: { name: rt.metadata.name }, spec: { containers, volumes, nodeSelector, tolerations, affinity, imagePullSecrets } });
}

// ModelSpec is a Container with a few fields of its own, and no name (KServe names it).
function modelContainer(model) {
  const { modelFormat, runtime, protocolVersion, storageUri, storage, ...container } = model;
  return new Container({ name: "kserve-container", ...container });
}

const objects = [];
for (const file of readdirSync(here).filter((f) => f.endsWith(".yaml")).sort())
  for (const doc of parseAllDocuments(readFileSync(join(here, file), "utf8"))) objects.push({ file, obj: doc.toJS() });

for (const { file, obj } of objects) {
  const what = `${file}: ${obj.kind}/${obj.metadata?.name}`;
  const validate = schemas[obj.kind];
  check(`${what} against KServe's ${obj.kind} schema`, () => {
    if (!validate) throw new Error(`no schema for kind ${obj.kind}`);
    if (!validate(obj)) throw new Error(ajv.errorsText(validate.errors, { dataVar: obj.kind }));
  });
  if (obj.kind === "ServingRuntime")
    check(`${what}: pod fields against the Kubernetes schemas`, () => {
      const pod = runtimePod(obj);
      pod.validate();
      strictFields(pod.spec, "PodSpec", "spec");
    });
  if (obj.kind === "InferenceService" && obj.spec?.predictor?.model)
    check(`${what}: model container fields against the Kubernetes schemas`, () => {
      const container = modelContainer(obj.spec.predictor.model);
      container.validate();
      strictFields(container, "Container", "spec.predictor.model");
    });
}

const runtimes = objects.filter((o) => o.obj.kind === "ServingRuntime").map((o) => o.obj);
for (const { obj } of objects.filter((o) => o.obj.kind === "InferenceService")) {
  const model = obj.spec.predictor.model;
  check(`InferenceService/${obj.metadata.name} fits ServingRuntime/${model.runtime}`, () => {
    const rt = runtimes.find((r) => r.metadata.name === model.runtime);
    if (!rt) throw new Error(`no ServingRuntime named ${model.runtime} here`);
    const format = rt.spec.supportedModelFormats.find((f) => f.name === model.modelFormat.name);
    if (!format) throw new Error(`the runtime does not support model format ${model.modelFormat.name}`);
    if (model.modelFormat.version && format.version !== model.modelFormat.version)
      throw new Error(`format version ${model.modelFormat.version}, the runtime has ${format.version}`);
    if (!rt.spec.protocolVersions.includes(model.protocolVersion))
      throw new Error(`protocol ${model.protocolVersion}, the runtime speaks ${rt.spec.protocolVersions}`);
  });
}
for (const rt of runtimes) {
  check(`ServingRuntime/${rt.metadata.name}: probes, metrics and --port agree on the served port`, () => {
    const c = rt.spec.containers.find((x) => x.name === "kserve-container");
    if (!c) throw new Error("no container named kserve-container (the one KServe configures)");
    const port = c.ports[0].containerPort;
    const flag = (c.args || []).find((a) => a.startsWith("--port="));
    if (!flag || Number(flag.slice(7)) !== port) throw new Error(`--port is ${flag}, the container port ${port}`);
    for (const probe of [c.readinessProbe, c.livenessProbe])
      if (!probe || probe.httpGet.port !== port || !probe.httpGet.path.startsWith("/v2/health/"))
        throw new Error(`a probe does not ask /v2/health/* on ${port}: ${JSON.stringify(probe)}`);
    if (Number(rt.spec.annotations["prometheus.kserve.io/port"]) !== port) throw new Error("prometheus.kserve.io/port is not the served port");
    if (!(c.args || []).includes("--model-dir=/mnt/models")) throw new Error("--model-dir is not /mnt/models, where KServe puts storageUri");
    if (!c.securityContext?.runAsNonRoot) throw new Error("the container may run as root");
  });
}
console.log(`${checked} checks of the KServe manifests, ${failed} failed`);
process.exit(failed || checked === 0 ? 1 : 0);
