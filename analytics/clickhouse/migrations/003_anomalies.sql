-- Robust z-score of each closed window and metric against the same series' trailing windows
-- (median and MAD of up to 60 windows, scored once at least 10 exist), with the baseline used.
-- metric: latency_p95, error_rate, traffic, cost_per_call, quality_mean.
CREATE TABLE IF NOT EXISTS anomalies
(
    environment String,
    service String,
    prompt_name String,
    prompt_version String,
    request_model String,
    window_start DateTime,
    metric String,
    value Float64,
    baseline_median Float64,
    baseline_mad Float64,
    baseline_samples UInt32,
    score Float64,
    is_anomaly UInt8,
    scored_at DateTime
)
ENGINE = ReplacingMergeTree(scored_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (environment, service, prompt_name, prompt_version, request_model, window_start, metric);
