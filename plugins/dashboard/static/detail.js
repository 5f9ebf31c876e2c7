// One request of the log, in a dialog: what happened (status, error), its routing trail, timing, usage and
// cost, and its content when it was logged. Content is shown as text only: it is whatever the caller sent.
import { $, el, clock, count, ms, usd, statusBadge } from "./core.js";

function facts(pairs) {
  return el("dl", { class: "facts" }, pairs.filter(([, value]) => value !== null && value !== undefined && value !== "")
    .flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
}

function section(title, ...body) {
  return el("section", { class: "detail-section" }, el("h3", {}, title), ...body);
}

function trail(entry) {
  const tried = entry.fallback_trail.length ? entry.fallback_trail : [entry.provider ? `${entry.provider}/${entry.upstream_model ?? entry.model}` : null].filter(Boolean);
  if (!tried.length) return el("p", { class: "muted" }, entry.cache_hit ? "Answered by the response cache: no provider was called." : "No provider was tried.");
  const served = entry.status < 400;
  return el("ol", { class: "trail" }, tried.map((target, i) => {
    const lastOne = i === tried.length - 1;
    const outcome = !lastOne ? "failed, fell back" : served ? "served" : "failed";
    return el("li", { class: lastOne && served ? "served" : "failed" },
      el("span", { class: "mono" }, target), el("span", { class: "outcome" }, i === 0 ? `primary · ${outcome}` : `fallback ${i} · ${outcome}`));
  }));
}

function blockView(block) {
  if (typeof block === "string") return el("div", { class: "text" }, block);
  switch (block.type) {
    case "text":
      return el("div", { class: "text" }, block.text);
    case "thinking":
      return el("div", { class: "block" }, el("span", { class: "tag" }, "thinking"), el("div", { class: "text" }, block.thinking ?? ""));
    case "tool_use":
      return el("div", { class: "block" }, el("span", { class: "tag" }, `tool call · ${block.name}`),
        el("pre", {}, JSON.stringify(block.input, null, 2)));
    case "tool_result": {
      const inner = typeof block.content === "string" ? [blockView(block.content)] : (block.content ?? []).map(blockView);
      return el("div", { class: "block" }, el("span", { class: "tag" }, `tool result${block.is_error ? " (error)" : ""}`), ...inner);
    }
    case "image":
      return el("div", { class: "block" }, el("span", { class: "tag" }, "image"));
    default:
      return el("div", { class: "block" }, el("span", { class: "tag" }, block.type ?? "block"), el("pre", {}, JSON.stringify(block, null, 2)));
  }
}

function blocks(content) {
  return typeof content === "string" ? [blockView(content)] : (content ?? []).map(blockView);
}

function message(role, content) {
  return el("div", { class: `message ${role}` }, el("div", { class: "role" }, role), el("div", { class: "body" }, blocks(content)));
}

function content(entry) {
  if (!entry.content) {
    return el("p", { class: "muted" }, "Not logged: content logging is off for this gateway, or the request or its key opted out.");
  }
  let logged;
  try {
    logged = JSON.parse(entry.content);
  } catch {
    return el("pre", {}, entry.content);
  }
  const parts = [];
  if (logged.system) parts.push(message("system", logged.system));
  for (const m of logged.messages ?? []) parts.push(message(m.role, m.content));
  parts.push(logged.answer ? message("answer", logged.answer) : el("p", { class: "muted" }, "No answer logged (an error, or a stream cut short)."));
  return el("div", { class: "conversation" }, parts);
}

export function openDetail(entry) {
  $("#detail-title").replaceChildren(`${entry.model} `, statusBadge(entry.status));
  const tokens = [["Input", count(entry.input_tokens)], ["Output", count(entry.output_tokens)],
    ["Cache read", count(entry.cache_read_tokens)], ["Cache write", count(entry.cache_write_tokens)], ["Cost", usd(entry.cost_usd)]];
  const parts = [
    entry.error ? el("p", { class: "error" }, entry.error) : null,
    facts([["Time", clock(entry.time, true)], ["Request id", entry.request_id], ["Route", entry.route],
      ["Dialect", `${entry.dialect}${entry.stream ? " · stream" : ""}`], ["Virtual key", entry.virtual_key],
      ["Team", entry.team], ["Async job", entry.job_id], ["Cache", entry.cache_hit ? "hit" : null]]),
    section("Routing", trail(entry), facts([["Attempts", String(entry.attempts)], ["Served by", entry.provider && entry.status < 400 ? `${entry.provider}/${entry.upstream_model}` : null]])),
    section("Timing", facts([["Latency", ms(entry.latency_ms)], ["Time to first token", ms(entry.ttft_ms)], ["Gateway overhead", ms(entry.overhead_ms)]])),
    section("Usage", facts(tokens)),
    section("Content", content(entry)),
  ];
  $("#detail-body").replaceChildren(...parts.filter(Boolean));
  const dialog = $("#detail");
  if (!dialog.open) dialog.showModal();
}
