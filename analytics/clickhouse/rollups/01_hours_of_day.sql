-- Rebuilds the hourly rollups of one day ({day}: 'YYYY-MM-DD', {partition}: YYYYMMDD) into metrics_1h_staging.
-- Sums come from the minute windows (exact, priced), percentiles from the raw calls of each hour.
-- The job then swaps the partition into metrics_1h (or, when the day has no windows, drops it: current
-- ClickHouse refuses REPLACE PARTITION from an empty source). Positional INSERT: aliases differ from the columns
-- they aggregate, which ClickHouse 18.16 requires.
ALTER TABLE metrics_1h_staging DROP PARTITION {partition};
INSERT INTO metrics_1h_staging
SELECT environment, service, prompt_name, prompt_version, request_model, hour,
    s_requests, s_successes, s_errors, s_latency_sum, s_latency_max, s_quantiles,
    s_input_tokens, s_output_tokens, s_cost, s_quality_sum, s_quality_count, s_events, s_unpriced
FROM
(
    SELECT environment, service, prompt_name, prompt_version, request_model, toStartOfHour(window_start) AS hour,
        sumState(calls) AS s_requests, sumState(successes) AS s_successes, sumState(errors) AS s_errors,
        sumState(latency_sum_ms) AS s_latency_sum, maxState(latency_max_ms) AS s_latency_max,
        sumState(input_tokens) AS s_input_tokens, sumState(output_tokens) AS s_output_tokens, sumState(cost_usd) AS s_cost,
        sumState(quality_sum) AS s_quality_sum, sumState(quality_count) AS s_quality_count,
        sumState(events) AS s_events, sumState(unpriced_calls) AS s_unpriced
    FROM metrics_1m FINAL
    WHERE window_start >= toDateTime('{day} 00:00:00') AND window_start < toDateTime('{day} 00:00:00') + 86400
    GROUP BY environment, service, prompt_name, prompt_version, request_model, hour
) AS minutes
ANY LEFT JOIN
(
    SELECT environment, service, prompt_name, prompt_version, request_model, toStartOfHour(occurred_at) AS hour,
        quantilesTDigestState(0.5, 0.95, 0.99)(latency_ms) AS s_quantiles
    FROM calls FINAL
    WHERE occurred_at >= toDateTime('{day} 00:00:00') AND occurred_at < toDateTime('{day} 00:00:00') + 86400
    GROUP BY environment, service, prompt_name, prompt_version, request_model, hour
) AS raw USING (environment, service, prompt_name, prompt_version, request_model, hour);
ALTER TABLE metrics_1h REPLACE PARTITION {partition} FROM metrics_1h_staging;
ALTER TABLE metrics_1h_staging DROP PARTITION {partition};
