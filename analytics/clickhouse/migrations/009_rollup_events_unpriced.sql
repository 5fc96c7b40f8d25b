-- The dashboard reads long ranges from the rollups, which must then say what the minute windows say:
-- how many events were sampled (events < calls: an estimate) and how many calls had no price (a cost of
-- nothing known is not $0). Appended to the rollups and their staging tables alike (REPLACE PARTITION needs
-- one structure); days rolled up before this read 0 for both until the rollup job rebuilds them.
ALTER TABLE metrics_1h ADD COLUMN events_state AggregateFunction(sum, UInt64);
ALTER TABLE metrics_1h ADD COLUMN unpriced_state AggregateFunction(sum, UInt64);
ALTER TABLE metrics_1h_staging ADD COLUMN events_state AggregateFunction(sum, UInt64);
ALTER TABLE metrics_1h_staging ADD COLUMN unpriced_state AggregateFunction(sum, UInt64);
ALTER TABLE metrics_1d ADD COLUMN events_state AggregateFunction(sum, UInt64);
ALTER TABLE metrics_1d ADD COLUMN unpriced_state AggregateFunction(sum, UInt64);
ALTER TABLE metrics_1d_staging ADD COLUMN events_state AggregateFunction(sum, UInt64);
ALTER TABLE metrics_1d_staging ADD COLUMN unpriced_state AggregateFunction(sum, UInt64);
-- Which rollup format built a day: 2 carries events and unpriced calls, so the job rebuilds format-1 days.
ALTER TABLE rollup_log ADD COLUMN format UInt8 DEFAULT 1;
