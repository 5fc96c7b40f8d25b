using Pipeline.Schemas;

namespace Pipeline.Producers;

/// <summary>What the SDK did with a tracked call at the edge.</summary>
/// <param name="Call">The call to send (possibly clamped), or null when it was rejected.</param>
/// <param name="RejectReason">Why the call was rejected, naming the field.</param>
/// <param name="Clamped">How many fields were clamped, truncated or filled in.</param>
public readonly record struct EdgeResult(LlmCall? Call, string? RejectReason, int Clamped);

/// <summary>
/// The rules applied to every tracked call before it leaves the caller's process, so that what reaches
/// Kafka passes <see cref="LlmCallValidator"/> (except event-time bounds, judged by the consumer).
/// <list type="bullet">
/// <item>Rejected (not sent, counted): empty prompt name, prompt version, operation, provider or request
/// model; latency that is negative, NaN or infinite; negative token counts.</item>
/// <item>Clamped (sent, counted): missing environment or service take the configured defaults; an empty
/// event id gets a new one; names and tags are truncated to their caps and control characters replaced
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
            ?? (double.IsFinite(call.LatencyMs) && call.LatencyMs >= 0 ? null : $"latency_ms: {call.LatencyMs} is not a finite non-negative number")
            ?? (call.InputTokens < 0 ? $"input_tokens: {call.InputTokens} is negative" : null)
            ?? (call.OutputTokens < 0 ? $"output_tokens: {call.OutputTokens} is negative" : null);
        if (reason is not null) return new EdgeResult(null, reason, 0);

        var clamp = new Clamp(options);
        var environment = string.IsNullOrWhiteSpace(call.Environment) ? clamp.Fill(options.DefaultEnvironment ?? "default") : clamp.Name(call.Environment);
        var service = string.IsNullOrWhiteSpace(call.Service) ? clamp.Fill(options.DefaultService ?? "unknown") : clamp.Name(call.Service);
        var result = call with
        {
            EventId = call.EventId == Guid.Empty ? clamp.Fill(Guid.NewGuid()) : call.EventId,
            Environment = environment,
            Service = service,
            Operation = clamp.Name(call.Operation),
            Provider = clamp.Name(call.Provider),
            RequestModel = clamp.Name(call.RequestModel),
            ResponseModel = clamp.OptionalName(call.ResponseModel),
            PromptName = clamp.Name(call.PromptName),
            PromptVersion = clamp.Name(call.PromptVersion),
            RequestId = clamp.OptionalName(call.RequestId),
            TraceId = clamp.OptionalName(call.TraceId),
            Tags = clamp.Map(call.Tags, options.MaxTags),
            TimeToFirstTokenMs = clamp.NonNegative(call.TimeToFirstTokenMs),
            CostUsd = clamp.NonNegative(call.CostUsd),
            CachedInputTokens = call.CachedInputTokens < 0 ? clamp.Fill<long?>(null) : call.CachedInputTokens,
            RetryCount = call.RetryCount < 0 ? clamp.Fill(0) : call.RetryCount,
            ErrorMessage = call.ErrorMessage is { } m && m.Length > options.MaxErrorMessageLength ? clamp.Fill(m[..options.MaxErrorMessageLength]) : call.ErrorMessage,
            QualityScore = call.QualityScore switch
            {
                null => null,
                double q when double.IsNaN(q) => clamp.Fill<double?>(null),
                double q when q is < 0 or > 1 => clamp.Fill<double?>(Math.Clamp(q, 0, 1)),
                var q => q,
            },
            SampleRate = call.SampleRate is > 0 and <= 1 ? call.SampleRate : clamp.Fill(1.0),
            Stages = clamp.Stages(call.Stages, options.MaxTags),
            Custom = clamp.Custom(call.Custom),
        };
        return new EdgeResult(result, null, clamp.Count);
    }

    private static string? Required(string field, string? value) => string.IsNullOrWhiteSpace(value) ? $"{field}: empty" : null;

    private sealed class Clamp(ProducerOptions options)
    {
        public int Count { get; private set; }

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

        public double? NonNegative(double? value) => value is { } v && !(double.IsFinite(v) && v >= 0) ? Fill<double?>(null) : value;

        public IReadOnlyDictionary<string, string> Map(IReadOnlyDictionary<string, string> map, int max)
        {
            if (map.Count == 0) return map;
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
            var result = new List<Stage>(Math.Min(stages.Count, LlmCallValidator.MaxStages));
            var changed = stages.Count > LlmCallValidator.MaxStages;
            foreach (var s in stages.Take(LlmCallValidator.MaxStages))
            {
                if (s is null || string.IsNullOrWhiteSpace(s.Name) || !(double.IsFinite(s.DurationMs) && s.DurationMs >= 0))
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
            if (custom.Count == 0) return custom;
            var result = new Dictionary<string, double>(StringComparer.Ordinal);
            var changed = custom.Count > LlmCallValidator.MaxMapEntries;
            foreach (var (k, v) in custom.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                if (string.IsNullOrWhiteSpace(k) || !double.IsFinite(v))
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

        // Returns the same instance when nothing changes, so the common case allocates nothing.
        private static string Clean(string value, int max)
        {
            var needs = value.Length > max;
            if (!needs)
            {
                foreach (var ch in value)
                {
                    if (char.IsControl(ch))
                    {
                        needs = true;
                        break;
                    }
                }
            }
            if (!needs) return value;
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
