-- Degradation against a baseline: the last hour of each series against the 24 hours before it.
-- Output: prompt_name, prompt_version, request_model, calls_now, latency_mean_now_ms, latency_mean_base_ms,
--         latency_ratio, error_rate_now, error_rate_base (ratio > 1.2 is the slow-degradation signal).
SELECT
    prompt_name, prompt_version, request_model,
    sumIf(calls, window_start >= now() - 3600) AS calls_now,
    sumIf(latency_sum_ms, window_start >= now() - 3600) / calls_now AS latency_mean_now_ms,
    sumIf(latency_sum_ms, window_start < now() - 3600) / sumIf(calls, window_start < now() - 3600) AS latency_mean_base_ms,
    latency_mean_now_ms / latency_mean_base_ms AS latency_ratio,
    sumIf(errors, window_start >= now() - 3600) / calls_now AS error_rate_now,
    sumIf(errors, window_start < now() - 3600) / sumIf(calls, window_start < now() - 3600) AS error_rate_base
FROM metrics_1m FINAL
WHERE window_start >= now() - 25 * 3600
GROUP BY prompt_name, prompt_version, request_model
HAVING calls_now > 0
ORDER BY latency_ratio DESC
