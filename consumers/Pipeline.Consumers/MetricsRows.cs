using System.Text.Json;
using Pipeline.Aggregation;
using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>Maps closed windows to rows of <c>metrics_1m</c> (migration 002), to <see cref="WindowAggregate"/>, and back.</summary>
internal static class MetricsRows
{
    public static readonly IReadOnlyList<KeyValuePair<string, string>> Columns =
    [
        new("environment", "String"), new("service", "String"), new("prompt_name", "String"), new("prompt_version", "String"),
        new("request_model", "String"), new("window_start", "DateTime"), new("window_seconds", "UInt32"), new("shard", "UInt16"),
        new("revision", "UInt32"), new("is_final", "UInt8"), new("kafka_partition", "UInt32"), new("min_offset", "UInt64"), new("max_offset", "UInt64"),
        new("calls", "UInt64"), new("events", "UInt64"), new("successes", "UInt64"), new("errors", "UInt64"),
        new("errors_timeout", "UInt64"), new("errors_rate_limited", "UInt64"), new("errors_provider", "UInt64"), new("errors_validation", "UInt64"),
        new("errors_content_filter", "UInt64"), new("errors_client", "UInt64"), new("errors_server", "UInt64"), new("errors_cancelled", "UInt64"),
        new("errors_other", "UInt64"),
        new("latency_p50_ms", "Float64"), new("latency_p90_ms", "Float64"), new("latency_p95_ms", "Float64"), new("latency_p99_ms", "Float64"),
        new("latency_max_ms", "Float64"), new("latency_sum_ms", "Float64"), new("latency_sketch", "String"),
        new("ttft_count", "UInt64"), new("ttft_p50_ms", "Float64"), new("ttft_p95_ms", "Float64"), new("ttft_p99_ms", "Float64"),
        new("ttft_max_ms", "Float64"), new("ttft_sum_ms", "Float64"), new("ttft_sketch", "String"),
        new("input_tokens", "UInt64"), new("output_tokens", "UInt64"), new("cached_input_tokens", "UInt64"),
        new("cost_usd", "Float64"), new("priced_calls", "UInt64"), new("unpriced_calls", "UInt64"), new("price_version", "String"),
        new("quality_sum", "Float64"), new("quality_count", "UInt64"), new("cache_hits", "UInt64"),
        new("stage_names", "Array(String)"), new("stage_duration_sums_ms", "Array(Float64)"), new("bottleneck_stage", "String"),
        new("custom_names", "Array(String)"), new("custom_sums", "Array(Float64)"), new("custom_counts", "Array(UInt64)"),
        new("emitted_at", "DateTime"),
    ];

    /// <summary>Error type names in <see cref="ErrorType"/> order, as in the topic's <c>errors_by_type</c> map.</summary>
    public static readonly string[] ErrorTypeNames =
        ["TIMEOUT", "RATE_LIMITED", "PROVIDER_ERROR", "VALIDATION", "CONTENT_FILTER", "CLIENT_ERROR", "SERVER_ERROR", "CANCELLED", "OTHER"];

    private static readonly string[] ErrorColumns =
        ["errors_timeout", "errors_rate_limited", "errors_provider", "errors_validation", "errors_content_filter", "errors_client", "errors_server", "errors_cancelled", "errors_other"];

    public static object?[] ToRow(WindowState w, int revision, string priceVersion, DateTimeOffset emittedAt)
    {
        var s = w.Key.Series;
        var stages = w.StageDurations.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray();
        var custom = w.Custom.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray();
        var row = new List<object?>(Columns.Count)
        {
            s.Environment, s.Service, s.PromptName, s.PromptVersion, s.RequestModel,
            w.Key.WindowStart.UtcDateTime, (uint)w.Size.TotalSeconds, (ushort)0, (uint)revision, (byte)1,
            (uint)w.Partition, (ulong)Math.Max(0, w.MinOffset), (ulong)Math.Max(0, w.MaxOffset),
            (ulong)w.Calls, (ulong)w.Events, (ulong)w.Successes, (ulong)w.Errors,
        };
        row.AddRange(w.ErrorsByType.Select(e => (object?)(ulong)e));
        row.AddRange(
        [
            w.Latency.Quantile(0.5), w.Latency.Quantile(0.9), w.Latency.Quantile(0.95), w.Latency.Quantile(0.99),
            w.Latency.Count == 0 ? 0.0 : w.Latency.Max, w.Latency.Sum, Convert.ToBase64String(w.Latency.Serialize()),
            (ulong)w.TimeToFirstToken.Count, w.TimeToFirstToken.Quantile(0.5), w.TimeToFirstToken.Quantile(0.95), w.TimeToFirstToken.Quantile(0.99),
            w.TimeToFirstToken.Count == 0 ? 0.0 : w.TimeToFirstToken.Max, w.TimeToFirstToken.Sum, Convert.ToBase64String(w.TimeToFirstToken.Serialize()),
            (ulong)w.InputTokens, (ulong)w.OutputTokens, (ulong)w.CachedInputTokens,
            w.CostUsd, (ulong)w.PricedCalls, (ulong)w.UnpricedCalls, priceVersion,
            w.QualitySum, (ulong)w.QualityCount, (ulong)w.CacheHits,
            stages.Select(kv => kv.Key).ToArray(), stages.Select(kv => kv.Value).ToArray(), w.BottleneckStage ?? "",
            custom.Select(kv => kv.Key).ToArray(), custom.Select(kv => kv.Value.Sum).ToArray(), custom.Select(kv => (ulong)kv.Value.Count).ToArray(),
            emittedAt.UtcDateTime,
        ]);
        return [.. row];
    }

    public static WindowAggregate ToAggregate(WindowState w, int revision, string priceVersion)
    {
        var stageTotal = w.StageDurations.Values.Sum();
        return new WindowAggregate
        {
            Series = w.Key.Series,
            WindowStart = w.Key.WindowStart,
            WindowSeconds = (int)w.Size.TotalSeconds,
            Revision = revision,
            IsFinal = true,
            Calls = w.Calls,
            Events = w.Events,
            Successes = w.Successes,
            Errors = w.Errors,
            ErrorsByType = Enumerable.Range(0, WindowState.ErrorTypeCount).Where(i => w.ErrorsByType[i] > 0)
                .ToDictionary(i => ErrorTypeNames[i], i => w.ErrorsByType[i]),
            LatencyP50Ms = w.Latency.Quantile(0.5),
            LatencyP90Ms = w.Latency.Quantile(0.9),
            LatencyP95Ms = w.Latency.Quantile(0.95),
            LatencyP99Ms = w.Latency.Quantile(0.99),
            LatencyMaxMs = w.Latency.Count == 0 ? 0 : w.Latency.Max,
            LatencyMeanMs = w.Latency.Count == 0 ? 0 : w.Latency.Sum / w.Latency.Count,
            LatencySketch = w.Latency.Serialize(),
            TtftCount = w.TimeToFirstToken.Count,
            TtftP50Ms = w.TimeToFirstToken.Count == 0 ? null : w.TimeToFirstToken.Quantile(0.5),
            TtftP95Ms = w.TimeToFirstToken.Count == 0 ? null : w.TimeToFirstToken.Quantile(0.95),
            TtftP99Ms = w.TimeToFirstToken.Count == 0 ? null : w.TimeToFirstToken.Quantile(0.99),
            InputTokens = w.InputTokens,
            OutputTokens = w.OutputTokens,
            CachedInputTokens = w.CachedInputTokens,
            CostUsd = w.CostUsd,
            UnpricedCalls = w.UnpricedCalls,
            PriceVersion = priceVersion,
            QualityMean = w.QualityMean,
            QualityCount = w.QualityCount,
            StageShares = stageTotal <= 0 ? new Dictionary<string, double>() : w.StageDurations.ToDictionary(kv => kv.Key, kv => kv.Value / stageTotal),
            BottleneckStage = w.BottleneckStage,
            CustomMeans = w.Custom.Where(kv => kv.Value.Count > 0).ToDictionary(kv => kv.Key, kv => kv.Value.Sum / kv.Value.Count),
        };
    }

    /// <summary>Rebuilds a window's state from a stored <c>metrics_1m</c> row (read as JSONEachRow).</summary>
    public static WindowState FromJson(JsonElement r)
    {
        // Tolerant of what older versions stored: UInt64 beyond long.MaxValue, quoted numbers, inf and nan.
        static long L(JsonElement r, string n) => StoredInt(r.GetProperty(n));
        static double D(JsonElement r, string n) => StoredDouble(r.GetProperty(n));
        static string S(JsonElement r, string n) => r.GetProperty(n).GetString()!;
        var series = new SeriesKey(S(r, "environment"), S(r, "service"), S(r, "prompt_name"), S(r, "prompt_version"), S(r, "request_model"));
        var start = DateTimeOffset.ParseExact(S(r, "window_start"), "yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal);
        var state = new WindowState(new WindowKey(series, start), TimeSpan.FromSeconds(L(r, "window_seconds")), (int)L(r, "kafka_partition"));
        var stageNames = r.GetProperty("stage_names").EnumerateArray().Select(e => e.GetString()!).ToArray();
        var stageSums = r.GetProperty("stage_duration_sums_ms").EnumerateArray().Select(StoredDouble).ToArray();
        var customNames = r.GetProperty("custom_names").EnumerateArray().Select(e => e.GetString()!).ToArray();
        var customSums = r.GetProperty("custom_sums").EnumerateArray().Select(StoredDouble).ToArray();
        var customCounts = r.GetProperty("custom_counts").EnumerateArray().Select(StoredInt).ToArray();
        state.Restore(
            L(r, "calls"), L(r, "events"), L(r, "successes"), L(r, "errors"),
            ErrorColumns.Select(c => L(r, c)).ToArray(),
            QuantileSketch.FromStored(S(r, "latency_sketch")),
            QuantileSketch.FromStored(S(r, "ttft_sketch")),
            L(r, "input_tokens"), L(r, "output_tokens"), L(r, "cached_input_tokens"),
            D(r, "cost_usd"), L(r, "priced_calls"), L(r, "unpriced_calls"), D(r, "quality_sum"), L(r, "quality_count"), L(r, "cache_hits"),
            stageNames.Zip(stageSums, (n, v) => new KeyValuePair<string, double>(n, v)),
            customNames.Select((n, i) => new KeyValuePair<string, (double, long)>(n, (customSums[i], customCounts[i]))),
            L(r, "min_offset"), L(r, "max_offset"), (int)L(r, "revision"));
        return state;
    }

    /// <summary>A stored unsigned count as a long, clamped to [0, long.MaxValue].</summary>
    internal static long StoredInt(JsonElement e) => Pipeline.ClickHouse.StoredValues.Count(e);

    /// <summary>A stored float; anything not finite reads as 0.</summary>
    internal static double StoredDouble(JsonElement e) => Pipeline.ClickHouse.StoredValues.Number(e);
}

/// <summary>Rows of <c>anomalies</c> (migration 003).</summary>
internal static class AnomalyRows
{
    public static readonly IReadOnlyList<KeyValuePair<string, string>> Columns =
    [
        new("environment", "String"), new("service", "String"), new("prompt_name", "String"), new("prompt_version", "String"),
        new("request_model", "String"), new("window_start", "DateTime"), new("metric", "String"), new("value", "Float64"),
        new("baseline_median", "Float64"), new("baseline_mad", "Float64"), new("baseline_samples", "UInt32"), new("score", "Float64"),
        new("is_anomaly", "UInt8"), new("scored_at", "DateTime"),
    ];

    public static string MetricName(AnomalyMetric m) => m switch
    {
        AnomalyMetric.LatencyP95 => "latency_p95",
        AnomalyMetric.ErrorRate => "error_rate",
        AnomalyMetric.Traffic => "traffic",
        AnomalyMetric.CostPerCall => "cost_per_call",
        _ => "quality_mean",
    };

    public static object?[] ToRow(AnomalyScore a, DateTimeOffset scoredAt)
    {
        var s = a.Window.Series;
        return
        [
            s.Environment, s.Service, s.PromptName, s.PromptVersion, s.RequestModel, a.Window.WindowStart.UtcDateTime,
            MetricName(a.Metric), a.Value, a.BaselineMedian, a.BaselineMad, (uint)a.BaselineSamples, a.Score, a.IsAnomaly ? (byte)1 : (byte)0,
            scoredAt.UtcDateTime,
        ];
    }
}
