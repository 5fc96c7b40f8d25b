-- One row per closed one-minute window of one series and revision. A late event produces a higher
-- revision of the same key; ReplacingMergeTree(revision) keeps the latest, so read with FINAL.
-- Counts and sums are exact (events weighted by 1/sample_rate); percentiles come from a DDSketch
-- (1% relative error) whose serialized form (base64) is kept for merging into longer ranges.
-- A series lives in one Kafka partition: kafka_partition and min/max_offset let a restarted worker
-- resume without counting an event twice.
CREATE TABLE IF NOT EXISTS metrics_1m
(
    environment String,
    service String,
    prompt_name String,
    prompt_version String,
    request_model String,
    window_start DateTime,
    window_seconds UInt32,
    shard UInt16,
    revision UInt32,
    is_final UInt8,
    kafka_partition UInt32,
    min_offset UInt64,
    max_offset UInt64,
    calls UInt64,
    events UInt64,
    successes UInt64,
    errors UInt64,
    errors_timeout UInt64,
    errors_rate_limited UInt64,
    errors_provider UInt64,
    errors_validation UInt64,
    errors_content_filter UInt64,
    errors_client UInt64,
    errors_server UInt64,
    errors_cancelled UInt64,
    errors_other UInt64,
    latency_p50_ms Float64,
    latency_p90_ms Float64,
    latency_p95_ms Float64,
    latency_p99_ms Float64,
    latency_max_ms Float64,
    latency_sum_ms Float64,
    latency_sketch String,
    ttft_count UInt64,
    ttft_p50_ms Float64,
    ttft_p95_ms Float64,
    ttft_p99_ms Float64,
    ttft_max_ms Float64,
    ttft_sum_ms Float64,
    ttft_sketch String,
    input_tokens UInt64,
    output_tokens UInt64,
    cached_input_tokens UInt64,
    cost_usd Float64,
    priced_calls UInt64,
    unpriced_calls UInt64,
    price_version String,
    quality_sum Float64,
    quality_count UInt64,
    cache_hits UInt64,
    stage_names Array(String),
    stage_duration_sums_ms Array(Float64),
    bottleneck_stage String,
    custom_names Array(String),
    custom_sums Array(Float64),
    custom_counts Array(UInt64),
    emitted_at DateTime
)
ENGINE = ReplacingMergeTree(revision)
PARTITION BY toYYYYMM(window_start)
ORDER BY (environment, service, prompt_name, prompt_version, request_model, window_start, shard);
