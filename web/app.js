// The demo page and, with `?test`, the browser test web/test.sh drives: both through the same
// Octet (web/src/lib.rs). The test leaves its verdict in `window.octetTest`.
import init, { Octet } from "./pkg/octet_web.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const DATA = "../data/fashion-mnist/";
const FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
  "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];
// CPU time per animation frame given to submitting steps; the GPU works in between.
const FRAME_BUDGET_MS = 8;

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(resolve));
const status = (text) => { $("status").textContent = text; };
const message = (e) => (e && e.message) || String(e);

async function fetchData(octet) {
  const bytes = await Promise.all(FILES.map(async (f) => {
    const r = await fetch(DATA + f);
    if (!r.ok) throw new Error(`fetching ${DATA + f}: HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  }));
  octet.load_data(...bytes);
}

function packedDot() {
  const f = navigator.gpu && navigator.gpu.wgslLanguageFeatures;
  return !!(f && f.has("packed_4x8_integer_dot_product"));
}

// What the browser itself says of its adapter (wgpu's name is empty on the web).
async function browserAdapter() {
  const a = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  const i = (a && a.info) || {};
  return {
    vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description,
    fallback: !!(i.isFallbackAdapter ?? (a && a.isFallbackAdapter)),
  };
}

function showAdapter(a) {
  const b = a.browser;
  const name = [b.vendor, b.architecture, b.device, b.description].filter((v) => v).join(" ");
  $("adapter").innerHTML = `<b>Adapter</b>: ${name || a.name || "(unnamed)"}` +
    `${b.fallback ? " (fallback adapter: software)" : ""} · ${navigator.userAgent.match(/(Chrome|Firefox)\/[\d.]+/)?.[0] || ""}<br>` +
    `WGSL <code>packed_4x8_integer_dot_product</code>: <b>${packedDot() ? "yes" : "no"}</b> ` +
    `(the browser does not say how its driver lowers it) · subgroups: ${a.subgroups ? "yes" : "no"}` +
    `${a.subgroups && !a.subgroup_folds ? " (too narrow for octet's folds)" : ""} · ` +
    `${a.max_invocations} invocations and ${a.max_workgroup_storage / 1024} KiB per workgroup`;
}

// The loss curve: one point per step, and a running mean over 20 steps.
class LossPlot {
  constructor(canvas) { this.c = canvas; this.points = []; }
  add(loss) { this.points.push(loss); }
  draw() {
    const g = this.c.getContext("2d"), w = this.c.width, h = this.c.height, p = this.points;
    g.clearRect(0, 0, w, h);
    if (p.length < 2) return;
    const max = p.reduce((m, v) => (Number.isFinite(v) && v > m ? v : m), 0) * 1.05, n = p.length;
    const x = (i) => 40 + (i / (n - 1)) * (w - 50), y = (v) => h - 20 - (v / max) * (h - 30);
    g.strokeStyle = "#999"; g.fillStyle = "#444"; g.font = "11px sans-serif";
    g.beginPath(); g.moveTo(40, 10); g.lineTo(40, h - 20); g.lineTo(w - 10, h - 20); g.stroke();
    g.fillText(max.toFixed(2), 2, 14); g.fillText("0", 28, h - 20);
    g.fillText(`step ${n}`, w - 60, h - 5);
    g.strokeStyle = "#9ab"; g.beginPath();
    p.forEach((v, i) => (i ? g.lineTo(x(i), y(v)) : g.moveTo(x(i), y(v)))); g.stroke();
    g.strokeStyle = "#c33"; g.lineWidth = 2; g.beginPath();
    let sum = 0;
    p.forEach((v, i) => {
      sum += v; if (i >= 20) sum -= p[i - 20];
      const m = sum / Math.min(i + 1, 20);
      i ? g.lineTo(x(i), y(m)) : g.moveTo(x(i), y(m));
    });
    g.stroke(); g.lineWidth = 1;
  }
}

// Filters `[6, 5, 5, 1]`, each scaled to its own range, grey.
function drawFilters(canvas, w) {
  const g = canvas.getContext("2d"), k = 5, n = w.length / (k * k), cell = 40, gap = 10;
  canvas.width = n * (cell + gap);
  for (let f = 0; f < n; f++) {
    const taps = w.slice(f * k * k, (f + 1) * k * k);
    const lo = Math.min(...taps), hi = Math.max(...taps);
    for (let i = 0; i < k * k; i++) {
      const v = Math.round(255 * (taps[i] - lo) / (hi - lo || 1));
      g.fillStyle = `rgb(${v},${v},${v})`;
      g.fillRect(f * (cell + gap) + (i % k) * cell / k, Math.floor(i / k) * cell / k, cell / k, cell / k);
    }
  }
}

function addEpochRow(epoch, loss, accuracy) {
  const row = $("epochs-table").insertRow();
  row.insertCell().textContent = epoch;
  row.insertCell().textContent = (100 * accuracy).toFixed(2) + " %";
  row.insertCell().textContent = loss.toFixed(4);
}

// `?suites=a,b` limits the conformance run (and a test run) to those suites.
async function conformance(octet, onSuite) {
  const cases = [];
  const only = params.get("suites");
  for (const suite of Octet.suites().filter((s) => !only || only.split(",").includes(s))) {
    status(`conformance: ${suite}…`);
    const got = JSON.parse(await octet.conformance(suite));
    cases.push(...got);
    onSuite(got);
  }
  return cases;
}

function listCases(cases) {
  $("conformance-box").hidden = false;
  for (const c of cases) {
    const row = $("cases").insertRow();
    row.insertCell().textContent = c.suite;
    row.insertCell().textContent = c.case;
    const r = row.insertCell();
    r.textContent = c.passed ? "pass" : "FAIL " + c.detail;
    r.className = c.passed ? "pass" : "fail";
    row.insertCell().textContent = c.max_error.toPrecision(3);
  }
}

// Trains until the run's epochs are done (or `stopAfter` more steps), submitting steps within
// each frame's budget and drawing between frames. A paused or restored run goes on from its step.
async function train(octet, ui, { stopAfter = Infinity, onEpoch } = {}) {
  const [step, perEpoch, epochs] = octet.progress();
  let submitted = 0, epoch = Math.floor(step / perEpoch);
  const started = performance.now();
  while (epoch < epochs && submitted < stopAfter && !ui.paused) {
    const frame = performance.now();
    let epochEnded = false;
    while (performance.now() - frame < FRAME_BUDGET_MS && submitted < stopAfter) {
      epochEnded = await octet.step();
      submitted++;
      if (epochEnded) break;
    }
    for (const m of JSON.parse(octet.metrics())) ui.plot.add(m.loss);
    ui.plot.draw();
    if (epochEnded) {
      for (const m of JSON.parse(await octet.finish())) ui.plot.add(m.loss);
      epoch++;
      status(`epoch ${epoch}: evaluating…`);
      const [loss, accuracy] = await octet.evaluate();
      addEpochRow(epoch, loss, accuracy);
      if (onEpoch) onEpoch(epoch, loss, accuracy);
      drawFilters($("filters"), await octet.filters());
    }
    const seconds = (performance.now() - started) / 1000;
    status(`step ${step + submitted} · epoch ${epoch} of ${epochs} · ${(submitted / seconds).toFixed(1)} steps/s`);
    await nextFrame();
  }
  for (const m of JSON.parse(await octet.finish())) ui.plot.add(m.loss);
  ui.plot.draw();
  drawFilters($("filters"), await octet.filters());
  return submitted;
}

// Median milliseconds of `timed` steps after `warm` ones, each waited for (the bench's step
// protocol: the device synchronised after every step).
async function stepTime(octet, warm, timed) {
  const times = [];
  for (let i = 0; i < warm + timed; i++) {
    const t = performance.now();
    await octet.step();
    await octet.finish();
    if (i >= warm) times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function runTest(octet, adapter) {
  const checks = [];
  const check = (name, passed, detail) => checks.push({ name, passed: !!passed, detail });
  const result = { adapter, packed_4x8_integer_dot_product: packedDot(), checks };
  check("wgsl packed_4x8_integer_dot_product", result.packed_4x8_integer_dot_product, "");
  result.fingerprint = await octet.init_fingerprint(1);
  const cases = await conformance(octet, () => {});
  listCases(cases);
  for (const c of cases) check(`conformance ${c.suite}: ${c.case}`, c.passed, c.detail);
  if (params.has("suites")) return result;
  status("lockstep step…");
  const lockstep = JSON.parse(await octet.lockstep("dai8", 8));
  result.lockstep = lockstep;
  check("lockstep DAI8 LeNet-5 step", lockstep.passed,
    `${lockstep.dispatches} dispatches, ${lockstep.exact_words} integer words, ` +
    `${lockstep.exact_mismatches} differ; max float error ${lockstep.max_float_error} ` +
    `(tolerance ${lockstep.tolerance}) ${lockstep.failures.join("; ")}`);
  octet.start("dai8", 32, 0.04, 1, 1, 0);
  const ui = { plot: new LossPlot($("loss")), paused: false };
  await train(octet, ui, { stopAfter: 50 });
  const losses = ui.plot.points;
  const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
  const first = mean(losses.slice(0, 5)), last = mean(losses.slice(-5));
  result.losses = losses;
  check("50 DAI8 steps lower the loss", losses.length === 50 && last < first,
    `${losses.length} steps; mean loss of the first 5 ${first.toFixed(4)}, of the last 5 ${last.toFixed(4)}`);
  const restored = await octet.restore(await octet.checkpoint());
  check("checkpoint round trip", restored === 50, `restored at step ${restored}`);
  status("timing steps…");
  octet.start("dai8", 64, 0.04, 1, 1, 0);
  result.ms_per_step_dai8_batch64 = await stepTime(octet, 5, 20);
  octet.start("fp32", 64, 0.04, 1, 1, 0);
  result.ms_per_step_fp32_batch64 = await stepTime(octet, 5, 20);
  return result;
}

// With `?post`, the test's verdict also goes back to the server that served the page (for a
// browser driven without the DevTools protocol: web/drive.py --engine firefox).
async function postResult() {
  if (params.has("post")) {
    await fetch("/octet-result", { method: "POST", body: JSON.stringify(window.octetTest) });
  }
}

async function main() {
  await init();
  let octet;
  try {
    octet = await Octet.create();
  } catch (e) {
    $("adapter").textContent = "No WebGPU: " + message(e) +
      ". Use a browser with WebGPU enabled (Chrome or Edge 113+, Firefox 141+ on Windows, Safari 26).";
    window.octetTest = { done: true, error: "no WebGPU: " + message(e), checks: [] };
    await postResult();
    return;
  }
  const adapter = { ...JSON.parse(octet.adapter()), browser: await browserAdapter(),
    user_agent: navigator.userAgent };
  showAdapter(adapter);
  status("fetching the Fashion-MNIST subset…");
  await fetchData(octet);
  const [trainSize, testSize] = octet.data_sizes();
  $("train-limit").max = trainSize;
  status(`${trainSize} training and ${testSize} test images loaded.`);

  if (params.has("test")) {
    try {
      window.octetTest = { ...(await runTest(octet, adapter)), done: true };
      status("test done");
    } catch (e) {
      $("error").textContent = message(e);
      window.octetTest = { done: true, error: message(e), checks: [] };
    }
    await postResult();
    return;
  }

  const ui = { plot: new LossPlot($("loss")), paused: true };
  const buttons = ["start", "download", "load", "conformance"].map($);
  const busy = (on) => buttons.forEach((b) => { b.disabled = on; });
  const guard = (f) => async () => {
    $("error").textContent = "";
    try {
      await f();
    } catch (e) {
      $("error").textContent = message(e);
      ui.paused = true;
      $("start").textContent = "Train";
      busy(false);
    }
  };
  let started = false;
  $("start").onclick = guard(async () => {
    if (!ui.paused) { ui.paused = true; return; }
    if (!started) {
      octet.start($("policy").value, +$("batch").value, 0.04, 1, +$("epochs").value, +$("train-limit").value);
      ui.plot = new LossPlot($("loss"));
      started = true;
    }
    ui.paused = false;
    buttons.forEach((b) => { b.disabled = b.id !== "start"; });
    $("start").textContent = "Pause";
    await train(octet, ui);
    $("start").textContent = "Train";
    if (!ui.paused) { started = false; status("done: " + $("status").textContent); }
    ui.paused = true;
    busy(false);
  });
  $("download").onclick = guard(async () => {
    const bytes = await octet.checkpoint();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
    a.download = `lenet5-${octet.policy()}-step${octet.progress()[0]}.safetensors`;
    a.click();
  });
  $("load").onchange = guard(async () => {
    const file = $("load").files[0];
    if (!file) return;
    const step = await octet.restore(new Uint8Array(await file.arrayBuffer()));
    started = true;
    status(`continuing from step ${step} of ${file.name}`);
    drawFilters($("filters"), await octet.filters());
  });
  $("conformance").onclick = guard(async () => {
    busy(true);
    await conformance(octet, listCases);
    status("conformance done");
    busy(false);
  });
  busy(false);
  if (params.has("autostart")) {
    if (params.has("epochs")) $("epochs").value = params.get("epochs");
    if (params.has("train")) $("train-limit").value = params.get("train");
    await $("start").onclick();
    window.octetDemoDone = true;
  }
}

main().catch((e) => {
  $("error").textContent = message(e);
  window.octetTest = { done: true, error: message(e), checks: [] };
  postResult();
});
