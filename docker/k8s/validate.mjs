// validate.mjs - checks every manifest in this folder against the Kubernetes API schemas
// offline (kubernetes-models), since `kubectl apply --dry-run=client` needs a cluster.
// Prints one line per object and exits 1 if any is invalid.
//   node docker/k8s/validate.mjs   (with kubernetes-models and yaml installed; see docker/test.sh)
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { ConfigMap, PersistentVolumeClaim, Service } from "kubernetes-models/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";

const kinds = { ConfigMap, PersistentVolumeClaim, Service, Deployment, HorizontalPodAutoscaler };
const here = dirname(fileURLToPath(import.meta.url));
let failed = 0, checked = 0;
for (const file of readdirSync(here).filter((f) => f.endsWith(".yaml")).sort()) {
  for (const doc of parseAllDocuments(readFileSync(join(here, file), "utf8"))) {
    const obj = doc.toJS();
    const Kind = kinds[obj.kind];
    checked++;
    try {
      if (!Kind) throw new Error(`no schema loaded for kind ${obj.kind}`);
      new Kind(obj).validate();
      console.log(`ok   ${file}: ${obj.kind}/${obj.metadata.name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${file}: ${obj.kind}/${obj.metadata?.name}: ${e.message}`);
    }
  }
}
console.log(`${checked} manifests checked, ${failed} invalid`);
process.exit(failed || checked === 0 ? 1 : 0);
