-- Acknowledgements and silences (`pipeline alerts ack|silence|unsilence`), re-read by every alert worker.
-- A silence keeps alerts evaluated and recorded but sends no webhook and no re-notify record for a matching
-- series while it is active; an acknowledgement stops the re-notification of one incident (alert_id).
--
-- alert_acks: one row per acknowledged incident; acking again replaces it (the highest version wins).
CREATE TABLE IF NOT EXISTS alert_acks
(
    alert_id String,
    fingerprint String,
    rule_id String,
    acked_by String,
    acked_at DateTime,
    note String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY alert_id;

-- alert_silences: one row per silence; `unsilence` writes it again with ends_at moved to now and a higher
-- version. Matchers are parallel arrays of key (environment, service, prompt, version, model, rule) and value,
-- every one of which must match exactly. version is milliseconds, so an unsilence in the same second still wins.
CREATE TABLE IF NOT EXISTS alert_silences
(
    silence_id String,
    matcher_keys Array(String),
    matcher_values Array(String),
    starts_at DateTime,
    ends_at DateTime,
    created_by String,
    reason String,
    created_at DateTime,
    ended_by String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY silence_id;

-- The alert record's new optional fields (alert.avsc version 2): the silence that matched it, and its
-- acknowledgement. One statement, last, because 18.16 has no ADD COLUMN IF NOT EXISTS: the statements above
-- may run again after an interrupted migration, this one runs once, right before the migration is recorded.
ALTER TABLE alerts
    ADD COLUMN silence_id String DEFAULT '',
    ADD COLUMN acked_by String DEFAULT '',
    ADD COLUMN acked_at Nullable(DateTime),
    ADD COLUMN ack_note String DEFAULT '';
