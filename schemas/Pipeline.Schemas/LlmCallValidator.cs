namespace Pipeline.Schemas;

/// <summary>
/// Field rules an event must meet before it is counted. A failing event is not dropped: the
/// consumer sends it to the dead-letter topic with the reason this returns.
/// </summary>
public static class LlmCallValidator
{
    /// <summary>Longest accepted name (environment, service, prompt, model, ...), in UTF-16 units.</summary>
    public const int MaxNameLength = 256;
    /// <summary>Most tags, stage attributes or custom metrics accepted on one event.</summary>
    public const int MaxMapEntries = 64;
    /// <summary>Longest accepted error message; the SDK truncates to this.</summary>
    public const int MaxErrorMessageLength = 1024;
    /// <summary>Most stages accepted on one event.</summary>
    public const int MaxStages = 32;

    /// <summary>
    /// Returns null when the event is acceptable, else a one-line reason naming the field.
    /// <paramref name="now"/> bounds event time: at most <paramref name="maxFuture"/> ahead and <paramref name="maxPast"/> behind.
    /// </summary>
    public static string? Validate(LlmCall call, DateTimeOffset now, TimeSpan maxPast, TimeSpan maxFuture)
    {
        ArgumentNullException.ThrowIfNull(call);
        if (call.EventId == Guid.Empty) return "event_id: empty UUID";
        if (call.OccurredAt > now + maxFuture) return $"occurred_at: {call.OccurredAt:O} is more than {maxFuture} in the future";
        if (call.OccurredAt < now - maxPast) return $"occurred_at: {call.OccurredAt:O} is more than {maxPast} in the past";
        return Name("environment", call.Environment)
            ?? Name("service", call.Service)
            ?? Name("operation", call.Operation)
            ?? Name("provider", call.Provider)
            ?? Name("request_model", call.RequestModel)
            ?? Name("prompt_name", call.PromptName)
            ?? Name("prompt_version", call.PromptVersion)
            ?? OptionalName("response_model", call.ResponseModel)
            ?? OptionalName("request_id", call.RequestId)
            ?? OptionalName("trace_id", call.TraceId)
            ?? NonNegative("latency_ms", call.LatencyMs)
            ?? NonNegative("time_to_first_token_ms", call.TimeToFirstTokenMs)
            ?? NonNegative("cost_usd", call.CostUsd)
            ?? (call.InputTokens < 0 ? "input_tokens: negative" : null)
            ?? (call.OutputTokens < 0 ? "output_tokens: negative" : null)
            ?? (call.CachedInputTokens < 0 ? "cached_input_tokens: negative" : null)
            ?? (call.RetryCount < 0 ? "retry_count: negative" : null)
            ?? (call.QualityScore is { } q && !(q >= 0 && q <= 1) ? $"quality_score: {q} is outside 0..1" : null)
            ?? (!(call.SampleRate > 0 && call.SampleRate <= 1) ? $"sample_rate: {call.SampleRate} is outside (0, 1]" : null)
            ?? (call.ErrorMessage is { Length: > MaxErrorMessageLength } ? $"error_message: longer than {MaxErrorMessageLength}" : null)
            ?? Map("tags", call.Tags)
            ?? Stages(call.Stages)
            ?? Custom(call.Custom);
    }

    private static string? Name(string field, string value) =>
        string.IsNullOrWhiteSpace(value) ? $"{field}: empty"
        : OptionalName(field, value);

    private static string? OptionalName(string field, string? value)
    {
        if (value is null) return null;
        if (value.Length > MaxNameLength) return $"{field}: longer than {MaxNameLength} characters";
        foreach (var ch in value)
        {
            if (char.IsControl(ch)) return $"{field}: contains control character U+{(int)ch:X4}";
        }
        return null;
    }

    private static string? NonNegative(string field, double? value) =>
        value is { } v && !(double.IsFinite(v) && v >= 0) ? $"{field}: {v} is not a finite non-negative number" : null;

    private static string? Map(string field, IReadOnlyDictionary<string, string> map)
    {
        if (map.Count > MaxMapEntries) return $"{field}: {map.Count} entries, at most {MaxMapEntries}";
        foreach (var (k, v) in map)
        {
            var bad = Name($"{field} key", k) ?? OptionalName($"{field}[{Truncate(k)}]", v);
            if (bad is not null) return bad;
        }
        return null;
    }

    private static string? Stages(IReadOnlyList<Stage> stages)
    {
        if (stages.Count > MaxStages) return $"stages: {stages.Count} entries, at most {MaxStages}";
        foreach (var s in stages)
        {
            var bad = Name("stages.name", s.Name) ?? NonNegative($"stages[{Truncate(s.Name)}].duration_ms", s.DurationMs)
                ?? Map($"stages[{Truncate(s.Name)}].attributes", s.Attributes);
            if (bad is not null) return bad;
        }
        return null;
    }

    private static string? Custom(IReadOnlyDictionary<string, double> custom)
    {
        if (custom.Count > MaxMapEntries) return $"custom: {custom.Count} entries, at most {MaxMapEntries}";
        foreach (var (k, v) in custom)
        {
            var bad = Name("custom key", k) ?? (double.IsFinite(v) ? null : $"custom[{Truncate(k)}]: {v} is not finite");
            if (bad is not null) return bad;
        }
        return null;
    }

    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
