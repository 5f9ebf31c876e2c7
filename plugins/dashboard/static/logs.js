// Logs: filtered pages of /api/logs (newest first, "Older" follows the cursor), a live tail of
// /api/logs/stream, and one request opened in a dialog (see detail.js).
import { $, api, count, el, errorOf, guarded, ms, pluginOff, showMessage, statusBadge, usd, clock } from "./core.js";
import { openDetail } from "./detail.js";

const PAGE_SIZE = 50;
const LIVE_LIMIT = 500; // rows the table keeps while tailing; older ones fall off the bottom
let cursor = null;
let tail = null; // the live tail's AbortController

function filters() {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData($("#filters"))) {
    if (value === "") continue;
    if (name === "range") params.set("start", String(Math.floor(Date.now() / 1000 - Number(value))));
    else params.set(name, String(value).trim());
  }
  return params;
}

function row(entry, fresh = false) {
  const tokens = entry.cache_hit ? "cache hit" : `${count(entry.input_tokens)} → ${count(entry.output_tokens)}`;
  const tr = el("tr", { tabindex: 0, class: fresh ? "fresh" : null, "data-id": entry.id },
    el("td", { class: "nowrap" }, clock(entry.time)),
    el("td", {}, statusBadge(entry.status)),
    el("td", { class: "mono" }, entry.model),
    el("td", {}, entry.provider ?? "—"),
    el("td", {}, entry.virtual_key ?? "—"),
    el("td", { class: "num" }, ms(entry.latency_ms)),
    el("td", { class: "num" }, ms(entry.ttft_ms)),
    el("td", { class: "num nowrap" }, tokens),
    el("td", { class: "num" }, usd(entry.cost_usd)));
  tr.addEventListener("click", () => openDetail(entry));
  tr.addEventListener("keydown", (event) => event.key === "Enter" && openDetail(entry));
  return tr;
}

async function load(more = false) {
  const params = filters();
  params.set("limit", String(PAGE_SIZE));
  if (more && cursor) params.set("cursor", cursor);
  const response = await api(`/api/logs?${params}`);
  pluginOff("logs", response.status === 404);
  if (response.status === 404) return;
  if (!response.ok) {
    showMessage("#logs-error", await errorOf(response));
    return;
  }
  showMessage("#logs-error", "");
  const page = await response.json();
  const body = $("#log-table tbody");
  const rows = page.data.map((entry) => row(entry));
  if (more) body.append(...rows);
  else body.replaceChildren(...rows);
  cursor = page.next_cursor;
  $("#older").hidden = !cursor;
  $("#logs-empty").hidden = body.children.length > 0;
}

// SSE frames from a fetch body: blocks split by a blank line, their `data:` lines joined.
async function* frames(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replaceAll("\r\n", "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trimStart());
      if (data.length) yield data.join("\n");
    }
  }
}

async function follow(controller) {
  const params = filters();
  params.delete("start"); // a live row is always new
  params.delete("q"); // the tail filters by fields, not text
  const response = await api(`/api/logs/stream?${params}`, { signal: controller.signal });
  if (!response.ok) {
    showMessage("#logs-error", await errorOf(response));
    $("#live").checked = false;
    return;
  }
  const body = $("#log-table tbody");
  for await (const data of frames(response)) {
    body.prepend(row(JSON.parse(data), true));
    while (body.children.length > LIVE_LIMIT) body.lastElementChild.remove();
    $("#logs-empty").hidden = true;
  }
}

function stopTail() {
  tail?.abort();
  tail = null;
}

function toggleTail() {
  stopTail();
  if (!$("#live").checked) return;
  tail = new AbortController();
  const controller = tail;
  guarded("#logs-error", () => follow(controller)).finally(() => {
    if (tail === controller && !controller.signal.aborted) $("#live").checked = false; // the stream ended
  });
}

export const logs = {
  bind() {
    // On a phone the filters start folded: the rows are what one came for.
    if (matchMedia("(max-width: 760px)").matches) $("#filter-box").open = false;
    $("#filters").addEventListener("submit", (event) => {
      event.preventDefault();
      guarded("#logs-error", () => load()).then(toggleTail);
    });
    $("#filters").addEventListener("reset", () => setTimeout(() => guarded("#logs-error", () => load()).then(toggleTail)));
    $("#older").addEventListener("click", () => guarded("#logs-error", () => load(true)));
    $("#live").addEventListener("change", toggleTail);
  },
  enter() {
    guarded("#logs-error", () => load()).then(toggleTail);
    return stopTail;
  },
};
