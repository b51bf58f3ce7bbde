// The dashboard: the jobs list follows GET /events; the form is built from /openapi.json.
"use strict";

const jobsBody = document.querySelector("#jobs tbody");
const FINISHED = ["succeeded", "failed", "cancelled"];

function jobRow(job) {
  let row = jobsBody.querySelector(`tr[data-job="${job.id}"]`);
  if (!row) {
    row = document.createElement("tr");
    row.dataset.job = job.id;
    row.innerHTML = `<td><a></a></td><td></td><td class="status"></td>
      <td><progress max="1"></progress> <span class="percent"></span></td><td class="elapsed"></td><td class="eta"></td>`;
    row.querySelector("a").href = `${ROOT_PATH}/jobs/${job.id}/view`;
    row.querySelector("a").textContent = `#${job.id}`;
    row.children[1].textContent = job.task;
    const newer = [...jobsBody.children].find((r) => Number(r.dataset.job) < job.id);
    jobsBody.insertBefore(row, newer || null);
    document.getElementById("no-jobs").hidden = true;
  }
  return row;
}

function showJob(job) {
  const row = jobRow(job);
  const status = row.querySelector(".status");
  status.textContent = job.cancel_requested && job.status === "running" ? "cancelling" : job.status;
  status.className = `status ${job.status}`;
  status.title = job.status_detail || "";  // why a silent running job shows queued
  row.querySelector("progress").value = job.progress;
  row.querySelector(".percent").textContent = percent(job.progress);
  row.querySelector(".elapsed").textContent = seconds(job.elapsed_seconds);
  row.querySelector(".eta").textContent = FINISHED.includes(job.status) ? "" : seconds(job.eta_seconds);
  if (job.status === "succeeded") refreshModels();
}

document.querySelectorAll("#jobs td.elapsed, #jobs td.eta").forEach((cell) => {
  cell.textContent = cell.textContent.trim() ? seconds(Number(cell.textContent)) : "";
});
new EventSource(`${ROOT_PATH}/events`).addEventListener("status", (event) => showJob(JSON.parse(event.data)));

async function refreshModels() {
  const { models } = await api("/models?limit=50");
  const body = document.querySelector("#models tbody");
  body.replaceChildren(...models.map((model) => {
    const row = document.createElement("tr");
    const metrics = Object.entries(model.metrics)
      .map(([name, value]) => `${name}=${typeof value === "number" ? Number(value.toPrecision(4)) : value}`);
    for (const text of [`#${model.id}`, model.task, null, metrics.join(" ")]) {
      const cell = row.insertCell();
      if (text === null) {
        const link = cell.appendChild(document.createElement("a"));
        link.href = `${ROOT_PATH}/jobs/${model.job_id}/view`;
        link.textContent = `#${model.job_id}`;
      } else cell.textContent = text;
    }
    return row;
  }));
}

// --- the form: each task's hyperparameters, defaults and bounds as /openapi.json states them
let tasks = {};
let openapi = null;

function resolve(schema, root) {
  if (schema?.$ref) return resolve(root.components.schemas[schema.$ref.split("/").pop()], root);
  return schema;
}

async function loadTasks() {
  const root = await api("/openapi.json");
  openapi = root;
  const body = root.paths["/train"].post.requestBody.content["application/json"].schema;
  for (const variant of resolve(body, root).oneOf || resolve(body, root).anyOf) {
    const create = resolve(variant, root);
    const task = create.properties.task.const ?? create.properties.task.enum[0];
    tasks[task] = resolve(create.properties.hyperparams, root);
  }
  const select = document.getElementById("task");
  select.replaceChildren(...Object.keys(tasks).map((task) => new Option(task.replace("_", " "), task)));
  select.addEventListener("change", () => buildFields(select.value));
  buildFields(select.value);
}

function fieldType(property) {
  const types = (property.anyOf || [property]).filter((t) => t.type !== "null");
  return resolve(types[0], openapi);
}

function buildFields(task) {
  const container = document.getElementById("hyperparams");
  container.replaceChildren();
  for (const [name, property] of Object.entries(tasks[task].properties)) {
    container.append(field(name, property));
  }
}

// A group of settings (early_stopping) is off (null) until its box is ticked; its fields are
// named "group.field".
function group(name, property, type) {
  const set = document.createElement("fieldset");
  set.dataset.group = name;
  set.title = property.description || "";
  const on = document.createElement("input");
  on.type = "checkbox";
  const legend = set.appendChild(document.createElement("legend"));
  const label = legend.appendChild(document.createElement("label"));
  label.append(on, ` ${name}`);
  const inner = Object.entries(type.properties).map(([key, p]) => field(`${name}.${key}`, p));
  const enable = () => inner.forEach((f) => f.querySelector("[name]").disabled = !on.checked);
  on.addEventListener("change", enable);
  set.append(...inner);
  enable();
  return set;
}

function field(name, property) {
  const type = fieldType(property);
  if (type.properties) return group(name, property, type);
  const label = document.createElement("label");
  label.title = property.description || "";
  label.append(name, " ");
  let input;
  if (type.enum) {
    input = document.createElement("select");
    type.enum.forEach((choice) => input.add(new Option(choice, choice)));
  } else if (type.type === "boolean") {
    input = document.createElement("input");
    input.type = "checkbox";
    input.checked = Boolean(property.default);
  } else {
    input = document.createElement("input");
    input.type = type.type === "integer" || type.type === "number" ? "number" : "text";
    input.step = type.type === "integer" ? "1" : "any";
    const low = type.minimum ?? type.exclusiveMinimum;
    const high = type.maximum ?? type.exclusiveMaximum;
    if (low !== undefined) input.min = low;
    if (high !== undefined) input.max = high;
    input.placeholder = property.default === null ? "none" : "";
  }
  input.name = name;
  if (input.type !== "checkbox" && property.default !== null && property.default !== undefined) {
    input.value = property.default;
  }
  input.dataset.default = JSON.stringify(property.default ?? null);
  input.dataset.kind = type.type || "string";
  label.append(input);
  return label;
}

function inputValue(input) {
  if (input.type === "checkbox") return input.checked;
  if (input.value === "") return null;
  if (input.dataset.kind === "integer" || input.dataset.kind === "number") return Number(input.value);
  return input.value;
}

function changedHyperparams() {
  const values = {};
  for (const set of document.querySelectorAll("#hyperparams fieldset[data-group]")) {
    if (set.querySelector("legend input").checked) values[set.dataset.group] = {};
  }
  for (const input of document.querySelectorAll("#hyperparams [name]")) {
    const value = inputValue(input);
    if (JSON.stringify(value) === input.dataset.default) continue;
    const [name, inner] = input.name.split(".");
    if (inner === undefined) values[name] = value;
    else if (values[name]) values[name][inner] = value;
  }
  return values;
}

document.getElementById("train-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = document.getElementById("train-result");
  const task = document.getElementById("task").value;
  try {
    const job = await api("/train", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ task, hyperparams: changedHyperparams() }),
    });
    showJob(job);
    result.innerHTML = `started <a href="${ROOT_PATH}/jobs/${job.id}/view">job #${job.id}</a>`;
  } catch (error) {
    result.textContent = error.message;
  }
});

// --- predictions from the newest models
function onSubmit(id, run) {
  const form = document.getElementById(id);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const output = form.querySelector("output, ol, p");
    try {
      await run(new FormData(form), output);
    } catch (error) {
      output.textContent = error.message;
    }
  });
}

onSubmit("predict-sum", async (data, output) => {
  const answer = await api(`/predict?${new URLSearchParams(data)}`);
  output.textContent = `${data.get("a")} + ${data.get("b")} = ${answer.sum} (model #${answer.model_id})`;
});
onSubmit("predict-word", async (data, output) => {
  const answer = await api(`/predict?${new URLSearchParams(data)}`);
  output.replaceChildren(...answer.predictions.map((p) => {
    const item = document.createElement("li");
    item.textContent = `${p.word} ${(p.probability * 100).toFixed(1)}%`;
    return item;
  }));
});
onSubmit("generate", async (data, output) => {
  const answer = await api(`/generate?${new URLSearchParams(data)}`);
  output.textContent = answer.text;
});

loadTasks().catch((error) => {
  document.getElementById("hyperparams").textContent = `could not read /openapi.json: ${error.message}`;
});
