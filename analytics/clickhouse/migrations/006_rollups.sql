-- Rollups for long ranges: one row per series and hour (metrics_1h) and per series and day (metrics_1d),
-- holding mergeable -State aggregates (AggregatingMergeTree). Read them through v_health_1h / v_health_1d,
-- or with the -Merge functions. Kept when raw calls and minute windows are dropped by retention.
--
-- Why not a materialized view on insert: `calls` receives at-least-once deliveries and `metrics_1m`
-- receives revisions of late windows, so a view triggered by inserts would count some rows twice. The
-- rollup job (`pipeline rollup`, also run by `pipeline maintain`) instead rebuilds each changed day from
-- the deduplicated tables (FINAL) into a staging table and swaps the partition in atomically (REPLACE
-- PARTITION), so rollups always equal the minute windows they summarize. See analytics/README.md.
CREATE TABLE IF NOT EXISTS metrics_1h
(
    environment String,
    service String,
    prompt_name String,
    prompt_version String,
    request_model String,
    hour DateTime,
    requests_state AggregateFunction(sum, UInt64),
    successes_state AggregateFunction(sum, UInt64),
    errors_state AggregateFunction(sum, UInt64),
    latency_sum_state AggregateFunction(sum, Float64),
    latency_max_state AggregateFunction(max, Float64),
    latency_quantiles_state AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64),
    input_tokens_state AggregateFunction(sum, UInt64),
    output_tokens_state AggregateFunction(sum, UInt64),
    cost_state AggregateFunction(sum, Float64),
    quality_sum_state AggregateFunction(sum, Float64),
    quality_count_state AggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMMDD(hour)
ORDER BY (environment, service, prompt_name, prompt_version, request_model, hour);

CREATE TABLE IF NOT EXISTS metrics_1h_staging AS metrics_1h;

CREATE TABLE IF NOT EXISTS metrics_1d
(
    environment String,
    service String,
    prompt_name String,
    prompt_version String,
    request_model String,
    day Date,
    requests_state AggregateFunction(sum, UInt64),
    successes_state AggregateFunction(sum, UInt64),
    errors_state AggregateFunction(sum, UInt64),
    latency_sum_state AggregateFunction(sum, Float64),
    latency_max_state AggregateFunction(max, Float64),
    latency_quantiles_state AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64),
    input_tokens_state AggregateFunction(sum, UInt64),
    output_tokens_state AggregateFunction(sum, UInt64),
    cost_state AggregateFunction(sum, Float64),
    quality_sum_state AggregateFunction(sum, Float64),
    quality_count_state AggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (environment, service, prompt_name, prompt_version, request_model, day);

CREATE TABLE IF NOT EXISTS metrics_1d_staging AS metrics_1d;

-- Which days the rollup job built, from which version of the minute windows (their newest emitted_at).
CREATE TABLE IF NOT EXISTS rollup_log
(
    day Date,
    source_emitted_at DateTime,
    rolled_at DateTime
)
ENGINE = ReplacingMergeTree(rolled_at)
ORDER BY day;

-- Health per series and hour from the rollups (percentiles: t-digest over the raw calls of the hour).
CREATE VIEW IF NOT EXISTS v_health_1h AS
SELECT
    environment, service, prompt_name, prompt_version, request_model, hour,
    sumMerge(requests_state) AS requests,
    sumMerge(successes_state) / requests AS success_rate,
    sumMerge(errors_state) / requests AS error_rate,
    sumMerge(latency_sum_state) / requests AS latency_mean_ms,
    quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_quantiles_state) AS latency_quantiles_ms,
    latency_quantiles_ms[1] AS latency_p50_ms,
    latency_quantiles_ms[2] AS latency_p95_ms,
    latency_quantiles_ms[3] AS latency_p99_ms,
    maxMerge(latency_max_state) AS latency_max_ms,
    sumMerge(input_tokens_state) AS input_tokens_total,
    sumMerge(output_tokens_state) AS output_tokens_total,
    sumMerge(cost_state) AS cost_total_usd,
    cost_total_usd / requests AS cost_per_call_usd,
    if(sumMerge(quality_count_state) = 0, nan, sumMerge(quality_sum_state) / sumMerge(quality_count_state)) AS quality_mean
FROM metrics_1h
GROUP BY environment, service, prompt_name, prompt_version, request_model, hour;

-- Health per series and day from the rollups, for ranges of months.
CREATE VIEW IF NOT EXISTS v_health_1d AS
SELECT
    environment, service, prompt_name, prompt_version, request_model, day,
    sumMerge(requests_state) AS requests,
    sumMerge(successes_state) / requests AS success_rate,
    sumMerge(errors_state) / requests AS error_rate,
    sumMerge(latency_sum_state) / requests AS latency_mean_ms,
    quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_quantiles_state) AS latency_quantiles_ms,
    latency_quantiles_ms[1] AS latency_p50_ms,
    latency_quantiles_ms[2] AS latency_p95_ms,
    latency_quantiles_ms[3] AS latency_p99_ms,
    maxMerge(latency_max_state) AS latency_max_ms,
    sumMerge(input_tokens_state) AS input_tokens_total,
    sumMerge(output_tokens_state) AS output_tokens_total,
    sumMerge(cost_state) AS cost_total_usd,
    cost_total_usd / requests AS cost_per_call_usd,
    if(sumMerge(quality_count_state) = 0, nan, sumMerge(quality_sum_state) / sumMerge(quality_count_state)) AS quality_mean
FROM metrics_1d
GROUP BY environment, service, prompt_name, prompt_version, request_model, day;
