// Virtual keys through the governance admin API: the list with spend against budget and rate-limit use, and
// create, disable/enable, delete (after a confirm step). A new key's value is shown once, then forgotten.
import { $, api, count, el, errorOf, guarded, pluginOff, showMessage, usd } from "./core.js";

const KIND_NAMES = { budget: "Budget", requests: "Requests", tokens: "Tokens" };

function meterView(meter) {
  const kind = meter.meter.split(":")[0];
  const provider = meter.meter.includes("/") ? ` · ${meter.meter.split("/").pop()}` : "";
  const format = kind === "budget" ? usd : count;
  const share = meter.limit > 0 ? Math.min(1, meter.used / meter.limit) : 0;
  const level = share >= 0.9 ? "bad" : share >= 0.7 ? "warn" : "ok";
  return el("div", { class: "meter", title: meter.label },
    el("div", { class: "meter-text" }, el("span", {}, `${KIND_NAMES[kind] ?? kind}${provider}`),
      el("span", { class: "mono" }, `${format(meter.used)} / ${format(meter.limit)}`)),
    el("progress", { class: level, max: 1, value: share.toFixed(4) }));
}

// The key's own limits before any call made a meter for them: shown as unused.
function configured(key) {
  const meters = (key.budgets ?? []).map((b, i) => ({ meter: `budget:vk:${key.id}:${i}`, label: `${b.reset_duration} budget`, limit: b.max_limit, used: 0 }));
  const rate = key.rate_limit;
  if (rate?.request_max_limit) meters.push({ meter: `requests:vk:${key.id}`, label: `per ${rate.request_reset_duration}`, limit: rate.request_max_limit, used: 0 });
  if (rate?.token_max_limit) meters.push({ meter: `tokens:vk:${key.id}`, label: `per ${rate.token_reset_duration}`, limit: rate.token_max_limit, used: 0 });
  return meters;
}

function meters(key, usage) {
  const live = new Map(usage.map((m) => [m.meter, m]));
  for (const m of configured(key)) if (!live.has(m.meter)) live.set(m.meter, m);
  const all = [...live.values()];
  const budgets = all.filter((m) => m.meter.startsWith("budget:")).map(meterView);
  const rates = all.filter((m) => !m.meter.startsWith("budget:")).map(meterView);
  return [budgets.length ? budgets : "—", rates.length ? rates : "—"];
}

function actions(key, cell) {
  const toggle = el("button", { type: "button", onclick: () => guarded("#keys-error", () => change(key, { is_active: !key.is_active })) }, key.is_active ? "Disable" : "Enable");
  const remove = el("button", { type: "button", class: "danger", onclick: () => confirmDelete(key, cell) }, "Delete");
  cell.replaceChildren(el("div", { class: "actions" }, toggle, remove));
}

function confirmDelete(key, cell) {
  const yes = el("button", { type: "button", class: "danger", onclick: () => guarded("#keys-error", () => remove(key)) }, "Delete for good");
  const no = el("button", { type: "button", class: "ghost", onclick: () => actions(key, cell) }, "Cancel");
  cell.replaceChildren(el("div", { class: "actions confirm" }, el("span", {}, `Delete ${key.name}? Calls with it stop at once.`), yes, no));
  yes.focus();
}

function row(key, usage) {
  const providers = (key.provider_configs ?? []).map((c) => el("div", {}, el("strong", {}, c.provider), ` ${c.allowed_models.join(", ")}`));
  const [budget, rates] = meters(key, usage);
  const cell = el("td", { class: "nowrap" });
  actions(key, cell);
  return el("tr", { "data-key": key.name },
    el("td", {}, el("div", { class: "strong" }, key.name), el("div", { class: "muted mono small" }, key.id)),
    el("td", {}, el("span", { class: `badge ${key.is_active ? "ok" : "off"}` }, key.is_active ? "active" : "disabled")),
    el("td", {}, providers.length ? providers : el("span", { class: "muted" }, "none")),
    el("td", { class: "meters" }, budget), el("td", { class: "meters" }, rates), cell);
}

async function load() {
  const response = await api("/api/governance/virtual-keys");
  pluginOff("keys", response.status === 404);
  if (response.status === 404) return;
  if (!response.ok) return showMessage("#keys-error", await errorOf(response));
  const keys = (await response.json()).data;
  const usages = await Promise.all(keys.map(async (key) => {
    const answer = await api(`/api/governance/virtual-keys/${encodeURIComponent(key.id)}/usage`);
    return answer.ok ? (await answer.json()).meters : [];
  }));
  $("#key-table tbody").replaceChildren(...keys.map((key, i) => row(key, usages[i])));
  $("#keys-empty").hidden = keys.length > 0;
}

async function change(key, fields) {
  const response = await api(`/api/governance/virtual-keys/${encodeURIComponent(key.id)}`, { method: "PUT", body: fields });
  showMessage("#keys-error", response.ok ? "" : await errorOf(response));
  await load();
}

async function remove(key) {
  const response = await api(`/api/governance/virtual-keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
  showMessage("#keys-error", response.ok ? "" : await errorOf(response));
  await load();
}

const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

function newKey(form) {
  const data = new FormData(form);
  const models = list(data.get("models"));
  const body = {
    name: data.get("name").trim(),
    provider_configs: list(data.get("providers")).map((provider) => ({ provider, allowed_models: models.length ? models : ["*"] })),
  };
  if (data.get("budget")) body.budgets = [{ max_limit: Number(data.get("budget")), reset_duration: data.get("budget_reset") }];
  const requests = data.get("requests");
  const tokens = data.get("tokens");
  if (requests || tokens) {
    body.rate_limit = { request_reset_duration: data.get("window"), token_reset_duration: data.get("window") };
    if (requests) body.rate_limit.request_max_limit = Number(requests);
    if (tokens) body.rate_limit.token_max_limit = Number(tokens);
  }
  return body;
}

async function create(event) {
  event.preventDefault();
  const form = event.target;
  const response = await api("/api/governance/virtual-keys", { method: "POST", body: newKey(form) });
  if (!response.ok) return showMessage("#keys-error", await errorOf(response));
  showMessage("#keys-error", "");
  const created = await response.json();
  form.reset();
  $("#created-name").textContent = created.name;
  $("#created-value").value = created.value;
  $("#created").hidden = false;
  $("#created-value").select();
  await load();
}

function forgetCreated() {
  $("#created-value").value = "";
  $("#created").hidden = true;
}

async function copy() {
  const field = $("#created-value");
  try {
    await navigator.clipboard.writeText(field.value); // only in a secure context (https, localhost)
  } catch {
    field.select();
    document.execCommand("copy");
  }
  $("#copy").textContent = "Copied";
  setTimeout(() => ($("#copy").textContent = "Copy"), 1500);
}

export const keys = {
  bind() {
    $("#create-key").addEventListener("submit", (event) => guarded("#keys-error", () => create(event)));
    $("#keys-refresh").addEventListener("click", () => guarded("#keys-error", load));
    $("#copy").addEventListener("click", copy);
    $("#created-done").addEventListener("click", forgetCreated);
  },
  enter() {
    guarded("#keys-error", load);
    return forgetCreated; // leaving the page forgets the new key's value
  },
};
