-- Raw LLM call events, one row per event_id (duplicates from at-least-once delivery collapse on merge;
-- read with FINAL, or through the views, for exact counts).
-- Runs on ClickHouse 18.16 and current versions: no DateTime64, Map, LowCardinality or TTL.
-- Optional strings are '' when absent; optional numbers are Nullable.
CREATE TABLE IF NOT EXISTS calls
(
    event_id UUID,
    occurred_at DateTime,
    occurred_at_ms UInt64,
    environment String,
    service String,
    operation String,
    provider String,
    request_model String,
    response_model String,
    prompt_name String,
    prompt_version String,
    request_id String,
    trace_id String,
    tag_keys Array(String),
    tag_values Array(String),
    latency_ms Float64,
    time_to_first_token_ms Nullable(Float64),
    input_tokens UInt64,
    output_tokens UInt64,
    cached_input_tokens Nullable(UInt64),
    cost_usd Nullable(Float64),
    outcome Enum8('SUCCESS' = 1, 'ERROR' = 2),
    error_type String,
    error_message String,
    http_status Nullable(UInt16),
    quality_score Nullable(Float64),
    retry_count UInt32,
    cache_hit UInt8,
    stage_names Array(String),
    stage_durations_ms Array(Float64),
    custom_keys Array(String),
    custom_values Array(Float64),
    sample_rate Float64,
    kafka_partition UInt32,
    kafka_offset UInt64,
    ingested_at DateTime
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(occurred_at)
ORDER BY (environment, service, prompt_name, prompt_version, request_model, occurred_at, event_id);
