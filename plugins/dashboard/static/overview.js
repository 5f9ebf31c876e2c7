// Overview: totals and charts over a range from /api/logs/series, and a breakdown from /api/logs/stats.
import { lineChart } from "./chart.js";
import { $, api, BUCKETS, count, el, errorOf, every, guarded, ms, percent, pluginOff, showMessage, usd } from "./core.js";

const REFRESH_SECONDS = 15;
const GROUP_NAMES = { provider: "Provider", model: "Model", virtual_key: "Virtual key" };
let last = null; // the series drawn, redrawn when the window resizes

function card(label, value, detail) {
  return el("div", { class: "card" }, el("div", { class: "card-label" }, label), el("div", { class: "card-value" }, value),
    el("div", { class: "card-detail" }, detail || "\u00a0"));
}

function totals(total, range) {
  const rate = total.requests ? (100 * total.errors) / total.requests : null;
  $("#totals").replaceChildren(
    card("Requests", count(total.requests), `${(total.requests / range).toFixed(2)} / s`),
    card("Error rate", percent(rate), `${count(total.errors)} errors`),
    card("Latency p50", ms(total.p50_latency_ms), `p99 ${ms(total.p99_latency_ms)}`),
    card("Gateway overhead", ms(total.p50_overhead_ms), "p50, in the gateway itself"),
    card("Cost", usd(total.cost_usd), `${usd((total.cost_usd * 3600) / range)} / hour`),
    card("Tokens", count(total.input_tokens + total.output_tokens),
      `${count(total.input_tokens)} in · ${count(total.output_tokens)} out`),
  );
}

function charts(series) {
  const { data, bucket } = series;
  const rate = (b) => (b.requests ? (100 * b.errors) / b.requests : null);
  lineChart($("#chart-rps"), data, [{ name: "req/s", value: (b) => b.requests / bucket }], {
    bucket, format: (v) => (v >= 10 ? Math.round(v) : v.toFixed(v ? 2 : 0)),
  });
  lineChart($("#chart-errors"), data, [{ name: "errors", value: rate }], { bucket, format: (v) => percent(v) });
  lineChart($("#chart-latency"), data, [
    { name: "p50", value: (b) => b.p50_latency_ms },
    { name: "p99", value: (b) => b.p99_latency_ms },
  ], { bucket, format: ms });
  lineChart($("#chart-overhead"), data, [{ name: "p50", value: (b) => b.p50_overhead_ms }], { bucket, format: ms });
  lineChart($("#chart-cost"), data, [{ name: "$/h", value: (b) => (b.cost_usd * 3600) / bucket }], { bucket, format: usd });
  lineChart($("#chart-tokens"), data, [
    { name: "input", value: (b) => b.input_tokens },
    { name: "output", value: (b) => b.output_tokens },
  ], { bucket, format: count });
}

function breakdown(stats) {
  $("#group-name").textContent = GROUP_NAMES[stats.group_by];
  const rows = stats.data.map((s) => el("tr", {},
    el("td", {}, s.group ?? "(none)"), el("td", { class: "num" }, count(s.requests)),
    el("td", { class: "num" }, count(s.errors)), el("td", { class: "num" }, ms(s.p50_latency_ms)),
    el("td", { class: "num" }, ms(s.p99_latency_ms)), el("td", { class: "num" }, count(s.input_tokens)),
    el("td", { class: "num" }, count(s.output_tokens)), el("td", { class: "num" }, usd(s.cost_usd))));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 8, class: "empty" }, "No requests in this range.")));
  $("#breakdown tbody").replaceChildren(...rows);
}

async function load() {
  const range = Number($("#range").value);
  const bucket = BUCKETS[range];
  const until = Math.ceil(Date.now() / 1000 / bucket) * bucket; // bucket edges stay put between refreshes
  const since = until - range;
  const groupBy = $("#group-by").value;
  const [series, stats] = await Promise.all([
    api(`/api/logs/series?since=${since}&until=${until}&bucket=${bucket}`),
    api(`/api/logs/stats?group_by=${groupBy}&start=${since}&end=${until}`),
  ]);
  const off = series.status === 404;
  pluginOff("overview", off);
  $("#overview-body").hidden = off;
  if (off) return;
  if (!series.ok || !stats.ok) {
    showMessage("#overview-error", await errorOf(series.ok ? stats : series));
    return;
  }
  showMessage("#overview-error", "");
  last = await series.json();
  totals(last.total, range);
  charts(last);
  breakdown(await stats.json());
}

function redraw() {
  if (last && !$("[data-page=overview]").hidden) charts(last);
}

export const overview = {
  bind() {
    $("#range").addEventListener("change", () => guarded("#overview-error", load));
    $("#group-by").addEventListener("change", () => guarded("#overview-error", load));
    $("#overview-refresh").addEventListener("click", () => guarded("#overview-error", load));
    let pending = null;
    window.addEventListener("resize", () => {
      clearTimeout(pending);
      pending = setTimeout(redraw, 150);
    });
  },
  enter() {
    guarded("#overview-error", load);
    // A longer range moves slower: refreshed at most four times a bucket (a day: every 225 s), and at least
    // every REFRESH_SECONDS.
    const period = () => Math.max(REFRESH_SECONDS, BUCKETS[Number($("#range").value)] / 4);
    return every(period, () => guarded("#overview-error", load));
  },
};
