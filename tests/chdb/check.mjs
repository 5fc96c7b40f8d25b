// Runs every migration, view and documented query on current ClickHouse in-process (chdb), on a little
// generated data, and prints one JSON line per statement. Exit code 1 when any statement fails.
// Usage: node check.mjs <migrations dir> <rollups dir> <queries dir> [<more .sql dirs>...]
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Session } from "chdb";

const [migrations, ...others] = process.argv.slice(2);
if (!migrations) {
  console.error("usage: node check.mjs <migrations dir> <queries dir> [more dirs]");
  process.exit(2);
}

// The same splitting as Pipeline.ClickHouse.Migrator: drop comment lines, split at ';' ending a line.
const statements = (sql) =>
  sql.replace(/\r\n/g, "\n").split("\n").filter((l) => !l.trimStart().startsWith("--")).join("\n")
    .split(/;[ \t]*(?:\n|$)/).map((s) => s.trim()).filter((s) => s.length > 0);

// Rollup templates take a day, its partition and a month; the seeded data lives on that day.
const fill = (sql) => sql.replaceAll("{day}", "2026-11-23").replaceAll("{partition}", "20261123").replaceAll("{month}", "202611");

const sqlFiles = (dir) => readdirSync(dir).filter((f) => f.endsWith(".sql")).sort().map((f) => join(dir, f));

const session = new Session();
let failed = 0;
const run = (file, sql, kind) => {
  try {
    const out = session.query(sql, "JSONEachRow");
    const rows = out.trim() === "" ? 0 : out.trim().split("\n").length;
    console.log(JSON.stringify({ file, kind, ok: true, rows }));
    return true;
  } catch (e) {
    failed++;
    console.log(JSON.stringify({ file, kind, ok: false, error: String(e.message ?? e).split("\n")[0], sql: sql.slice(0, 200) }));
    return false;
  }
};

console.log(JSON.stringify({ clickhouse: session.query("SELECT version()", "TSVRaw").trim() }));
for (const file of sqlFiles(migrations)) {
  for (const s of statements(readFileSync(file, "utf8"))) run(file, s, "migration");
}

// A little data, so views and queries evaluate rather than only parse.
const seed = [
  `INSERT INTO calls (event_id, occurred_at, occurred_at_ms, environment, service, operation, provider, request_model, prompt_name, prompt_version,
     latency_ms, input_tokens, output_tokens, cost_usd, outcome, error_type, tag_keys, tag_values, stage_names, stage_durations_ms, sample_rate, ingested_at)
   SELECT generateUUIDv4(), toDateTime('2026-11-23 10:00:00') + number * 7, 0, 'prod', 'svc', 'chat', 'openai', 'gpt-4o', 'support_answer',
     if(number % 3 = 0, '2.0', '1.0'), 100 + number % 900, 500, 100, 0.001, if(number % 20 = 0, 'ERROR', 'SUCCESS'), if(number % 20 = 0, 'SERVER_ERROR', ''),
     ['cohort'], [if(number % 2 = 0, 'a', 'b')], ['retrieval', 'generation'], [20.0, 80.0], 1, now() FROM numbers(2000)`,
  `INSERT INTO metrics_1m (environment, service, prompt_name, prompt_version, request_model, window_start, window_seconds, revision, calls, events, successes, errors,
     latency_p50_ms, latency_p95_ms, latency_p99_ms, latency_max_ms, latency_sum_ms, input_tokens, output_tokens, cost_usd, emitted_at)
   SELECT 'prod', 'svc', 'support_answer', if(number % 3 = 0, '2.0', '1.0'), 'gpt-4o', toDateTime('2026-11-23 10:00:00') + number * 60, 60, 1,
     100, 100, 95, 5, 300, 800, 950, 1200, 35000, 50000, 10000, 0.1, now() FROM numbers(240)`,
];
for (const s of seed) run("(seed)", s, "seed");

const views = session.query("SELECT name FROM system.tables WHERE database = currentDatabase() AND engine = 'View' ORDER BY name", "TSVRaw")
  .trim().split("\n").filter((v) => v.length > 0);
for (const dir of others) {
  for (const file of sqlFiles(dir)) {
    for (const s of statements(fill(readFileSync(file, "utf8")))) run(file, s, "query");
  }
}
// Views last, so the rollup views read what the rollup templates built.
for (const v of views) run(`view ${v}`, `SELECT * FROM ${v} LIMIT 100`, "view");
session.close();
console.log(JSON.stringify({ failed, views: views.length }));
process.exit(failed === 0 ? 0 : 1);
