-- A/B analysis of the versions of one prompt (edit the prompt name): success rates with a two-proportion
-- z statistic against the most used version (|z| > 1.96: significant at 95%), latency and cost per call.
-- Output: prompt_version, calls, success_rate, latency_mean_ms, cost_per_call_usd, control_calls,
--         control_success_rate, z_vs_control.
SELECT
    prompt_version,
    sum(calls) AS calls,
    sum(successes) AS successes,
    successes / calls AS success_rate,
    sum(latency_sum_ms) / calls AS latency_mean_ms,
    sum(cost_usd) / calls AS cost_per_call_usd,
    (SELECT max(c) FROM (SELECT sum(calls) AS c FROM metrics_1m FINAL WHERE prompt_name = 'support_answer' GROUP BY prompt_version)) AS control_calls,
    (SELECT argMax(s / c, c) FROM (SELECT sum(calls) AS c, sum(successes) AS s FROM metrics_1m FINAL WHERE prompt_name = 'support_answer' GROUP BY prompt_version)) AS control_success_rate,
    (successes + control_success_rate * control_calls) / (calls + control_calls) AS pooled,
    (success_rate - control_success_rate) / sqrt(pooled * (1 - pooled) * (1 / calls + 1 / control_calls) + 1e-12) AS z_vs_control
FROM metrics_1m FINAL
WHERE prompt_name = 'support_answer'
GROUP BY prompt_version
ORDER BY calls DESC
