-- Analyst views. Every view reads deduplicated data (FINAL), so counts are exact however often an
-- event was delivered. Columns are documented in analytics/README.md. Runs on 18.16 and current versions.

-- Raw calls, one row per event_id.
CREATE VIEW IF NOT EXISTS v_calls AS
SELECT * FROM calls FINAL;

-- Health per series and hour, from the closed one-minute windows (counts weighted by 1/sample_rate).
CREATE VIEW IF NOT EXISTS v_prompt_health_hourly AS
SELECT
    environment, service, prompt_name, prompt_version, request_model,
    toStartOfHour(window_start) AS hour,
    sum(calls) AS requests,
    sum(successes) / sum(calls) AS success_rate,
    sum(errors) / sum(calls) AS error_rate,
    sum(latency_sum_ms) / sum(calls) AS latency_mean_ms,
    max(latency_p95_ms) AS latency_p95_worst_minute_ms,
    max(latency_max_ms) AS latency_max_ms,
    sum(input_tokens) AS input_tokens_total,
    sum(output_tokens) AS output_tokens_total,
    sum(cost_usd) AS cost_total_usd,
    sum(cost_usd) / sum(calls) AS cost_per_call_usd,
    if(sum(quality_count) = 0, nan, sum(quality_sum) / sum(quality_count)) AS quality_mean
FROM metrics_1m FINAL
GROUP BY environment, service, prompt_name, prompt_version, request_model, hour;

-- Exact latency percentiles per series and hour, from the raw calls.
CREATE VIEW IF NOT EXISTS v_latency_hourly AS
SELECT
    environment, service, prompt_name, prompt_version, request_model,
    toStartOfHour(occurred_at) AS hour,
    count() AS calls,
    quantileExact(0.5)(latency_ms) AS p50_ms,
    quantileExact(0.95)(latency_ms) AS p95_ms,
    quantileExact(0.99)(latency_ms) AS p99_ms,
    max(latency_ms) AS max_ms
FROM calls FINAL
GROUP BY environment, service, prompt_name, prompt_version, request_model, hour;

-- Versions of each prompt side by side over everything stored.
CREATE VIEW IF NOT EXISTS v_version_comparison AS
SELECT
    environment, service, prompt_name, prompt_version,
    min(window_start) AS first_seen,
    max(window_start) AS last_seen,
    sum(calls) AS requests,
    sum(successes) / sum(calls) AS success_rate,
    sum(latency_sum_ms) / sum(calls) AS latency_mean_ms,
    sum(cost_usd) / sum(calls) AS cost_per_call_usd,
    if(sum(quality_count) = 0, nan, sum(quality_sum) / sum(quality_count)) AS quality_mean
FROM metrics_1m FINAL
GROUP BY environment, service, prompt_name, prompt_version;

-- Cost per day, prompt and model (reported costs plus costs priced from the price table).
CREATE VIEW IF NOT EXISTS v_cost_daily AS
SELECT
    toDate(window_start) AS day,
    environment, service, prompt_name, request_model, provider_price_version,
    sum(calls) AS requests,
    sum(input_tokens) AS input_tokens_total,
    sum(output_tokens) AS output_tokens_total,
    sum(cost_usd) AS cost_total_usd,
    sum(cost_usd) / sum(calls) AS cost_per_call_usd,
    sum(unpriced_calls) AS unpriced_calls
FROM
(
    SELECT *, price_version AS provider_price_version FROM metrics_1m FINAL
)
GROUP BY day, environment, service, prompt_name, request_model, provider_price_version;

-- SLA per day and series against a 99% success objective: error budget used and left.
CREATE VIEW IF NOT EXISTS v_sla_daily AS
SELECT
    toDate(window_start) AS day,
    environment, service, prompt_name, prompt_version, request_model,
    sum(calls) AS requests,
    sum(successes) / sum(calls) AS success_rate,
    0.99 AS slo,
    sum(errors) / (sum(calls) * (1 - 0.99)) AS error_budget_used,
    greatest(0, 1 - sum(errors) / (sum(calls) * (1 - 0.99))) AS error_budget_left
FROM metrics_1m FINAL
GROUP BY day, environment, service, prompt_name, prompt_version, request_model;

-- Errors by day, series, type and message.
CREATE VIEW IF NOT EXISTS v_errors AS
SELECT
    toDate(occurred_at) AS day,
    environment, service, prompt_name, prompt_version, request_model, error_type, error_message,
    count() AS errors,
    min(occurred_at) AS first_seen,
    max(occurred_at) AS last_seen
FROM calls FINAL
WHERE outcome = 'ERROR'
GROUP BY day, environment, service, prompt_name, prompt_version, request_model, error_type, error_message;

-- Stage timings: where the time of a multi-stage request goes.
CREATE VIEW IF NOT EXISTS v_stage_bottlenecks AS
SELECT
    environment, service, prompt_name, prompt_version, stage,
    count() AS calls,
    avg(duration_ms) AS mean_ms,
    quantileExact(0.95)(duration_ms) AS p95_ms,
    sum(duration_ms) AS total_ms
FROM
(
    SELECT environment, service, prompt_name, prompt_version, stage_names, stage_durations_ms FROM calls FINAL
)
ARRAY JOIN stage_names AS stage, stage_durations_ms AS duration_ms
GROUP BY environment, service, prompt_name, prompt_version, stage;

-- Cohorts: every tag key/value with its calls, success rate and latency.
CREATE VIEW IF NOT EXISTS v_cohorts AS
SELECT
    environment, service, prompt_name, prompt_version, tag_key, tag_value,
    count() AS calls,
    countIf(outcome = 'SUCCESS') / count() AS success_rate,
    avg(latency_ms) AS latency_mean_ms,
    quantileExact(0.95)(latency_ms) AS latency_p95_ms
FROM
(
    SELECT environment, service, prompt_name, prompt_version, tag_keys, tag_values, outcome, latency_ms FROM calls FINAL
)
ARRAY JOIN tag_keys AS tag_key, tag_values AS tag_value
GROUP BY environment, service, prompt_name, prompt_version, tag_key, tag_value;
