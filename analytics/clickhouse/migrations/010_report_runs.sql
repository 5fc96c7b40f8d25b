-- Scheduled report runs (`pipeline reports run`, `pipeline maintain`): one row per claim of a schedule's
-- occurrence, rewritten with a higher version as the run goes (claimed, then sent or failed; resent).
-- ClickHouse has no transactions, so which worker makes a run is decided by claims (docs/reports.md):
-- a worker inserts a claim row with a random token, waits Reports:ClaimSettle, reads the occurrence back
-- with FINAL, and only the lowest token of the newest round sends. A round whose claims are older than
-- Reports:ClaimTimeout without an outcome (its worker died) is followed by round + 1.
-- state: claimed, sent, failed (delivery gave up: the dead-letter record `pipeline reports list` shows).
-- version is milliseconds, so an outcome written in the claim's second still wins.
CREATE TABLE IF NOT EXISTS report_runs
(
    schedule String,
    occurrence DateTime,
    round UInt32,
    token UInt64,
    worker String,
    kind String,
    period_from DateTime,
    period_to DateTime,
    environment String,
    service String,
    prompt String,
    recipients String,
    state String,
    attempts UInt32,
    error String,
    message_id String,
    claimed_at DateTime,
    updated_at DateTime,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(occurrence)
ORDER BY (schedule, occurrence, round, token);
