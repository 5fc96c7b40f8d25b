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
        if (call.OccurredAt > now + maxFuture) return $"occurred_at: {call.OccurredAt:O} is more than {Durations.Format(maxFuture)} in the future";
        if (call.OccurredAt < now - maxPast) return $"occurred_at: {call.OccurredAt:O} is more than {Durations.Format(maxPast)} in the past";
        var unix = call.OccurredAt.ToUnixTimeSeconds();
        if (unix < FieldBounds.MinEventUnixSeconds || unix >= FieldBounds.MaxEventUnixSeconds) return $"occurred_at: {call.OccurredAt:O} is outside 1970..2100";
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
            ?? InRange("latency_ms", call.LatencyMs, FieldBounds.MaxDurationMs)
            ?? InRange("time_to_first_token_ms", call.TimeToFirstTokenMs, FieldBounds.MaxDurationMs)
            ?? InRange("cost_usd", call.CostUsd, FieldBounds.MaxCostUsd)
            ?? Tokens("input_tokens", call.InputTokens)
            ?? Tokens("output_tokens", call.OutputTokens)
            ?? Tokens("cached_input_tokens", call.CachedInputTokens)
            ?? (call.RetryCount is < 0 or > FieldBounds.MaxRetryCount ? $"retry_count: {call.RetryCount} is outside 0..{FieldBounds.MaxRetryCount}" : null)
            ?? (call.HttpStatus is { } h && h is < FieldBounds.MinHttpStatus or > FieldBounds.MaxHttpStatus ? $"http_status: {h} is outside {FieldBounds.MinHttpStatus}..{FieldBounds.MaxHttpStatus}" : null)
            ?? (call.QualityScore is { } q && !(q >= 0 && q <= 1) ? $"quality_score: {q} is outside 0..1" : null)
            ?? (!(call.SampleRate >= FieldBounds.MinSampleRate && call.SampleRate <= 1) ? $"sample_rate: {call.SampleRate} is outside [{FieldBounds.MinSampleRate}, 1]" : null)
            ?? (call.ErrorType is { } et && !Enum.IsDefined(et) ? $"error_type: {(int)et} is not a known type" : null)
            ?? (!Enum.IsDefined(call.Outcome) ? $"outcome: {(int)call.Outcome} is not SUCCESS or ERROR" : null)
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

    private static string? InRange(string field, double? value, double max) =>
        value is { } v && !(v >= 0 && v <= max) ? $"{field}: {v} is outside 0..{max}" : null;

    private static string? Tokens(string field, long? value) =>
        value is { } v && v is < 0 or > FieldBounds.MaxTokens ? $"{field}: {v} is outside 0..{FieldBounds.MaxTokens}" : null;

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
            var bad = Name("stages.name", s.Name) ?? InRange($"stages[{Truncate(s.Name)}].duration_ms", s.DurationMs, FieldBounds.MaxDurationMs)
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
            var bad = Name("custom key", k) ?? (Math.Abs(v) <= FieldBounds.MaxCustomMagnitude ? null : $"custom[{Truncate(k)}]: {v} is outside ±{FieldBounds.MaxCustomMagnitude}");
            if (bad is not null) return bad;
        }
        return null;
    }

    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
