// Providers and keys from /api/providers/health: concurrency use, calls and errors, the last error, and each
// key's state (a dead key is skipped until `dead_until`). A gateway without that API shows a plain notice.
import { $, ago, api, clock, count, el, errorOf, every, guarded, percent, showMessage } from "./core.js";

const REFRESH_SECONDS = 10;

function stat(label, value, detail) {
  return el("div", { class: "stat" }, el("div", { class: "card-label" }, label), el("div", { class: "stat-value" }, value),
    detail ? el("div", { class: "card-detail" }, detail) : null);
}

function health(provider) {
  const dead = provider.keys.filter((k) => k.state !== "live").length;
  if (provider.keys.length && dead === provider.keys.length) return ["down", "bad"];
  if (dead) return ["degraded", "warn"];
  return ["healthy", "ok"];
}

function keyRow(key) {
  return el("tr", {},
    el("td", { class: "strong" }, key.name),
    el("td", {}, el("span", { class: `badge ${key.state === "live" ? "ok" : "bad"}` }, key.state)),
    el("td", { class: "num" }, count(key.calls)), el("td", { class: "num" }, count(key.errors)),
    el("td", { class: "num" }, key.last_status ?? "—"),
    el("td", {}, key.dead_until ? `until ${clock(key.dead_until)}` : "—"));
}

function card(provider) {
  const [state, level] = health(provider);
  const use = provider.concurrency ? provider.in_flight / provider.concurrency : 0;
  const errorRate = provider.calls ? (100 * provider.errors) / provider.calls : null;
  return el("article", { class: "panel provider", "data-provider": provider.name },
    el("div", { class: "panel-head" }, el("h2", {}, provider.name), el("span", { class: `badge ${level}` }, state)),
    el("div", { class: "stats" },
      stat("In flight", `${count(provider.in_flight)} / ${count(provider.concurrency)}`, el("progress", { max: 1, value: use.toFixed(4) })),
      stat("Waiting", count(provider.waiting), `queue of ${count(provider.buffer_size)}`),
      stat("Calls", count(provider.calls)),
      stat("Errors", count(provider.errors), percent(errorRate))),
    provider.last_error ? el("p", { class: "last-error" }, el("strong", {}, "Last error "),
      provider.last_error_at ? `(${ago(provider.last_error_at)}): ` : ": ", provider.last_error) : null,
    el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Key", "State", "Calls", "Errors", "Last status", "Dead"].map((h, i) => el("th", { class: i > 1 && i < 5 ? "num" : null }, h)))),
      el("tbody", {}, provider.keys.map(keyRow)))));
}

async function load() {
  const response = await api("/api/providers/health");
  $("#providers-off").hidden = response.status !== 404;
  if (response.status === 404) return $("#provider-list").replaceChildren();
  if (!response.ok) return showMessage("#providers-error", await errorOf(response));
  showMessage("#providers-error", "");
  $("#provider-list").replaceChildren(...(await response.json()).providers.map(card));
}

export const providers = {
  bind() {
    $("#providers-refresh").addEventListener("click", () => guarded("#providers-error", load));
  },
  enter() {
    guarded("#providers-error", load);
    return every(REFRESH_SECONDS, () => guarded("#providers-error", load));
  },
};
