// The dashboard page. Every value from the API reaches the page through textContent, never innerHTML:
// a prompt named <script> shows as text.
"use strict";
const state = { page: "overview", range: "24h", from: null, to: null, prompt: "", live: null, charts: {}, seq: 0 };
// A newer refresh supersedes an older one still waiting for data: the older one must not paint over it.
class Stale extends Error {}
const $ = (id) => document.getElementById(id);

function query(extra = {}) {
  const p = new URLSearchParams();
  if (state.range === "custom" && state.from && state.to) { p.set("from", state.from); p.set("to", state.to); } else { p.set("range", state.range === "custom" ? "24h" : state.range); }
  if (state.prompt) p.set("prompt", state.prompt);
  for (const [k, v] of Object.entries(extra)) { if (Array.isArray(v)) v.forEach((x) => p.append(k, x)); else if (v !== undefined && v !== null) p.set(k, v); }
  return p.toString();
}

async function api(path, extra) {
  const seq = state.seq;
  const response = await fetch(`/api/${path}?${query(extra)}`);
  const body = await response.json().catch(() => ({ detail: `HTTP ${response.status}` }));
  if (seq !== state.seq) throw new Stale();
  if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
  return body;
}

function show(message, isError) {
  const box = $("message");
  box.hidden = !message;
  box.textContent = message || "";
  box.className = isError ? "error" : "";
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

const fmt = {
  int: (v) => (v === null || v === undefined ? "–" : Math.round(v).toLocaleString("en-US")),
  pct: (v) => (v === null || v === undefined ? "–" : (v * 100).toFixed(2) + "%"),
  ms: (v) => (v === null || v === undefined ? "–" : Math.round(v).toLocaleString("en-US") + " ms"),
  usd: (v) => (v === null || v === undefined ? "–" : "$" + Number(v).toFixed(v < 1 ? 4 : 2)),
  // A cost the API gives as null has no price (its model has none and the calls no cost_usd): unpriced, never $0.
  cost: (v, row) => (v === null || v === undefined ? "unpriced" : fmt.usd(v) + (row && row.unpricedRequests > 0 ? ` (+${fmt.int(row.unpricedRequests)} unpriced)` : "")),
  time: (v) => (v ? new Date(v).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "–"),
};

function table(node, columns, rows) {
  node.replaceChildren();
  const head = el("tr");
  columns.forEach((c, i) => {
    const th = el("th", c.label);
    th.dataset.key = c.key;
    th.addEventListener("click", () => { rows.sort((a, b) => compare(a[c.key], b[c.key]) * (node.dataset.sorted === c.key ? -1 : 1)); node.dataset.sorted = node.dataset.sorted === c.key ? "" : c.key; table(node, columns, rows); });
    head.append(th);
  });
  node.append(head);
  for (const row of rows) {
    const tr = el("tr");
    for (const c of columns) {
      const value = row[c.key];
      const td = el("td", c.format ? c.format(value, row) : value, c.className ? c.className(value, row) : undefined);
      td.dataset.key = c.key;
      tr.append(td);
    }
    node.append(tr);
  }
  if (rows.length === 0) { const tr = el("tr"); const td = el("td", "No data in this range.", "muted"); td.colSpan = columns.length; tr.append(td); node.append(tr); }
}

function compare(a, b) { return typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b)); }

function kpis(node, items) {
  node.replaceChildren(...items.map(([label, value, id]) => {
    const box = el("div", null, "kpi");
    const v = el("div", value, "value");
    if (id) v.id = id;
    box.append(el("div", label, "label"), v);
    return box;
  }));
}

function chart(id, config) {
  if (!window.Chart) { const canvas = $(id); canvas.replaceWith(el("p", "Charts need the chart library (make deps installs it); the tables below hold the numbers.", "muted")); return; }
  state.charts[id]?.destroy();
  state.charts[id] = new window.Chart($(id), { ...config, options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options } });
}

function exports() {
  document.querySelectorAll(".exports").forEach((box) => {
    box.replaceChildren(el("span", "Export: ", "muted"));
    for (const format of ["csv", "json"]) {
      const a = el("a", format.toUpperCase());
      a.href = `/api/export?${query({ view: box.dataset.view, format })}`;
      a.setAttribute("download", "");
      box.append(a);
    }
  });
}

async function loadPrompts() {
  const prompts = await api("prompts", { prompt: null });
  const names = [...new Set(prompts.map((p) => p.promptName))].sort();
  const select = $("prompt");
  const current = state.prompt;
  select.replaceChildren(new Option("All prompts", ""), ...names.map((n) => new Option(n, n)));
  select.value = names.includes(current) ? current : "";
  document.querySelectorAll(".pick").forEach((pick, i) => {
    const before = pick.value;
    pick.replaceChildren(new Option("—", ""), ...prompts.map((p) => new Option(`${p.promptName}@${p.promptVersion} (${p.model})`, `${p.promptName}@${p.promptVersion}@${p.model}`)));
    pick.value = before || (prompts[i] && i < 2 ? `${prompts[i].promptName}@${prompts[i].promptVersion}@${prompts[i].model}` : "");
  });
  return prompts;
}

const pages = {
  async overview() {
    const [o, recs] = await Promise.all([api("overview"), api("recommendations", { prompt: null })]);
    kpis($("kpis"), [
      ["Requests", fmt.int(o.requests), "kpi-requests"], ["Success rate", fmt.pct(o.successRate), "kpi-success"], ["Error rate", fmt.pct(o.errorRate), "kpi-errors"],
      ["p50", fmt.ms(o.latencyP50Ms), "kpi-p50"], ["p95", fmt.ms(o.latencyP95Ms), "kpi-p95"], ["p99", fmt.ms(o.latencyP99Ms), "kpi-p99"],
      ["Tokens in / out", `${fmt.int(o.inputTokens)} / ${fmt.int(o.outputTokens)}`, "kpi-tokens"], ["Cost", fmt.cost(o.costUsd, o), "kpi-cost"],
      ["Active alerts", fmt.int(o.activeAlerts), "kpi-alerts"],
    ]);
    $("freshness").textContent = o.freshnessSeconds === null ? "no data yet" : `data ${Math.round(o.freshnessSeconds)} s old`;
    if (o.message) show(o.message, false);
    const list = $("recommendations");
    list.replaceChildren(...(recs.length ? recs.map((r) => el("li", r.message, `rec-${r.severity}`)) : [el("li", "Nothing to recommend in this range.", "muted")]));
  },
  async performance() {
    const ts = await api("timeseries");
    const labels = ts.points.map((p) => fmt.time(p.at).slice(5, 16));
    chart("latency-chart", { type: "line", data: { labels, datasets: [
      { label: "p50 ms", data: ts.points.map((p) => p.latencyP50Ms) }, { label: "p95 ms", data: ts.points.map((p) => p.latencyP95Ms) }, { label: "p99 ms", data: ts.points.map((p) => p.latencyP99Ms) },
      { label: "anomaly", type: "scatter", data: ts.anomalies.map((a) => ({ x: fmt.time(a.at).slice(5, 16), y: a.value })), pointRadius: 6 },
    ] } });
    chart("success-chart", { type: "line", data: { labels, datasets: [{ label: "success rate", data: ts.points.map((p) => p.successRate) }] }, options: { scales: { y: { min: 0, max: 1 } } } });
    table($("anomalies"), [
      { key: "at", label: "Window", format: fmt.time }, { key: "promptName", label: "Prompt" }, { key: "promptVersion", label: "Version" },
      { key: "metric", label: "Metric" }, { key: "value", label: "Value", format: (v) => Number(v).toFixed(2) }, { key: "baselineMedian", label: "Baseline", format: (v) => Number(v).toFixed(2) },
      { key: "score", label: "Score", format: (v) => Number(v).toFixed(1) },
    ], ts.anomalies);
  },
  async prompts() {
    const rows = (await api("prompts", { prompt: null })).filter((p) => !state.prompt || p.promptName === state.prompt);
    table($("prompts-table"), [
      { key: "promptName", label: "Prompt" }, { key: "promptVersion", label: "Version" }, { key: "model", label: "Model" },
      // Sampled series show an estimate with its 95% bound.
      { key: "requests", label: "Requests", format: (v, r) => (r.estimated ? `~${fmt.int(v)} ±${fmt.int(r.requestsBound)}` : fmt.int(v)) }, { key: "successRate", label: "Success", format: fmt.pct },
      { key: "latencyP50Ms", label: "p50", format: fmt.ms }, { key: "latencyP95Ms", label: "p95", format: fmt.ms }, { key: "latencyP99Ms", label: "p99", format: fmt.ms },
      { key: "tokensPerRequest", label: "Tokens/req", format: fmt.int }, { key: "costPerRequestUsd", label: "Cost/req", format: (v) => fmt.cost(v) }, { key: "costUsd", label: "Cost", format: fmt.cost },
      { key: "health", label: "Health", className: (v) => `health-${v}` },
    ], rows);
  },
  async compare() {
    const series = [...document.querySelectorAll(".pick")].map((p) => p.value).filter(Boolean);
    if (series.length < 2) { table($("compare-table"), [{ key: "x", label: "Pick two or three series" }], []); return; }
    const result = await api("compare", { series, prompt: null });
    table($("compare-table"), [
      { key: "promptName", label: "Prompt" }, { key: "promptVersion", label: "Version" }, { key: "model", label: "Model" }, { key: "requests", label: "Requests", format: fmt.int },
      { key: "successRate", label: "Success", format: fmt.pct }, { key: "latencyP95Ms", label: "p95", format: fmt.ms }, { key: "costPerRequestUsd", label: "Cost/req", format: (v) => fmt.cost(v) },
      { key: "health", label: "Health", className: (v) => `health-${v}` },
    ], result.series);
    // A test without enough data on both sides has null statistics: only the verdict (which says so) is shown for it.
    const details = (v) => [v.successP === null ? null : `success p=${Number(v.successP).toFixed(4)}`,
      v.p95DiffLowMs === null ? null : `p95 difference ${Math.round(v.p95DiffLowMs)}…${Math.round(v.p95DiffHighMs)} ms, 95% CI`].filter(Boolean).join("; ");
    $("verdicts").replaceChildren(...result.verdicts.map((v) => el("li", details(v) ? `${v.verdict} (${details(v)})` : v.verdict)));
  },
  async alerts() {
    table($("alerts-table"), [
      { key: "state", label: "State", className: (v) => `state-${v}` }, { key: "severity", label: "Severity" }, { key: "ruleId", label: "Rule" },
      { key: "promptName", label: "Prompt" }, { key: "promptVersion", label: "Version" }, { key: "metric", label: "Metric" },
      { key: "observed", label: "Observed", format: (v) => Number(v).toFixed(3) }, { key: "baseline", label: "Baseline", format: (v) => (v === null ? "–" : Number(v).toFixed(3)) },
      { key: "threshold", label: "Threshold", format: (v) => Number(v).toFixed(3) }, { key: "startedAt", label: "Started", format: fmt.time }, { key: "resolvedAt", label: "Resolved", format: fmt.time },
      { key: "summary", label: "Summary" },
    ], await api("alerts", { prompt: null }));
  },
  async cost() {
    const c = await api("cost");
    kpis($("cost-kpis"), [["Spend in range", fmt.cost(c.totalUsd, c), "kpi-spend"], ["Projected this month", fmt.cost(c.projectedMonthUsd), "kpi-projection"],
      ["Budget", c.budgetUsd === null ? "not set" : fmt.usd(c.budgetUsd)], ["Budget pace", c.budgetPace === null ? "–" : fmt.pct(c.budgetPace)]]);
    chart("cost-chart", { type: "bar", data: { labels: c.days.map((d) => d.day), datasets: [{ label: "cost (USD)", data: c.days.map((d) => d.costUsd) }] } });
    table($("cost-table"), [{ key: "promptName", label: "Prompt" }, { key: "model", label: "Model" }, { key: "requests", label: "Requests", format: fmt.int },
      { key: "inputTokens", label: "Input tokens", format: fmt.int }, { key: "outputTokens", label: "Output tokens", format: fmt.int }, { key: "costUsd", label: "Cost", format: fmt.cost }], c.byPrompt);
  },
};

async function refresh() {
  const seq = ++state.seq;
  show("");
  document.body.dataset.loading = "true";
  try {
    await loadPrompts();
    await pages[state.page]();
    exports();
  } catch (e) {
    if (!(e instanceof Stale)) show(e.message, true);
  } finally {
    if (seq === state.seq) document.body.dataset.loading = "false";
  }
}

function go(page) {
  state.page = page;
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.page === page));
  document.querySelectorAll(".page").forEach((s) => { s.hidden = s.id !== `page-${page}`; });
  refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => go(b.dataset.page)));
  $("range").addEventListener("change", (e) => { state.range = e.target.value; $("custom").hidden = state.range !== "custom"; if (state.range !== "custom") refresh(); });
  $("apply").addEventListener("click", () => { state.from = $("from").value ? $("from").value + "Z" : null; state.to = $("to").value ? $("to").value + "Z" : null; refresh(); });
  $("prompt").addEventListener("change", (e) => { state.prompt = e.target.value; refresh(); });
  $("compare-go").addEventListener("click", () => { state.page = "compare"; refresh(); });
  $("live").addEventListener("change", (e) => { clearInterval(state.live); state.live = e.target.checked ? setInterval(refresh, 30000) : null; });
  go(location.hash ? location.hash.slice(1) : "overview");
});
