-- Trends: calls, success rate, latency and cost per prompt and hour over the last 7 days.
-- Output: hour, prompt_name, requests, success_rate, latency_mean_ms, cost_total_usd.
SELECT
    toStartOfHour(window_start) AS hour,
    prompt_name,
    sum(calls) AS requests,
    sum(successes) / sum(calls) AS success_rate,
    sum(latency_sum_ms) / sum(calls) AS latency_mean_ms,
    sum(cost_usd) AS cost_total_usd
FROM metrics_1m FINAL
WHERE window_start >= now() - 7 * 86400
GROUP BY hour, prompt_name
ORDER BY hour, prompt_name
