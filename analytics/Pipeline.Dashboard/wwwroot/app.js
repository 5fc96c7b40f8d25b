// The dashboard page. Every value from the API reaches the page through textContent, never innerHTML:
// a prompt named <script> shows as text. The whole view (page, range, filters, compared series) lives in the
// URL hash, so a copied link opens the same view.
"use strict";
const FILTERS = ["environment", "service", "model", "prompt"];
const PAGES = ["overview", "performance", "prompts", "compare", "alerts", "cost", "alert", "prompt"];
// A detail page lights its list's tab.
const TAB_OF = { alert: "alerts", prompt: "prompts" };
const state = { page: "overview", arg: "", range: "24h", from: null, to: null, environment: "", service: "", model: "", prompt: "", series: [], tag: "", alertSeries: null, charts: {}, seq: 0 };
// A newer refresh supersedes an older one still waiting for data: the older one must not paint over it.
class Stale extends Error {}
const $ = (id) => document.getElementById(id);

// ---- view state <-> URL hash: #page[/arg]?range=1h&environment=prod&series=a@1&series=a@2
function toHash() {
  const p = new URLSearchParams();
  if (state.range === "custom" && state.from && state.to) { p.set("from", state.from); p.set("to", state.to); } else if (state.range !== "24h") p.set("range", state.range);
  for (const k of FILTERS) if (state[k]) p.set(k, state[k]);
  if (state.tag) p.set("tag", state.tag);
  if (state.page === "compare") state.series.forEach((s) => p.append("series", s));
  const q = p.toString();
  return "#" + state.page + (state.arg ? "/" + encodeURIComponent(state.arg) : "") + (q ? "?" + q : "");
}

function fromHash(hash) {
  const text = hash.replace(/^#/, "");
  const cut = text.indexOf("?");
  const path = cut < 0 ? text : text.slice(0, cut);
  const p = new URLSearchParams(cut < 0 ? "" : text.slice(cut + 1));
  const slash = path.indexOf("/");
  const page = slash < 0 ? path : path.slice(0, slash);
  state.page = PAGES.includes(page) ? page : "overview";
  state.arg = slash < 0 ? "" : decodeURIComponent(path.slice(slash + 1));
  if (p.get("from") && p.get("to")) { state.range = "custom"; state.from = p.get("from"); state.to = p.get("to"); } else { state.range = p.get("range") || "24h"; state.from = state.to = null; }
  for (const k of FILTERS) state[k] = p.get(k) || "";
  state.tag = p.get("tag") || "";
  state.series = p.getAll("series");
}

// The hash of another page (and its argument) with this view's range and filters.
function hashFor(page, arg) {
  const saved = { page: state.page, arg: state.arg };
  state.page = page; state.arg = arg || "";
  const hash = toHash();
  Object.assign(state, saved);
  return hash;
}

// Changes of the view go through the hash: the hashchange handler renders, and the back button works.
function navigate() {
  const hash = toHash();
  if (location.hash !== hash) location.hash = hash; else render();
}

function query(extra = {}) {
  const p = new URLSearchParams();
  if (state.range === "custom" && state.from && state.to) { p.set("from", state.from); p.set("to", state.to); } else { p.set("range", state.range === "custom" ? "24h" : state.range); }
  for (const k of FILTERS) if (state[k]) p.set(k, state[k]);
  for (const [k, v] of Object.entries(extra)) { p.delete(k); if (Array.isArray(v)) v.forEach((x) => p.append(k, x)); else if (v !== undefined && v !== null) p.set(k, v); }
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

// ---- numbers for people
const none = (v) => v === null || v === undefined || Number.isNaN(v);
const fmt = {
  int: (v) => (none(v) ? "–" : Math.round(v).toLocaleString("en-US")),
  pct: (v) => (none(v) ? "–" : (v * 100).toFixed(v !== 0 && Math.abs(v) < 0.001 ? 3 : 2) + "%"),
  ms: (v) => (none(v) ? "–" : Math.abs(v) < 1000 ? Math.round(v) + " ms" : (v / 1000).toFixed(Math.abs(v) < 10000 ? 2 : 1) + " s"),
  usd: (v) => (none(v) ? "–" : "$" + (Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en-US") : Math.abs(v) >= 1 || v === 0 ? Number(v).toFixed(2) : Number(v).toPrecision(2))),
  // A cost the API gives as null has no price (its model has none and the calls no cost_usd): unpriced, never $0.
  cost: (v, row) => (none(v) ? "unpriced" : fmt.usd(v) + (row && row.unpricedRequests > 0 ? ` (+${fmt.int(row.unpricedRequests)} unpriced)` : "")),
  time: (v) => (v ? new Date(v).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "–"),
  // A robust z-score past 99 says "far outside"; its digits say nothing more (a MAD near 0 makes them huge).
  score: (v) => (none(v) ? "–" : v > 99 ? ">99" : v < -99 ? "<-99" : Number(v).toFixed(1)),
  // An alert's or anomaly's value in its metric's unit.
  metric: (metric, v) => {
    if (none(v)) return "–";
    if (/latency|ttft/.test(metric)) return fmt.ms(v);
    if (/rate|share|burn/.test(metric) && Math.abs(v) <= 1) return fmt.pct(v);
    if (/cost/.test(metric)) return fmt.usd(v);
    if (/traffic|calls|requests/.test(metric)) return fmt.int(v);
    return Math.abs(v) >= 1000 ? fmt.int(v) : Number(v).toPrecision(3);
  },
};

function table(node, columns, rows) {
  node.replaceChildren();
  const head = el("tr");
  columns.forEach((c) => {
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
      const text = c.format ? c.format(value, row) : value;
      const td = el("td", c.link ? null : text, c.className ? c.className(value, row) : undefined);
      if (c.link) { const a = el("a", text); a.href = c.link(row); td.append(a); }
      td.dataset.key = c.key;
      tr.append(td);
    }
    node.append(tr);
  }
  if (rows.length === 0) { const tr = el("tr"); const td = el("td", "No data in this range.", "muted"); td.colSpan = columns.length; tr.append(td); node.append(tr); }
}

function compare(a, b) { return typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b)); }

// A tile: the value, and its change against the period of the same length right before.
// kind: "count" (relative change), "rate" (percentage points); worse: "up" or "down" colours the change.
function kpis(node, items) {
  node.replaceChildren(...items.map(({ label, value, id, now, before, kind, worse }) => {
    const box = el("div", null, "kpi");
    const v = el("div", value, "value");
    if (id) v.id = id;
    box.append(el("div", label, "label"), v);
    if (kind) {
      const delta = change(now, before, kind);
      const d = el("div", delta.text, "delta" + (delta.sign && worse ? (delta.sign > 0 === (worse === "up") ? " worse" : " better") : ""));
      if (id) d.id = id + "-delta";
      box.append(d);
    }
    return box;
  }));
}

function change(now, before, kind) {
  if (none(now)) return { text: "", sign: 0 };
  if (none(before) || (kind === "count" && before === 0)) return { text: "new vs previous period", sign: 0 };
  const diff = kind === "rate" ? (now - before) * 100 : (now - before) / before * 100;
  if (Math.abs(diff) < 0.05) return { text: "= previous period", sign: 0 };
  const arrow = diff > 0 ? "▲" : "▼";
  // Ten times more reads better as "10x" than "900.0%"; past 1,000x the digits say nothing.
  if (kind === "count" && diff >= 900) { const r = now / before; return { text: `${arrow} ${r >= 1000 ? ">1,000" : r < 100 ? r.toFixed(1) : Math.round(r)}x vs previous period`, sign: 1 }; }
  return { text: `${arrow} ${Math.abs(diff).toFixed(1)}${kind === "rate" ? " pp" : "%"} vs previous period`, sign: Math.sign(diff) };
}

// ---- charts: one real time axis (epoch ms), markers on it, gaps as gaps
function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

function chart(id, config) {
  if (!window.Chart) { const canvas = $(id); if (canvas) canvas.replaceWith(el("p", "Charts need the chart library (make deps installs it); the tables hold the numbers.", "muted")); return; }
  state.charts[id]?.destroy();
  state.charts[id] = new window.Chart($(id), { ...config, options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options } });
}

// Points of one metric; a bucket with no data becomes a null point, so the line stops instead of bridging it.
function line(points, key, bucketSeconds) {
  const step = bucketSeconds * 1000;
  const out = [];
  let previous = null;
  for (const p of points) {
    const x = Date.parse(p.at);
    if (previous !== null && x - previous > step) out.push({ x: previous + step, y: null });
    out.push({ x, y: none(p[key]) ? null : p[key] });
    previous = x;
  }
  return out;
}

function markers(from, to, alerts, releases) {
  const inRange = (t) => t >= from && t <= to;
  const marks = {};
  for (const a of alerts || []) {
    const fired = Date.parse(a.startedAt);
    const label = (text) => ({ display: true, content: text, position: "start", font: { size: 10 }, backgroundColor: css("--red"), padding: 2 });
    if (inRange(fired)) marks[`firing-${a.alertId}`] = { type: "line", scaleID: "x", value: fired, borderColor: css("--red"), borderWidth: 2, label: label(`FIRING ${a.ruleId}`) };
    const resolved = a.resolvedAt ? Date.parse(a.resolvedAt) : null;
    if (resolved !== null && inRange(resolved)) marks[`resolved-${a.alertId}`] = { type: "line", scaleID: "x", value: resolved, borderColor: css("--green"), borderWidth: 2, label: { ...label("RESOLVED"), backgroundColor: css("--green") } };
  }
  // Versions first called in the same minute share one marker (their labels would overprint each other).
  const byMinute = new Map();
  for (const r of releases || []) {
    const at = Date.parse(r.at);
    if (inRange(at)) byMinute.set(at, [...(byMinute.get(at) || []), `${r.promptName}@${r.promptVersion}`]);
  }
  for (const [at, names] of byMinute) {
    marks[`release-${names[0]}`] = { type: "line", scaleID: "x", value: at, borderColor: css("--muted"), borderWidth: 1, borderDash: [4, 4], releases: names,
      label: { display: true, content: names.length > 1 ? `${names[0]} +${names.length - 1}` : names[0], position: "end", font: { size: 10 }, color: css("--fg"), backgroundColor: css("--panel"), padding: 2 } };
  }
  return marks;
}

function timeChart(id, { from, to, datasets, marks, format, yMin, yMax, type, unit }) {
  const start = Date.parse(from);
  const end = Date.parse(to);
  chart(id, {
    type: type || "line",
    data: { datasets: datasets.map((d) => ({ pointRadius: 2, borderWidth: 1.5, ...d })) },
    options: {
      spanGaps: false,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      scales: {
        x: { type: "time", min: start, max: end, offset: false, time: { unit, tooltipFormat: "yyyy-MM-dd HH:mm", displayFormats: { minute: "HH:mm", hour: "HH:mm", day: "MMM d" } },
          ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 8 }, grid: { color: css("--grid") } },
        y: { min: yMin, max: yMax, beginAtZero: true, ticks: { callback: (v) => format(v), maxTicksLimit: 6 }, grid: { color: css("--grid") } },
      },
      plugins: {
        legend: { display: datasets.length > 1, labels: { boxWidth: 12 } },
        tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${c.dataset.format ? c.dataset.format(c.raw) : format(c.parsed.y)}` } },
        annotation: { annotations: marks || {} },
      },
    },
  });
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

// The filter choices: every environment, service, model and prompt of the range, whatever is selected.
function fill(select, values, allLabel) {
  const current = state[select.id];
  const list = [...new Set(values)].sort();
  if (current && !list.includes(current)) list.push(current);
  select.replaceChildren(new Option(allLabel, ""), ...list.map((n) => new Option(n, n)));
  select.value = current;
}

// The choices depend on the range only: kept while it stays the same (a live refresh reloads them).
const choices = { key: null, rows: null, at: 0 };

async function loadFilters(reload) {
  const key = query({ environment: null, service: null, model: null, prompt: null });
  if (reload || choices.key !== key || (state.range !== "custom" && Date.now() - choices.at > 60000)) {
    choices.rows = await api("prompts", { environment: null, service: null, model: null, prompt: null });
    choices.key = key;
    choices.at = Date.now();
  }
  const all = choices.rows;
  fill($("environment"), all.map((p) => p.environment), "All");
  fill($("service"), all.map((p) => p.service), "All");
  fill($("model"), all.map((p) => p.model), "All");
  fill($("prompt"), all.map((p) => p.promptName), "All prompts");
  await loadTags(key);
  choices.inScope = all.filter((p) => FILTERS.every((k) => !state[k] || p[k === "prompt" ? "promptName" : k] === state[k]));
  fillPicks(state.series);
}

// Tag (cohort) choices: key=value pairs of the range's calls. Tags are only in the raw calls, so only ranges up to
// 24 hours offer them (the API says the same when asked for more).
const TAG_RANGE_MS = 24 * 3600000;
async function loadTags(key) {
  const select = $("tag");
  const span = state.range === "custom" && state.from && state.to ? Date.parse(state.to) - Date.parse(state.from) : { "1h": 3600000, "24h": TAG_RANGE_MS }[state.range] ?? Infinity;
  select.disabled = span > TAG_RANGE_MS;
  select.title = select.disabled ? "Tag filters read the raw calls (the rollups carry no tags): ranges up to 24 hours" : "Overview of the calls carrying this tag (from the raw calls)";
  if (choices.tagKey !== key) {
    choices.tags = select.disabled ? [] : await api("tags", { environment: null, service: null, model: null, prompt: null });
    choices.tagKey = key;
  }
  const pairs = choices.tags.flatMap((t) => t.values.map((v) => `${t.key}=${v}`));
  if (state.tag && !pairs.includes(state.tag)) pairs.push(state.tag);
  select.replaceChildren(new Option("Any", ""), ...pairs.map((t) => new Option(t, t)));
  select.value = state.tag;
}

// The compare pickers: after the first, only versions of the first one's prompt (a verdict compares versions).
function fillPicks(series) {
  const key = (p) => `${p.promptName}@${p.promptVersion}@${p.model}`;
  const inScope = choices.inScope || [];
  const first = series[0] || (inScope[0] ? key(inScope[0]) : "");
  const prompt = first.split("@")[0];
  document.querySelectorAll(".pick").forEach((pick, i) => {
    const offered = i === 0 ? inScope : inScope.filter((p) => p.promptName === prompt);
    const chosen = series[i] || "";
    pick.replaceChildren(new Option("—", ""), ...offered.map((p) => new Option(`${p.promptName}@${p.promptVersion} (${p.model})`, key(p))));
    if (chosen && ![...pick.options].some((o) => o.value === chosen)) pick.append(new Option(chosen, chosen));
    pick.value = chosen || (series.length === 0 && i < 2 && offered[i] ? key(offered[i]) : "");
  });
}

const pages = {
  async overview() {
    // Recommendations take longest (they run the A/B comparisons): they follow when ready and hold nothing up.
    const seq = state.seq;
    const list = $("recommendations");
    list.replaceChildren(el("li", "…", "muted"));
    api("recommendations").then((recs) => {
      if (seq === state.seq) list.replaceChildren(...(recs.length ? recs.map((r) => el("li", r.message, `rec-${r.severity}`)) : [el("li", "Nothing to recommend in this range.", "muted")]));
    }, (e) => { if (!(e instanceof Stale) && seq === state.seq) list.replaceChildren(el("li", e.message, "muted")); });
    // A tag narrows the overview to its calls, read from the raw calls (api/cohort); alerts carry no tags.
    const [o, ts, alerts] = state.tag
      ? await Promise.all([api("cohort", { tag: state.tag }), api("alerts")]).then(([c, a]) => [c.overview, c.series, a])
      : await Promise.all([api("overview"), api("timeseries"), api("alerts")]);
    $("tag-note").hidden = !state.tag;
    $("tag-note").textContent = state.tag ? `Calls tagged ${state.tag}, read from the raw calls (the rollups carry no tags), so for ranges up to 24 hours; cost is the calls' reported cost_usd; alerts are every series'.` : "";
    const p = o.previous || {};
    kpis($("kpis"), [
      { label: "Requests", value: fmt.int(o.requests), id: "kpi-requests", now: o.requests, before: p.requests, kind: "count" },
      { label: "Success rate", value: fmt.pct(o.successRate), id: "kpi-success", now: o.successRate, before: p.successRate, kind: "rate", worse: "down" },
      { label: "Error rate", value: fmt.pct(o.errorRate), id: "kpi-errors", now: o.errorRate, before: p.errorRate, kind: "rate", worse: "up" },
      { label: "p50", value: fmt.ms(o.latencyP50Ms), id: "kpi-p50", now: o.latencyP50Ms, before: p.latencyP50Ms, kind: "count", worse: "up" },
      { label: "p95", value: fmt.ms(o.latencyP95Ms), id: "kpi-p95", now: o.latencyP95Ms, before: p.latencyP95Ms, kind: "count", worse: "up" },
      { label: "p99", value: fmt.ms(o.latencyP99Ms), id: "kpi-p99", now: o.latencyP99Ms, before: p.latencyP99Ms, kind: "count", worse: "up" },
      { label: "Tokens in / out", value: `${fmt.int(o.inputTokens)} / ${fmt.int(o.outputTokens)}`, id: "kpi-tokens", now: o.inputTokens + o.outputTokens, before: none(p.inputTokens) ? null : p.inputTokens + p.outputTokens, kind: "count" },
      { label: "Cost", value: fmt.cost(o.costUsd, o), id: "kpi-cost", now: o.costUsd, before: p.costUsd, kind: "count", worse: "up" },
      { label: "Active alerts", value: fmt.int(o.activeAlerts), id: "kpi-alerts" },
    ]);
    $("freshness").textContent = o.freshnessSeconds === null ? "no data yet" : `data ${Math.round(o.freshnessSeconds)} s old`;
    if (o.freshnessSeconds !== null) live.lastWindow = Math.max(live.lastWindow, Date.now() - o.freshnessSeconds * 1000);
    if (o.message) show(o.message, false);
    const marks = markers(Date.parse(ts.from), Date.parse(ts.to), alerts, ts.releases);
    const base = { from: ts.from, to: ts.to, marks };
    timeChart("requests-chart", { ...base, format: fmt.int, datasets: [{ label: "requests", data: line(ts.points, "requests", ts.bucketSeconds), borderColor: css("--series1"), backgroundColor: css("--series1") }] });
    timeChart("errors-chart", { ...base, format: fmt.pct, datasets: [{ label: "error rate", data: line(ts.points, "errorRate", ts.bucketSeconds), borderColor: css("--red"), backgroundColor: css("--red") }] });
    timeChart("overview-latency-chart", { ...base, format: fmt.ms, datasets: [
      { label: "p50", data: line(ts.points, "latencyP50Ms", ts.bucketSeconds), borderColor: css("--series1"), backgroundColor: css("--series1") },
      { label: "p95", data: line(ts.points, "latencyP95Ms", ts.bucketSeconds), borderColor: css("--series2"), backgroundColor: css("--series2") }] });
    timeChart("overview-cost-chart", { ...base, format: fmt.usd, datasets: [{ label: "cost", data: line(ts.points, "costUsd", ts.bucketSeconds), borderColor: css("--series3"), backgroundColor: css("--series3") }] });
  },
  async performance() {
    const [ts, alerts] = await Promise.all([api("timeseries"), api("alerts")]);
    const marks = markers(Date.parse(ts.from), Date.parse(ts.to), alerts, ts.releases);
    // Latency anomalies sit on the latency axis at their window and value; other metrics' anomalies are in the table.
    const latencyAnomalies = ts.anomalies.filter((a) => /latency/.test(a.metric)).map((a) => ({ x: Date.parse(a.at), y: a.value, a }));
    timeChart("latency-chart", { from: ts.from, to: ts.to, marks, format: fmt.ms, datasets: [
      { label: "p50", data: line(ts.points, "latencyP50Ms", ts.bucketSeconds), borderColor: css("--series1"), backgroundColor: css("--series1") },
      { label: "p95", data: line(ts.points, "latencyP95Ms", ts.bucketSeconds), borderColor: css("--series2"), backgroundColor: css("--series2") },
      { label: "p99", data: line(ts.points, "latencyP99Ms", ts.bucketSeconds), borderColor: css("--series3"), backgroundColor: css("--series3") },
      { label: "anomaly", type: "scatter", data: latencyAnomalies, pointRadius: 5, pointStyle: "triangle", borderColor: css("--red"), backgroundColor: css("--red"), showLine: false,
        format: (raw) => `${raw.a.promptName}@${raw.a.promptVersion} ${raw.a.metric} ${fmt.ms(raw.a.value)} (score ${fmt.score(raw.a.score)})` },
    ] });
    timeChart("success-chart", { from: ts.from, to: ts.to, marks, format: fmt.pct, yMax: 1, datasets: [
      { label: "success rate", data: line(ts.points, "successRate", ts.bucketSeconds), borderColor: css("--green"), backgroundColor: css("--green") }] });
    table($("anomalies"), [
      { key: "at", label: "Window", format: fmt.time }, { key: "promptName", label: "Prompt" }, { key: "promptVersion", label: "Version" }, { key: "model", label: "Model" },
      { key: "metric", label: "Metric" }, { key: "value", label: "Value", format: (v, r) => fmt.metric(r.metric, v) },
      { key: "baselineMedian", label: "Baseline", format: (v, r) => fmt.metric(r.metric, v) }, { key: "score", label: "Score", format: fmt.score },
    ], ts.anomalies);
  },
  async prompts() {
    const rows = await api("prompts");
    table($("prompts-table"), [
      { key: "promptName", label: "Prompt", link: (r) => hashFor("prompt", r.promptName) }, { key: "promptVersion", label: "Version" }, { key: "model", label: "Model" },
      // Sampled series show an estimate with its 95% bound.
      { key: "requests", label: "Requests", format: (v, r) => (r.estimated ? `~${fmt.int(v)} ±${fmt.int(r.requestsBound)}` : fmt.int(v)) }, { key: "successRate", label: "Success", format: fmt.pct },
      { key: "latencyP50Ms", label: "p50", format: fmt.ms }, { key: "latencyP95Ms", label: "p95", format: fmt.ms }, { key: "latencyP99Ms", label: "p99", format: fmt.ms },
      { key: "tokensPerRequest", label: "Tokens/req", format: fmt.int }, { key: "costPerRequestUsd", label: "Cost/req", format: (v) => fmt.cost(v) }, { key: "costUsd", label: "Cost", format: fmt.cost },
      { key: "health", label: "Health", className: (v) => `health-${v}` },
    ], rows);
    $("prompts-note").hidden = !rows.some((r) => r.estimated);
  },
  async compare() {
    const series = [...document.querySelectorAll(".pick")].map((p) => p.value).filter(Boolean);
    if (series.length < 2) { table($("compare-table"), [{ key: "x", label: "Pick two or three series" }], []); $("verdicts").replaceChildren(); return; }
    const result = await api("compare", { series, prompt: null, model: null });
    table($("compare-table"), [
      { key: "promptName", label: "Prompt" }, { key: "promptVersion", label: "Version" }, { key: "model", label: "Model" }, { key: "requests", label: "Requests", format: fmt.int },
      { key: "successRate", label: "Success", format: fmt.pct }, { key: "latencyP95Ms", label: "p95", format: fmt.ms }, { key: "costPerRequestUsd", label: "Cost/req", format: (v) => fmt.cost(v) },
      { key: "health", label: "Health", className: (v) => `health-${v}` },
    ], result.series);
    // The verdict already states each finding with its interval or p-value, or why a test was not run: said once.
    $("verdicts").replaceChildren(...result.verdicts.map((v) => el("li", v.verdict)));
  },
  async alerts() {
    table($("alerts-table"), [
      { key: "state", label: "State", className: (v) => `state-${v}` }, { key: "severity", label: "Severity" }, { key: "ruleId", label: "Rule", link: (r) => hashFor("alert", r.alertId) },
      { key: "promptName", label: "Series", format: (v, r) => `${v}@${r.promptVersion} · ${r.model}` }, { key: "observed", label: "Observed", format: (v, r) => fmt.metric(r.metric, v) },
      { key: "baseline", label: "Baseline", format: (v, r) => fmt.metric(r.metric, v) }, { key: "threshold", label: "Threshold", format: (v, r) => fmt.metric(r.metric, v) },
      { key: "startedAt", label: "Started", format: fmt.time }, { key: "resolvedAt", label: "Resolved", format: fmt.time }, { key: "summary", label: "Summary", className: () => "wide" },
    ], await api("alerts"));
  },
  async prompt() {
    const d = await api(`prompts/${encodeURIComponent(state.arg)}`, { prompt: null });
    $("prompt-back").href = hashFor("prompts");
    $("prompt-title").textContent = d.promptName;
    const requests = d.versions.reduce((n, v) => n + v.requests, 0);
    const priced = d.versions.filter((v) => v.costUsd !== null);
    kpis($("prompt-kpis"), [
      { label: "Requests", value: fmt.int(requests), id: "prompt-requests" }, { label: "Versions", value: fmt.int(new Set(d.versions.map((v) => v.promptVersion)).size) },
      { label: "Cost", value: priced.length ? fmt.usd(priced.reduce((n, v) => n + v.costUsd, 0)) : "unpriced", id: "prompt-cost" },
      { label: "Tokens", value: fmt.int(d.versions.reduce((n, v) => n + v.tokens, 0)), id: "prompt-tokens" },
    ]);
    const names = [...new Set(d.points.map((p) => p.promptVersion))].sort();
    const colours = ["--series1", "--series2", "--series3", "--green", "--red", "--yellow", "--muted"];
    const buckets = [...new Set(d.points.map((p) => Date.parse(p.at)))].sort((a, b) => a - b);
    const byBucket = new Map(buckets.map((b) => [b, new Map()]));
    for (const p of d.points) byBucket.get(Date.parse(p.at)).set(p.promptVersion, p.requests);
    const releases = d.versions.map((v) => ({ at: v.firstCallAt, promptName: d.promptName, promptVersion: v.promptVersion }));
    const marks = markers(Date.parse(d.from), Date.parse(d.to), [], releases);
    // One line per version over buckets with data; a bucket without that version is null (a gap), never 0.
    const perVersion = (value) => names.map((n, i) => ({ label: n, borderColor: css(colours[i % colours.length]), backgroundColor: css(colours[i % colours.length]),
      data: line(buckets.map((b) => ({ at: new Date(b).toISOString(), v: value(b, n) })), "v", d.bucketSeconds) }));
    timeChart("versions-chart", { from: d.from, to: d.to, marks, format: fmt.int, datasets: perVersion((b, n) => byBucket.get(b).get(n) ?? null) });
    const shareOf = (b, n) => { const m = byBucket.get(b); const all = [...m.values()].reduce((x, y) => x + y, 0); return all ? (m.get(n) || 0) / all : null; };
    timeChart("share-chart", { from: d.from, to: d.to, marks, format: fmt.pct, yMax: 1, datasets: perVersion(shareOf) });
    table($("versions-table"), [
      { key: "promptVersion", label: "Version" }, { key: "model", label: "Series", format: (v, r) => `${r.environment}/${r.service} · ${v}` },
      { key: "firstCallAt", label: "First call", format: fmt.time }, { key: "requests", label: "Requests", format: fmt.int }, { key: "share", label: "Share", format: fmt.pct },
      { key: "successRate", label: "Success", format: fmt.pct }, { key: "latencyP95Ms", label: "p95", format: fmt.ms }, { key: "costPerRequestUsd", label: "Cost/req", format: (v) => fmt.cost(v) },
      { key: "tokens", label: "Tokens", format: fmt.int }, { key: "health", label: "Health", className: (v) => `health-${v}` },
      { key: "verdict", label: "Against the version before", format: (v, r) => (v ? v.verdict : r.predecessor ? "–" : "first version"), className: () => "wide" },
    ], d.versions);
    const timeline = [...d.versions].sort((a, b) => Date.parse(a.firstCallAt) - Date.parse(b.firstCallAt));
    $("release-timeline").replaceChildren(...timeline.map((v) => el("li", `${fmt.time(v.firstCallAt)} · ${d.promptName}@${v.promptVersion} first called (${v.environment}/${v.service} · ${v.model})`)));
    table($("stages-table"), [{ key: "stage", label: "Stage" }, { key: "share", label: "Share of stage time", format: fmt.pct }, { key: "meanPerRequestMs", label: "Per request", format: fmt.ms },
      { key: "totalMs", label: "Total", format: fmt.ms }], d.stages);
    table($("errors-table"), [{ key: "errorType", label: "Error type" }, { key: "promptVersion", label: "Version" }, { key: "errors", label: "Errors", format: fmt.int }], d.errors);
  },
  async alert() {
    const d = await api(`alerts/${encodeURIComponent(state.arg)}`);
    const a = d.alert;
    state.alertSeries = a;
    $("alert-back").href = hashFor("alerts");
    $("alert-title").textContent = `${a.state === "firing" ? "FIRING" : "RESOLVED"} · ${a.severity} · ${a.ruleId}`;
    $("alert-title").className = `state-${a.state}`;
    $("alert-summary").textContent = a.summary;
    const facts = [["Series", `${a.promptName}@${a.promptVersion} · ${a.model}`], ["Environment / service", `${a.environment || "–"} / ${a.service || "–"}`],
      ["Metric", a.metric], ["Observed", fmt.metric(a.metric, a.observed)], ["Baseline", fmt.metric(a.metric, a.baseline)], ["Threshold", fmt.metric(a.metric, a.threshold)],
      ["Alert id", a.alertId]];
    $("alert-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", k), el("dd", v)]), el("dt", "Runbook"), runbook(a.runbookUrl));
    const steps = [["pending", "Pending (condition first held)", a.startedAt], ["firing", "Firing", d.firedAt],
      ["acknowledged", d.ackedBy ? `Acknowledged by ${d.ackedBy}${d.ackNote ? `: ${d.ackNote}` : ""}` : "Acknowledged", d.ackedAt], ["resolved", "Resolved", a.resolvedAt]];
    $("alert-lifecycle").replaceChildren(...steps.map(([key, label, at]) => {
      const li = el("li", null, at ? "done" : "open");
      li.dataset.step = key;
      li.append(el("span", label), el("span", at ? fmt.time(at) : "not yet", "muted"));
      return li;
    }));
    alertChart(d);
    const writes = $("alert-writes");
    writes.textContent = d.writable ? "Writes the same records as pipeline alerts ack | silence. The token is kept in this tab only."
      : "This dashboard is read-only (writes need Dashboard:WriterUser and Dashboard:WriteTokenSha256); use pipeline alerts ack | silence.";
    for (const id of ["write-token", "write-by", "ack-note", "silence-for", "ack-go", "silence-go"]) $(id).disabled = !d.writable;
    $("ack-go").disabled = !d.writable || Boolean(d.ackedBy);
    // A live refresh must not undo what someone is typing.
    if (!$("write-token").value) $("write-token").value = sessionStorage.getItem("pipeline-write-token") || "";
    if (!$("write-by").value) $("write-by").value = sessionStorage.getItem("pipeline-write-by") || "";
  },
  async cost() {
    const c = await api("cost");
    kpis($("cost-kpis"), [{ label: "Spend in range", value: fmt.cost(c.totalUsd, c), id: "kpi-spend" }, { label: "Projected this month", value: fmt.cost(c.projectedMonthUsd), id: "kpi-projection" },
      { label: "Budget", value: c.budgetUsd === null ? "not set" : fmt.usd(c.budgetUsd) }, { label: "Budget pace", value: c.budgetPace === null ? "–" : fmt.pct(c.budgetPace) }]);
    // A day's bar stands in the middle of its day, between the midnights on the axis.
    const day = 86400000;
    const days = c.days.map((d) => ({ x: Date.parse(d.day + "T00:00:00Z") + day / 2, y: d.costUsd }));
    const first = days.length ? days[0].x - day / 2 : Math.floor(Date.now() / day) * day;
    const last = days.length ? days[days.length - 1].x + day / 2 : first + day;
    timeChart("cost-chart", { type: "bar", unit: "day", from: new Date(first).toISOString(), to: new Date(last).toISOString(), format: fmt.usd,
      datasets: [{ label: "cost (USD)", data: days, borderColor: css("--series3"), backgroundColor: css("--series3") }] });
    table($("cost-table"), [{ key: "promptName", label: "Prompt" }, { key: "model", label: "Model" }, { key: "requests", label: "Requests", format: fmt.int },
      { key: "inputTokens", label: "Input tokens", format: fmt.int }, { key: "outputTokens", label: "Output tokens", format: fmt.int }, { key: "costUsd", label: "Cost", format: fmt.cost }], c.byPrompt);
  },
};

// Only an http(s) runbook becomes a link (a javascript: URL in a rule must not run).
function runbook(url) {
  const dd = el("dd");
  let parsed = null;
  try { parsed = url ? new URL(url, location.href) : null; } catch { parsed = null; }
  if (parsed && (parsed.protocol === "https:" || parsed.protocol === "http:")) { const a = el("a", url); a.href = parsed.href; a.rel = "noopener noreferrer"; a.target = "_blank"; a.id = "alert-runbook"; dd.append(a); } else dd.textContent = url || "none";
  return dd;
}

// Which point field shows an alert's metric.
function fieldOf(metric) {
  if (/p50/.test(metric)) return "latencyP50Ms";
  if (/p99/.test(metric)) return "latencyP99Ms";
  if (/latency/.test(metric)) return "latencyP95Ms";
  if (/error/.test(metric)) return "errorRate";
  if (/success/.test(metric)) return "successRate";
  if (/cost/.test(metric)) return "costPerRequest";
  return "requests";
}

function alertChart(d) {
  const a = d.alert;
  const ts = d.series;
  const field = fieldOf(a.metric);
  const points = ts.points.map((p) => ({ ...p, costPerRequest: p.costUsd === null || p.requests - p.unpricedRequests <= 0 ? null : p.costUsd / (p.requests - p.unpricedRequests) }));
  const format = (v) => fmt.metric(a.metric, v);
  const plotted = field === "requests" ? fmt.int : field === "costPerRequest" ? fmt.usd : /Rate$/.test(field) ? fmt.pct : fmt.ms;
  $("alert-chart-caption").textContent = `${a.metric} of ${a.promptName}@${a.promptVersion} · ${a.model}, from before it began to after it ended`;
  const from = Date.parse(ts.from);
  const to = Date.parse(ts.to);
  const marks = markers(from, to, [a], []);
  const fired = d.firedAt ? Date.parse(d.firedAt) : null;
  if (fired !== null) marks.pending = { type: "box", xMin: Date.parse(a.startedAt), xMax: fired, backgroundColor: css("--pending"), borderWidth: 0 };
  if (d.ackedAt && Date.parse(d.ackedAt) <= to) marks.ack = { type: "line", scaleID: "x", value: Date.parse(d.ackedAt), borderColor: css("--series1"), borderWidth: 2, borderDash: [2, 2] };
  // Threshold and baseline are in the metric's unit when the metric is plotted as itself (traffic rules count per window, so not for them).
  if (field !== "requests") {
    marks.threshold = { type: "line", scaleID: "y", value: a.threshold, borderColor: css("--red"), borderWidth: 1, borderDash: [6, 3], label: { display: true, content: `threshold ${format(a.threshold)}`, position: "start", font: { size: 10 }, padding: 2 } };
    if (a.baseline !== null) marks.baseline = { type: "line", scaleID: "y", value: a.baseline, borderColor: css("--muted"), borderWidth: 1, label: { display: true, content: `baseline ${format(a.baseline)}`, position: "end", font: { size: 10 }, padding: 2 } };
  }
  const step = ts.bucketSeconds;
  const datasets = [{ label: a.metric, data: line(points, field, step), borderColor: css("--series2"), backgroundColor: css("--series2") }];
  if (d.baseline.length && field !== "requests") {
    const band = (key) => d.baseline.map((b) => ({ x: Date.parse(b.at), y: Math.max(0, b[key]) }));
    datasets.push({ label: "baseline −3σ", data: band("low"), borderColor: "transparent", pointRadius: 0, fill: false },
      { label: "baseline band (median ± 3 robust σ)", data: band("high"), borderColor: "transparent", backgroundColor: css("--band"), pointRadius: 0, fill: "-1" });
  }
  timeChart("alert-chart", { from: ts.from, to: ts.to, marks, format: plotted, datasets });
}

async function write(action, body) {
  const token = $("write-token").value.trim();
  const by = $("write-by").value.trim();
  sessionStorage.setItem("pipeline-write-token", token);
  sessionStorage.setItem("pipeline-write-by", by);
  const result = $("alert-action-result");
  result.textContent = "…";
  // No cookies: the token travels only in this header, and the custom header marks the request as the page's own.
  const response = await fetch(`/api/alerts/${encodeURIComponent(state.arg)}/${action}`, {
    method: "POST", credentials: "omit", headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}`, "X-Pipeline-Dashboard": "write" },
    body: JSON.stringify({ by, ...body }),
  });
  const answer = await response.json().catch(() => ({ detail: `HTTP ${response.status}` }));
  if (!response.ok) { result.textContent = answer.detail || `HTTP ${response.status}`; result.className = "error"; return; }
  result.className = "";
  result.textContent = action === "ack" ? `Acknowledged by ${answer.ackedBy}.` : `Silenced ${answer.matcher} until ${fmt.time(answer.endsAt)} (silence ${answer.silenceId}).`;
  await render();
  $("alert-action-result").textContent = result.textContent;
}

// ---- live: the server pushes closed windows and alert changes (server-sent events, /api/events); the views they
// touch refresh at once. While the push is not live (no Kafka, reconnecting) the page polls every 30 s instead.
const STALE_MS = 3 * 60000; // no new window for this long: the data is behind (an aggregator down, or no traffic)
const live = { source: null, key: null, state: "connecting", detail: "", connected: false, lastEvent: 0, lastWindow: 0, openedAt: 0, poll: null, timer: null, refreshedAt: 0, windows: 0 };

function liveQuery() {
  const p = new URLSearchParams();
  for (const k of FILTERS) if (state[k]) p.set(k, state[k]);
  return p.toString();
}

function connectLive() {
  const key = liveQuery();
  if (live.source && live.key === key && live.source.readyState !== EventSource.CLOSED) return;
  live.source?.close();
  Object.assign(live, { key, connected: false, openedAt: Date.now(), lastEvent: Date.now() });
  const source = new EventSource(`/api/events${key ? "?" + key : ""}`);
  live.source = source;
  const seen = () => { live.lastEvent = Date.now(); live.connected = true; indicator(); };
  source.addEventListener("open", seen);
  // EventSource reconnects by itself (the server asks for 3 s); meanwhile the page says so and polls.
  source.addEventListener("error", () => { live.connected = false; indicator(); });
  source.addEventListener("ping", seen);
  source.addEventListener("status", (e) => { const s = JSON.parse(e.data); live.state = s.state; live.detail = s.detail; seen(); });
  source.addEventListener("windows", (e) => {
    const w = JSON.parse(e.data);
    live.lastWindow = Date.now();
    live.windows += w.count;
    seen();
    changed("window", w);
  });
  source.addEventListener("alert", (e) => { seen(); changed("alert", JSON.parse(e.data)); });
}

// Does this change touch the view on screen?
function touches(kind, d) {
  // A custom range that ended before the change does not show it.
  const at = Date.parse(kind === "window" ? d.newest : d.at);
  if (state.range === "custom" && state.to && at > Date.parse(state.to)) return false;
  const series = kind === "window" ? d.series : [d];
  switch (state.page) {
    case "alert": {
      const a = state.alertSeries;
      return kind === "alert" ? d.alertId === state.arg : Boolean(a) && series.some((s) => s.promptName === a.promptName && s.promptVersion === a.promptVersion && s.model === a.model);
    }
    case "prompt": return kind === "alert" || series.some((s) => s.promptName === state.arg);
    case "alerts": return kind === "alert";
    case "cost": case "prompts": case "compare": return kind === "window";
    default: return true;
  }
}

function changed(kind, d) {
  if (!$("live").checked || !touches(kind, d)) return;
  // At most one refresh every 2 s: the windows of one minute close over a few flushes.
  if (live.timer) return;
  live.timer = setTimeout(() => { live.timer = null; live.refreshedAt = Date.now(); render(true); }, Math.max(0, 2000 - (Date.now() - live.refreshedAt)));
}

function indicator() {
  const box = $("live-status");
  const now = Date.now();
  // A stream that sent nothing, not even its 15 s ping, for 45 s is dead however open it looks: open another.
  if (live.connected && now - live.lastEvent > 45000) { live.source?.close(); live.source = null; connectLive(); }
  let text;
  let kind = "stale";
  if (!$("live").checked) { text = "updates off"; kind = "off"; }
  else if (live.state === "off" || live.state === "unavailable") text = "poll only (30 s)";
  else if (!live.connected || live.state !== "live") text = "reconnecting…";
  else if (now - Math.max(live.lastWindow, live.openedAt) > STALE_MS) text = `stale: no new window for ${Math.floor((now - (live.lastWindow || live.openedAt)) / 60000)} min`;
  else { text = "live"; kind = "live"; }
  box.textContent = text;
  box.className = `live-${kind}`;
  box.title = live.detail || "";
  box.dataset.state = live.connected ? live.state : "disconnected";
  const polling = $("live").checked && !(live.connected && live.state === "live");
  if (polling && !live.poll) live.poll = setInterval(() => render(true), 30000);
  if (!polling && live.poll) { clearInterval(live.poll); live.poll = null; }
}

// Puts the state into the controls (after a hash change, or a link opened).
function syncControls() {
  $("range").value = state.range;
  $("custom").hidden = state.range !== "custom";
  if (state.range === "custom") { $("from").value = (state.from || "").replace(/Z$/, "").slice(0, 16); $("to").value = (state.to || "").replace(/Z$/, "").slice(0, 16); }
  for (const k of FILTERS) { const s = $(k); if (![...s.options].some((o) => o.value === state[k])) s.append(new Option(state[k], state[k])); s.value = state[k]; }
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.page === (TAB_OF[state.page] || state.page)));
  document.querySelectorAll(".page").forEach((s) => { s.hidden = s.id !== `page-${state.page}`; });
}

async function render(reload) {
  const seq = ++state.seq;
  show("");
  syncControls();
  document.body.dataset.loading = "true";
  try {
    connectLive();
    await loadFilters(reload);
    await pages[state.page]();
    if (state.tag && state.page !== "overview") show(`The tag filter ${state.tag} applies to the Overview; this page shows every call.`, false);
    exports();
  } catch (e) {
    if (!(e instanceof Stale)) show(e.message, true);
  } finally {
    if (seq === state.seq) document.body.dataset.loading = "false";
  }
}

function setupCharts() {
  if (!window.Chart) return;
  if (window["chartjs-plugin-annotation"]) window.Chart.register(window["chartjs-plugin-annotation"]);
  window.Chart.defaults.color = css("--muted");
  window.Chart.defaults.borderColor = css("--grid");
  window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
}

document.addEventListener("DOMContentLoaded", () => {
  setupCharts();
  // For tests and the curious: the live chart objects.
  window.dashboard = { charts: state.charts, live };
  document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => { state.page = b.dataset.page; state.arg = ""; navigate(); }));
  $("range").addEventListener("change", (e) => { state.range = e.target.value; $("custom").hidden = state.range !== "custom"; if (state.range !== "custom") navigate(); });
  $("apply").addEventListener("click", () => { state.from = $("from").value ? $("from").value + "Z" : null; state.to = $("to").value ? $("to").value + "Z" : null; navigate(); });
  for (const k of FILTERS) $(k).addEventListener("change", (e) => { state[k] = e.target.value; navigate(); });
  $("tag").addEventListener("change", (e) => { state.tag = e.target.value; navigate(); });
  document.querySelector(".pick").addEventListener("change", (e) => fillPicks([e.target.value]));
  $("compare-go").addEventListener("click", () => { state.page = "compare"; state.series = [...document.querySelectorAll(".pick")].map((p) => p.value).filter(Boolean); navigate(); });
  $("live").addEventListener("change", indicator);
  setInterval(indicator, 5000);
  $("ack-go").addEventListener("click", () => write("ack", { note: $("ack-note").value.trim() }));
  $("silence-go").addEventListener("click", () => write("silence", { for: $("silence-for").value, reason: $("ack-note").value.trim() }));
  window.addEventListener("hashchange", () => { fromHash(location.hash); render(); });
  fromHash(location.hash);
  render();
});
