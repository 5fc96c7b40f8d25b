-- Daily health check: every prompt version's last 24 hours, worst first.
-- Output: prompt_name, prompt_version, request_model, requests, success_rate, latency_mean_ms,
--         latency_p95_worst_minute_ms, cost_total_usd, quality_mean, status ('red' | 'yellow' | 'green').
SELECT
    prompt_name, prompt_version, request_model,
    sum(calls) AS requests,
    sum(successes) / sum(calls) AS success_rate,
    sum(latency_sum_ms) / sum(calls) AS latency_mean_ms,
    max(latency_p95_ms) AS latency_p95_worst_minute_ms,
    sum(cost_usd) AS cost_total_usd,
    if(sum(quality_count) = 0, nan, sum(quality_sum) / sum(quality_count)) AS quality_mean,
    multiIf(success_rate < 0.95 OR latency_mean_ms > 1000 OR quality_mean < 0.8, 'red',
            success_rate < 0.98 OR latency_mean_ms > 500 OR quality_mean < 0.9, 'yellow', 'green') AS status
FROM metrics_1m FINAL
WHERE window_start >= now() - 86400
GROUP BY prompt_name, prompt_version, request_model
ORDER BY status = 'red' DESC, status = 'yellow' DESC, requests DESC
