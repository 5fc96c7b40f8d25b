-- Cost optimisation: where the money goes, per prompt and model, with a 30-day projection from the
-- last 7 days. Output: prompt_name, request_model, calls, tokens_per_call, cost_usd, cost_per_call_usd,
--         share_of_cost, projected_month_usd.
SELECT
    prompt_name, request_model,
    sum(calls) AS requests,
    (sum(input_tokens) + sum(output_tokens)) / sum(calls) AS tokens_per_call,
    sum(cost_usd) AS cost_total_usd,
    sum(cost_usd) / sum(calls) AS cost_per_call_usd,
    sum(cost_usd) / (SELECT sum(cost_usd) FROM metrics_1m FINAL WHERE window_start >= now() - 7 * 86400) AS share_of_cost,
    sum(cost_usd) / 7 * 30 AS projected_month_usd
FROM metrics_1m FINAL
WHERE window_start >= now() - 7 * 86400
GROUP BY prompt_name, request_model
ORDER BY cost_total_usd DESC
