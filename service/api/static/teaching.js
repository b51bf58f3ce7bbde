// The views that teach, live on a job's page: the fixed sums as the notes print them, each
// bit's accuracy, the gradient's norm travelling back in time (a heat map) and generated text.
// Records come from the page's first read (initial.records), then as events named by kind.
"use strict";

const MAX_COLUMNS = 400;  // heat map columns kept: the newest
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

function reveal(id) {
  document.getElementById(id).hidden = false;
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
}

function showSums(record) {
  reveal("sums-view");
  document.getElementById("sums-step").textContent = `step ${record.step}`;
  const table = document.getElementById("sums");
  table.replaceChildren();
  for (const s of record.payload.sums) {
    const row = table.insertRow();
    row.className = s.correct ? "right" : "wrong";
    cell(row, `${s.a} + ${s.b} = ${s.predicted} (${s.true})`, "sum");
    cell(row, `pred ${s.predicted_bits}`, "bitstring");
    cell(row, `true ${s.true_bits}`, "bitstring");
    cell(row, s.correct ? "✓" : "✗");
  }
}

function showBits(record) {
  reveal("bits-view");
  const { accuracy, samples } = record.payload;
  document.getElementById("bits-step").textContent = `step ${record.step}, ${samples} sums`;
  const bars = document.getElementById("bits");
  bars.replaceChildren();
  // Most significant bit first, as the sums print them.
  accuracy.map((value, bit) => [value, bit]).reverse().forEach(([value, bit]) => {
    const bar = document.createElement("div");
    bar.className = "bit";
    bar.title = `bit ${bit}: ${(value * 100).toFixed(1)}% right`;
    bar.innerHTML = `<span class="fill" style="height:${(value * 100).toFixed(1)}%"></span><small>${bit}</small>`;
    bars.appendChild(bar);
  });
}

function showGenerated(record) {
  reveal("generated-view");
  const item = document.createElement("li");
  const { epoch, prompt, text } = record.payload;
  item.innerHTML = "<b></b> <i></i> <span></span>";
  item.querySelector("b").textContent = `epoch ${epoch}:`;
  item.querySelector("i").textContent = prompt;
  item.querySelector("span").textContent = text;
  document.getElementById("generated").appendChild(item);
}

const columns = [];

function addGradients(record) {
  reveal("gradients-view");
  columns.push([record.step, record.payload.norms]);
  if (columns.length > MAX_COLUMNS) columns.shift();
  drawHeatmap();
}

function colour(t) {
  const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const f = x - i;
  const rgb = VIRIDIS[i].map((c, k) => Math.round(c + f * (VIRIDIS[i + 1][k] - c)));
  return `rgb(${rgb.join(",")})`;
}

function drawHeatmap() {
  const canvas = document.getElementById("gradients");
  const context = canvas.getContext("2d");
  const depth = Math.max(...columns.map(([, norms]) => norms.length));
  const logs = columns.flatMap(([, norms]) => norms.filter((v) => v > 0).map(Math.log10));
  const low = Math.min(...logs), high = Math.max(...logs);
  const width = canvas.width / columns.length, height = canvas.height / depth;
  context.fillStyle = "#e4e7eb";
  context.fillRect(0, 0, canvas.width, canvas.height);
  columns.forEach(([, norms], j) => {
    norms.forEach((value, t) => {
      if (!(value > 0)) return;
      const back = norms.length - 1 - t;  // the loss's own step at the bottom row
      context.fillStyle = colour(high > low ? (Math.log10(value) - low) / (high - low) : 1);
      context.fillRect(j * width, canvas.height - (back + 1) * height, Math.ceil(width), Math.ceil(height));
    });
  });
  const [first] = columns[0], [last] = columns.at(-1);
  document.getElementById("gradients-legend").textContent =
    `steps ${first}–${last}; bottom row: the loss's own time step, each row up one step further back; ` +
    `colour: log10 ||dL/dh_t|| from ${low.toFixed(1)} (dark) to ${high.toFixed(1)} (yellow)`;
  canvas.dataset.columns = columns.length;
}

const VIEWS = { sums: showSums, bit_accuracy: showBits, gradient_norms: addGradients, generated: showGenerated };

for (const [kind, records] of Object.entries(initial.records)) {
  records.forEach((record) => VIEWS[kind](record));
}
for (const [kind, show] of Object.entries(VIEWS)) {
  stream.addEventListener(kind, (event) => show(JSON.parse(event.data)));
}
