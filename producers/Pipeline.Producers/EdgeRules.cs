using Pipeline.Schemas;

namespace Pipeline.Producers;

/// <summary>What the SDK did with a tracked call at the edge.</summary>
/// <param name="Call">The call to send (possibly clamped), or null when it was rejected.</param>
/// <param name="RejectReason">Why the call was rejected, naming the field.</param>
/// <param name="Clamped">How many fields were changed: clamped, truncated, cleaned or dropped (a data problem worth counting).</param>
/// <param name="Filled">How many missing fields took a default (environment, service, event id): expected, not counted as clamped.</param>
public readonly record struct EdgeResult(LlmCall? Call, string? RejectReason, int Clamped, int Filled = 0);

/// <summary>
/// The rules applied to every tracked call before it leaves the caller's process, so that what reaches
/// Kafka passes <see cref="LlmCallValidator"/> (except event-time bounds, judged by the consumer).
/// <list type="bullet">
/// <item>Rejected (not sent, counted): empty prompt name, prompt version, operation, provider or request
/// model; latency that is negative, NaN or infinite; negative token counts.</item>
/// <item>Filled (sent, not counted as clamped): missing environment or service take the configured defaults;
/// an empty event id gets a new one.</item>
/// <item>Clamped (sent, counted): names and tags are truncated to their caps and control characters replaced
/// by U+FFFD; error messages truncated; tags beyond the cap dropped (last by key order); cost, time to first
/// token and stage durations that are negative or not finite are dropped; quality scores outside 0..1 are
/// clamped (NaN dropped); custom metrics that are not finite dropped; an invalid sample rate becomes 1.</item>
/// </list>
/// </summary>
public static class EdgeRules
{
    /// <summary>Applies the rules with the caps and defaults of <paramref name="options"/>.</summary>
    public static EdgeResult Apply(LlmCall call, ProducerOptions options)
    {
        ArgumentNullException.ThrowIfNull(call);
        ArgumentNullException.ThrowIfNull(options);
        var reason = Required("prompt_name", call.PromptName) ?? Required("prompt_version", call.PromptVersion)
            ?? Required("operation", call.Operation) ?? Required("provider", call.Provider) ?? Required("request_model", call.RequestModel)
            ?? (call.LatencyMs is >= 0 and <= FieldBounds.MaxDurationMs ? null : $"latency_ms: {call.LatencyMs} is outside 0..{FieldBounds.MaxDurationMs}")
            ?? (call.InputTokens is < 0 or > FieldBounds.MaxTokens ? $"input_tokens: {call.InputTokens} is outside 0..{FieldBounds.MaxTokens}" : null)
            ?? (call.OutputTokens is < 0 or > FieldBounds.MaxTokens ? $"output_tokens: {call.OutputTokens} is outside 0..{FieldBounds.MaxTokens}" : null);
        if (reason is not null) return new EdgeResult(null, reason, 0);

        var clamp = new Clamp(options);
        var environment = string.IsNullOrWhiteSpace(call.Environment) ? clamp.Default(options.DefaultEnvironment ?? "default") : clamp.Name(call.Environment);
        var service = string.IsNullOrWhiteSpace(call.Service) ? clamp.Default(options.DefaultService ?? "unknown") : clamp.Name(call.Service);
        var eventId = call.EventId == Guid.Empty ? clamp.Default(Guid.NewGuid()) : call.EventId;
        var operation = clamp.Name(call.Operation);
        var provider = clamp.Name(call.Provider);
        var requestModel = clamp.Name(call.RequestModel);
        var responseModel = clamp.OptionalName(call.ResponseModel);
        var promptName = clamp.Name(call.PromptName);
        var promptVersion = clamp.Name(call.PromptVersion);
        var requestId = clamp.OptionalName(call.RequestId);
        var traceId = clamp.OptionalName(call.TraceId);
        var tags = clamp.Map(call.Tags, options.MaxTags);
        var ttft = clamp.InRange(call.TimeToFirstTokenMs, FieldBounds.MaxDurationMs);
        var cost = clamp.InRange(call.CostUsd, FieldBounds.MaxCostUsd);
        var cached = call.CachedInputTokens is < 0 or > FieldBounds.MaxTokens ? clamp.Fill<long?>(null) : call.CachedInputTokens;
        var retries = call.RetryCount < 0 ? clamp.Fill(0) : call.RetryCount > FieldBounds.MaxRetryCount ? clamp.Fill(FieldBounds.MaxRetryCount) : call.RetryCount;
        var httpStatus = call.HttpStatus is { } h && h is < FieldBounds.MinHttpStatus or > FieldBounds.MaxHttpStatus ? clamp.Fill<int?>(null) : call.HttpStatus;
        var errorMessage = call.ErrorMessage is { } m && m.Length > options.MaxErrorMessageLength ? clamp.Fill(m[..options.MaxErrorMessageLength]) : call.ErrorMessage;
        var quality = call.QualityScore switch
        {
            null => null,
            double q when double.IsNaN(q) => clamp.Fill<double?>(null),
            double q when q is < 0 or > 1 => clamp.Fill<double?>(Math.Clamp(q, 0, 1)),
            var q => q,
        };
        var sampleRate = call.SampleRate switch
        {
            >= FieldBounds.MinSampleRate and <= 1 => call.SampleRate,
            > 0 and < FieldBounds.MinSampleRate => clamp.Fill(FieldBounds.MinSampleRate),
            _ => clamp.Fill(1.0),
        };
        var stages = clamp.Stages(call.Stages, options.MaxTags);
        var custom = clamp.Custom(call.Custom);
        // The common case, a valid call, passes as it is: no copy.
        if (clamp.Count == 0 && clamp.Filled == 0) return new EdgeResult(call, null, 0);
        var result = call with
        {
            EventId = eventId, Environment = environment, Service = service, Operation = operation, Provider = provider,
            RequestModel = requestModel, ResponseModel = responseModel, PromptName = promptName, PromptVersion = promptVersion,
            RequestId = requestId, TraceId = traceId, Tags = tags, TimeToFirstTokenMs = ttft, CostUsd = cost,
            CachedInputTokens = cached, RetryCount = retries, ErrorMessage = errorMessage, QualityScore = quality,
            SampleRate = sampleRate, Stages = stages, Custom = custom, HttpStatus = httpStatus,
        };
        return new EdgeResult(result, null, clamp.Count, clamp.Filled);
    }

    private static string? Required(string field, string? value) => string.IsNullOrWhiteSpace(value) ? $"{field}: empty" : null;

    private sealed class Clamp(ProducerOptions options)
    {
        public int Count { get; private set; }
        public int Filled { get; private set; }

        public T Default<T>(T value)
        {
            Filled++;
            return value;
        }

        public T Fill<T>(T value)
        {
            Count++;
            return value;
        }

        public string Name(string value)
        {
            var cleaned = Clean(value, options.MaxNameLength);
            if (!ReferenceEquals(cleaned, value)) Count++;
            return cleaned;
        }

        public string? OptionalName(string? value) => value is null ? null : Name(value);

        public double? InRange(double? value, double max) => value is { } v && !(v >= 0 && v <= max) ? Fill<double?>(null) : value;

        public IReadOnlyDictionary<string, string> Map(IReadOnlyDictionary<string, string> map, int max)
        {
            if (map.Count == 0 || map.Count <= max && map.All(p => !string.IsNullOrWhiteSpace(p.Key) && IsClean(p.Key, options.MaxNameLength) && p.Value is not null && IsClean(p.Value, options.MaxNameLength)))
            {
                return map;
            }
            var changed = map.Count > max;
            var result = new Dictionary<string, string>(Math.Min(map.Count, max), StringComparer.Ordinal);
            foreach (var (k, v) in map.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                if (string.IsNullOrWhiteSpace(k))
                {
                    changed = true;
                    continue;
                }
                if (result.Count == max) break;
                var key = Clean(k, options.MaxNameLength);
                var value = Clean(v ?? "", options.MaxNameLength);
                changed |= !ReferenceEquals(key, k) || !ReferenceEquals(value, v);
                if (!result.TryAdd(key, value)) changed = true;
            }
            if (!changed) return map;
            Count++;
            return result;
        }

        public IReadOnlyList<Stage> Stages(IReadOnlyList<Stage> stages, int maxAttributes)
        {
            if (stages.Count == 0) return stages;
            if (stages.Count <= LlmCallValidator.MaxStages && stages.All(s => s is not null && !string.IsNullOrWhiteSpace(s.Name) && s.DurationMs is >= 0 and <= FieldBounds.MaxDurationMs
                && IsClean(s.Name, options.MaxNameLength) && ReferenceEquals(Map(s.Attributes, maxAttributes), s.Attributes)))
            {
                return stages;
            }
            var result = new List<Stage>(Math.Min(stages.Count, LlmCallValidator.MaxStages));
            var changed = stages.Count > LlmCallValidator.MaxStages;
            foreach (var s in stages.Take(LlmCallValidator.MaxStages))
            {
                if (s is null || string.IsNullOrWhiteSpace(s.Name) || s.DurationMs is not (>= 0 and <= FieldBounds.MaxDurationMs))
                {
                    changed = true;
                    continue;
                }
                var before = Count;
                var stage = s with { Name = Name(s.Name), Attributes = Map(s.Attributes, maxAttributes) };
                Count = before;
                changed |= !ReferenceEquals(stage.Name, s.Name) || !ReferenceEquals(stage.Attributes, s.Attributes);
                result.Add(stage);
            }
            if (!changed) return stages;
            Count++;
            return result;
        }

        public IReadOnlyDictionary<string, double> Custom(IReadOnlyDictionary<string, double> custom)
        {
            if (custom.Count == 0 || custom.Count <= LlmCallValidator.MaxMapEntries && custom.All(p => !string.IsNullOrWhiteSpace(p.Key) && IsClean(p.Key, options.MaxNameLength) && Math.Abs(p.Value) <= FieldBounds.MaxCustomMagnitude))
            {
                return custom;
            }
            var result = new Dictionary<string, double>(StringComparer.Ordinal);
            var changed = custom.Count > LlmCallValidator.MaxMapEntries;
            foreach (var (k, v) in custom.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                if (string.IsNullOrWhiteSpace(k) || !(Math.Abs(v) <= FieldBounds.MaxCustomMagnitude))
                {
                    changed = true;
                    continue;
                }
                if (result.Count == LlmCallValidator.MaxMapEntries) break;
                var key = Clean(k, options.MaxNameLength);
                changed |= !ReferenceEquals(key, k);
                if (!result.TryAdd(key, v)) changed = true;
            }
            if (!changed) return custom;
            Count++;
            return result;
        }

        private static bool IsClean(string value, int max) => value.Length <= max && !value.AsSpan().ContainsAnyInRange('\u0000', '\u001f') && !value.AsSpan().ContainsAnyInRange('\u007f', '\u009f');

        // Returns the same instance when nothing changes, so the common case allocates nothing.
        private static string Clean(string value, int max)
        {
            if (IsClean(value, max)) return value;
            var truncated = value.Length > max ? value[..max] : value;
            // Never cut a surrogate pair in half.
            if (truncated.Length > 0 && char.IsHighSurrogate(truncated[^1])) truncated = truncated[..^1];
            return string.Create(truncated.Length, truncated, static (span, s) =>
            {
                for (var i = 0; i < s.Length; i++) span[i] = char.IsControl(s[i]) ? '\uFFFD' : s[i];
            });
        }
    }
}
