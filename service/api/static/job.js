// A job's page: status, progress and curves, live from GET /jobs/{id}/events.
"use strict";

const initial = JSON.parse(document.getElementById("initial").textContent);
const jobId = initial.job.id;
// Losses share a chart, accuracies another; any other metric (perplexity, tokens per second)
// has its own, as its scale has nothing in common with the rest.
const charts = {};

function chartFor(name) {
  const group = ["loss", "accuracy"].find((part) => name.includes(part)) || name;
  charts[group] ??= new Chart(document.getElementById("charts"), group.replaceAll("_", " "));
  return charts[group];
}
chartFor("loss");
chartFor("accuracy");

function addPoint(name, step, value) {
  chartFor(name).add(name, step, value);
}

function showState(job) {
  const status = document.getElementById("status");
  status.textContent = job.cancel_requested && job.status === "running" ? "cancelling" : job.status;
  status.className = `status ${job.status}`;
  status.title = job.status_detail || "";  // why a silent running job shows queued
  document.getElementById("error").textContent = job.error || "";
  document.getElementById("cancel").disabled = ["succeeded", "failed", "cancelled"].includes(job.status);
  showProgress(job);
}

function showProgress(timing) {
  document.getElementById("progress").value = timing.progress;
  document.getElementById("percent").textContent = percent(timing.progress);
  const parts = [];
  if (timing.elapsed_seconds != null) parts.push(`elapsed ${seconds(timing.elapsed_seconds)}`);
  if (timing.eta_seconds) parts.push(`ETA ${seconds(timing.eta_seconds)}`);
  document.getElementById("timing").textContent = parts.join(" · ");
}

for (const [name, points] of Object.entries(initial.series)) {
  for (const [step, value] of points) addPoint(name, step, value);
}
Object.values(charts).forEach((chart) => chart.draw());
showState(initial.job);

const stream = new EventSource(`${ROOT_PATH}/jobs/${jobId}/events?after=${encodeURIComponent(initial.cursor)}`);
stream.addEventListener("status", (event) => showState(JSON.parse(event.data)));
stream.addEventListener("progress", (event) => showProgress(JSON.parse(event.data)));
stream.addEventListener("metric", (event) => {
  const point = JSON.parse(event.data);
  addPoint(point.name, point.step, point.value);
});
stream.addEventListener("end", (event) => {
  showState(JSON.parse(event.data));
  stream.close();  // else the browser reconnects to a stream that has nothing more to say
});

document.getElementById("cancel").addEventListener("click", async () => {
  try {
    showState(await api(`/jobs/${jobId}/cancel`, { method: "POST" }));
  } catch (error) {
    document.getElementById("error").textContent = error.message;
  }
});
