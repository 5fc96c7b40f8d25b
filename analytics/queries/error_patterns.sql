-- Error patterns: the most frequent error types and messages of the last 24 hours, per prompt version.
-- Output: prompt_name, prompt_version, error_type, error_message, errors, share_of_calls, first_seen, last_seen.
SELECT
    prompt_name, prompt_version, error_type, error_message,
    count() AS errors,
    errors / (SELECT count() FROM calls FINAL WHERE occurred_at >= now() - 86400) AS share_of_calls,
    min(occurred_at) AS first_seen,
    max(occurred_at) AS last_seen
FROM calls FINAL
WHERE outcome = 'ERROR' AND occurred_at >= now() - 86400
GROUP BY prompt_name, prompt_version, error_type, error_message
ORDER BY errors DESC
LIMIT 50
