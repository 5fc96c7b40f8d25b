-- alert_ack_log: every acknowledgement of an incident (`pipeline alerts ack`), kept. alert_acks still holds
-- the latest one per incident (what workers apply); this table is the history (`pipeline alerts show`,
-- `alerts list --json`). version is milliseconds: a retried insert of the same ack collapses under FINAL,
-- two acks of one incident stay two.
CREATE TABLE IF NOT EXISTS alert_ack_log
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
ORDER BY (alert_id, version);

-- The acknowledgements made before this migration start the history (re-running it adds nothing under FINAL).
INSERT INTO alert_ack_log (alert_id, fingerprint, rule_id, acked_by, acked_at, note, version)
SELECT alert_id, fingerprint, rule_id, acked_by, acked_at, note, version FROM alert_acks FINAL;

-- The alert record's new optional field (alert.avsc version 3): the open incident of a related rule that
-- inhibited it. Last, because 18.16 has no ADD COLUMN IF NOT EXISTS (see 007).
ALTER TABLE alerts ADD COLUMN inhibited_by String DEFAULT '';
