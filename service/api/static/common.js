// Shared by the pages: the API key (kept in this browser only), JSON requests, number formats.
"use strict";

const keyInput = document.getElementById("api-key");
keyInput.value = localStorage.getItem("rnnlab-api-key") || "";
keyInput.addEventListener("change", () => localStorage.setItem("rnnlab-api-key", keyInput.value));

// Where the service is mounted behind a proxy (its root path; "" when served at "/"): every URL
// a page makes of a route starts with it.
const ROOT_PATH = document.body.dataset.root || "";

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (keyInput.value) headers["X-API-Key"] = keyInput.value;
  const response = await fetch(ROOT_PATH + path, { ...options, headers });
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const detail = body?.detail;
    const text = Array.isArray(detail) ? detail.map((d) => `${d.loc.at(-1)}: ${d.msg}`).join("; ") : detail;
    throw new Error(text || `${response.status} ${response.statusText}`);
  }
  return body;
}

function seconds(value) {
  if (value === null || value === undefined) return "";
  if (value < 60) return `${value.toFixed(1)} s`;
  const minutes = Math.floor(value / 60);
  return minutes < 60 ? `${minutes} min ${Math.round(value % 60)} s` : `${(minutes / 60).toFixed(1)} h`;
}

function percent(progress) {
  return `${Math.round(progress * 100)}%`;
}
