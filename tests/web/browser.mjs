// browser.mjs PORT SCREENSHOT.png - the /docs page in headless Chromium (Debian's, driven by
// playwright-core): it loads without console errors, lists POST /convtranspose from the
// OpenAPI document, and the try-it panel's seed layer (ConvTranspose2d(2, 4, 3, groups=2) on
// arange(18)) shows output shape [1, 4, 5, 5] with the right first values and drawn heatmaps.
// A browser opening / is sent to /docs. The screenshot is checked to be more than one colour.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";

const [port, shot] = process.argv.slice(2);
const base = `http://127.0.0.1:${port}`;
let failures = 0;
const check = (cond, what) => { console.log((cond ? "ok   " : "FAIL ") + what); if (!cond) failures++; };

const browser = await chromium.launch({ executablePath: process.env.CT_CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const errors = [];
page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
page.on("pageerror", (e) => errors.push(e.message));

await page.goto(base + "/");
check(new URL(page.url()).pathname === "/docs", `opening / in a browser lands on /docs (${page.url()})`);
await page.waitForSelector('details[data-path="/convtranspose"]', { timeout: 10000 });
const listed = await page.locator('details[data-path="/convtranspose"] summary').innerText();
check(/POST/.test(listed) && /\/convtranspose/.test(listed), `the page lists POST /convtranspose ("${listed.replace(/\s+/g, " ")}")`);
const ops = await page.locator("details[data-path]").count();
check(ops >= 20, `the page lists every operation of the document (${ops})`);

await page.click("#seed");
await page.click("#send");
await page.waitForFunction(() => /^200:/.test(document.getElementById("status").textContent), null, { timeout: 10000 });
const status = await page.locator("#status").innerText();
check(/output shape \[1, 4, 5, 5\]/.test(status), `try-it on the seed layer: "${status}"`);
const meta = await page.locator("#output-view .meta").innerText();
check(/shape \[1, 4, 5, 5\]/.test(meta), `the output panel shows shape [1, 4, 5, 5] ("${meta}")`);
const values = (await page.locator("#output-view pre.values").innerText()).trim().split(/\s+/).slice(0, 32).join(" ");
// the expected values are torch's (tests/fixtures/make_fixtures.py, the notebook's grouped 2-d layer)
const fixtures = JSON.parse(readFileSync(new URL("../fixtures/torch_cases.json", import.meta.url)));
const notebook = fixtures.cases.find((c) => c.name === "notebook_grouped_2d_ones").expected;
const want = notebook.data.slice(0, 32).join(" ");
check(values === want && notebook.shape.join(",") === "1,4,5,5", `first output values: ${values} (torch: ${want})`);
const maps = await page.locator("#output-view canvas").count();
check(maps === 4, `one heatmap per output channel (${maps})`);
const drawn = await page.evaluate(() => {
  const c = document.querySelector("#output-view canvas");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  const colours = new Set();
  for (let i = 0; i < d.length; i += 4) colours.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
  return colours.size;
});
check(drawn > 5, `the first heatmap has ${drawn} colours`);
// Uploaded .npy files and a 1-d layer: input [1, 1, 4], weight [1, 1, 2] of ones, stride 2
// -> [1, 1, 8], each input doubled, drawn as a line plot.
function npy(shape, data) {
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - 11, " ") + "\n";
  const out = Buffer.alloc(total + 4 * data.length);
  out.write("\x93NUMPY", 0, "latin1");
  out[6] = 1;
  out.writeUInt16LE(dict.length, 8);
  out.write(dict, 10, "latin1");
  data.forEach((v, i) => out.writeFloatLE(v, total + 4 * i));
  return out;
}
await page.setInputFiles("#input-file", { name: "x.npy", mimeType: "application/octet-stream", buffer: npy([1, 1, 4], [1, 2, 3, 4]) });
await page.setInputFiles("#weight-file", { name: "w.npy", mimeType: "application/octet-stream", buffer: npy([1, 1, 2], [1, 1]) });
await page.fill("#stride", "2");
await page.fill("#groups", "1");
await page.click("#send");
await page.waitForFunction(() => /output shape \[1, 1, 8\]/.test(document.getElementById("status").textContent), null, { timeout: 10000 });
const values1d = (await page.locator("#output-view pre.values").innerText()).trim();
check(values1d === "1 1 2 2 3 3 4 4", `uploaded .npy files, 1-d stride 2: ${values1d}`);
const lines = await page.locator("#output-view canvas").count();
check(lines === 1, `a 1-d output is one line plot (${lines})`);
// back to the seed layer for the screenshot
await page.click("#seed");
await page.click("#send");
await page.waitForFunction(() => /\[1, 4, 5, 5\]/.test(document.getElementById("status").textContent), null, { timeout: 10000 });
await page.screenshot({ path: shot, fullPage: false });
check(errors.length === 0, `no console errors${errors.length ? ": " + errors.join(" | ") : ""}`);

// The screenshot, decoded by the browser itself: not blank means many colours across it.
const sampled = await page.evaluate(async (b64) => {
  const img = new Image();
  img.src = "data:image/png;base64," + b64;
  await img.decode();
  const c = document.createElement("canvas");
  c.width = img.width; c.height = img.height;
  const g = c.getContext("2d");
  g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data, seen = new Set();
  for (let i = 0; i < d.length; i += 4 * 97) seen.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
  return { width: img.width, height: img.height, colours: seen.size };
}, readFileSync(shot).toString("base64"));
check(sampled.width === 1280 && sampled.height === 900 && sampled.colours > 10,
      `screenshot ${sampled.width}x${sampled.height} is not blank (${sampled.colours} colours sampled)`);
await browser.close();
console.log(`browser: ${failures} failures`);
process.exit(failures ? 1 : 0);
