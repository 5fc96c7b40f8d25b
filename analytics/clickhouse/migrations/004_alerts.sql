-- Alert state changes: one FIRING and one RESOLVED row per incident (alert_id). The alert worker
-- rebuilds its open incidents and cooldowns from here after a restart.
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id String,
    rule_id String,
    fingerprint String,
    state Enum8('FIRING' = 1, 'RESOLVED' = 2),
    severity Enum8('INFO' = 1, 'WARNING' = 2, 'ERROR' = 3, 'CRITICAL' = 4),
    environment String,
    service String,
    prompt_name String,
    prompt_version String,
    request_model String,
    metric String,
    observed Float64,
    baseline Nullable(Float64),
    threshold Float64,
    window_start DateTime,
    window_end DateTime,
    started_at DateTime,
    resolved_at Nullable(DateTime),
    summary String,
    runbook_url String,
    label_keys Array(String),
    label_values Array(String),
    recorded_at DateTime
)
ENGINE = ReplacingMergeTree(recorded_at)
PARTITION BY toYYYYMM(started_at)
ORDER BY (fingerprint, alert_id, state);
