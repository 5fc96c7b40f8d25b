-- Rebuilds the daily rollups of one month ({month}: YYYYMM) from the hourly ones, then swaps the
-- partition into metrics_1d. -MergeState merges hourly states into daily states without losing them.
ALTER TABLE metrics_1d_staging DROP PARTITION {month};
INSERT INTO metrics_1d_staging
SELECT environment, service, prompt_name, prompt_version, request_model, toDate(hour) AS d,
    sumMergeState(requests_state), sumMergeState(successes_state), sumMergeState(errors_state),
    sumMergeState(latency_sum_state), maxMergeState(latency_max_state),
    quantilesTDigestMergeState(0.5, 0.95, 0.99)(latency_quantiles_state),
    sumMergeState(input_tokens_state), sumMergeState(output_tokens_state), sumMergeState(cost_state),
    sumMergeState(quality_sum_state), sumMergeState(quality_count_state),
    sumMergeState(events_state), sumMergeState(unpriced_state)
FROM metrics_1h
WHERE toYYYYMM(hour) = {month}
GROUP BY environment, service, prompt_name, prompt_version, request_model, d;
ALTER TABLE metrics_1d REPLACE PARTITION {month} FROM metrics_1d_staging;
ALTER TABLE metrics_1d_staging DROP PARTITION {month};
