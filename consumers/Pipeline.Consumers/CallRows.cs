using System.Buffers;
using System.Text.Json;
using Pipeline.ClickHouse;
using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>One event to be written to <c>calls</c>, with where it was read and when.</summary>
internal readonly record struct CallRow(LlmCall Call, int Partition, long Offset, DateTimeOffset IngestedAt);

/// <summary>Maps <see cref="LlmCall"/> to rows of the ClickHouse <c>calls</c> table (migration 001).</summary>
internal static class CallRows
{
    /// <summary>Column names and ClickHouse types, in insert order.</summary>
    public static readonly IReadOnlyList<KeyValuePair<string, string>> Columns =
    [
        new("event_id", "UUID"), new("occurred_at", "DateTime"), new("occurred_at_ms", "UInt64"),
        new("environment", "String"), new("service", "String"), new("operation", "String"), new("provider", "String"),
        new("request_model", "String"), new("response_model", "String"), new("prompt_name", "String"), new("prompt_version", "String"),
        new("request_id", "String"), new("trace_id", "String"), new("tag_keys", "Array(String)"), new("tag_values", "Array(String)"),
        new("latency_ms", "Float64"), new("time_to_first_token_ms", "Nullable(Float64)"), new("input_tokens", "UInt64"),
        new("output_tokens", "UInt64"), new("cached_input_tokens", "Nullable(UInt64)"), new("cost_usd", "Nullable(Float64)"),
        new("outcome", "Enum8('SUCCESS' = 1, 'ERROR' = 2)"), new("error_type", "String"), new("error_message", "String"),
        new("http_status", "Nullable(UInt16)"), new("quality_score", "Nullable(Float64)"), new("retry_count", "UInt32"),
        new("cache_hit", "UInt8"), new("stage_names", "Array(String)"), new("stage_durations_ms", "Array(Float64)"),
        new("custom_keys", "Array(String)"), new("custom_values", "Array(Float64)"), new("sample_rate", "Float64"),
        new("kafka_partition", "UInt32"), new("kafka_offset", "UInt64"), new("ingested_at", "DateTime"),
    ];

    private static readonly string[] ErrorTypeNames =
        ["TIMEOUT", "RATE_LIMITED", "PROVIDER_ERROR", "VALIDATION", "CONTENT_FILTER", "CLIENT_ERROR", "SERVER_ERROR", "CANCELLED", "OTHER"];

    /// <summary>The column names of <see cref="Columns"/>.</summary>
    public static readonly IReadOnlyList<string> ColumnNames = [.. Columns.Select(c => c.Key)];

    /// <summary>
    /// Appends the RowBinary row of <paramref name="row"/> in the order of <see cref="Columns"/>: the same values
    /// as <see cref="ToRow"/>, and the same bytes ClickHouse.Driver writes for them (CallRowsTests).
    /// </summary>
    public static void Write(IBufferWriter<byte> output, in CallRow row)
    {
        var c = row.Call;
        var w = new RowBinaryWriter(output);
        w.Uuid(c.EventId);
        w.DateTime(c.OccurredAt);
        w.UInt64((ulong)c.OccurredAt.ToUnixTimeMilliseconds());
        w.String(c.Environment);
        w.String(c.Service);
        w.String(c.Operation);
        w.String(c.Provider);
        w.String(c.RequestModel);
        w.String(c.ResponseModel ?? "");
        w.String(c.PromptName);
        w.String(c.PromptVersion);
        w.String(c.RequestId ?? "");
        w.String(c.TraceId ?? "");
        WriteTags(w, c.Tags);
        w.Float64(c.LatencyMs);
        if (w.Present(c.TimeToFirstTokenMs.HasValue)) w.Float64(c.TimeToFirstTokenMs!.Value);
        w.UInt64((ulong)c.InputTokens);
        w.UInt64((ulong)c.OutputTokens);
        if (w.Present(c.CachedInputTokens.HasValue)) w.UInt64((ulong)c.CachedInputTokens!.Value);
        if (w.Present(c.CostUsd.HasValue)) w.Float64(c.CostUsd!.Value);
        w.UInt8(c.Outcome == Outcome.Success ? (byte)1 : (byte)2);
        w.String(c.ErrorType is { } et ? ErrorTypeNames[(int)et] : "");
        w.String(c.ErrorMessage ?? "");
        var status = c.HttpStatus is { } s and >= 0 and <= ushort.MaxValue ? (ushort?)s : null;
        if (w.Present(status.HasValue)) w.UInt16(status!.Value);
        if (w.Present(c.QualityScore.HasValue)) w.Float64(c.QualityScore!.Value);
        w.UInt32((uint)c.RetryCount);
        w.UInt8(c.CacheHit ? (byte)1 : (byte)0);
        var stages = c.Stages;
        w.Length(stages.Count);
        for (var i = 0; i < stages.Count; i++) w.String(stages[i].Name);
        w.Length(stages.Count);
        for (var i = 0; i < stages.Count; i++) w.Float64(stages[i].DurationMs);
        WriteCustom(w, c.Custom);
        w.Float64(c.SampleRate);
        w.UInt32((uint)row.Partition);
        w.UInt64((ulong)row.Offset);
        w.DateTime(row.IngestedAt);
    }

    private delegate void ValueWriter<in TValue>(RowBinaryWriter w, TValue value);

    private static void WriteTags(RowBinaryWriter w, IReadOnlyDictionary<string, string> tags) =>
        WriteSorted(w, tags, static (w, v) => w.String(v));

    private static void WriteCustom(RowBinaryWriter w, IReadOnlyDictionary<string, double> custom) =>
        WriteSorted(w, custom, static (w, v) => w.Float64(v));

    /// <summary>A map as its keys' array, then its values' array, keys sorted (ordinal) as ToRow sorts them, so one event's row is the same whatever its map's order.</summary>
    private static void WriteSorted<TValue>(RowBinaryWriter w, IReadOnlyDictionary<string, TValue> map, ValueWriter<TValue> writeValue)
    {
        var n = map.Count;
        var sorted = ArrayPool<KeyValuePair<string, TValue>>.Shared.Rent(Math.Max(n, 1));
        try
        {
            var i = 0;
            foreach (var kv in map) sorted[i++] = kv;
            Array.Sort(sorted, 0, n, KeyOrder<TValue>.Instance);
            w.Length(n);
            for (i = 0; i < n; i++) w.String(sorted[i].Key);
            w.Length(n);
            for (i = 0; i < n; i++) writeValue(w, sorted[i].Value);
        }
        finally
        {
            Array.Clear(sorted, 0, n);
            ArrayPool<KeyValuePair<string, TValue>>.Shared.Return(sorted);
        }
    }

    private sealed class KeyOrder<TValue> : IComparer<KeyValuePair<string, TValue>>
    {
        public static readonly KeyOrder<TValue> Instance = new();
        public int Compare(KeyValuePair<string, TValue> x, KeyValuePair<string, TValue> y) => string.CompareOrdinal(x.Key, y.Key);
    }

    /// <summary>The row for one event read from <paramref name="partition"/> at <paramref name="offset"/>, as ClickHouse.Driver takes it.</summary>
    public static object?[] ToRow(LlmCall c, int partition, long offset, DateTimeOffset ingestedAt)
    {
        var tags = c.Tags.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray();
        var custom = c.Custom.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray();
        return
        [
            c.EventId,
            c.OccurredAt.UtcDateTime,
            (ulong)c.OccurredAt.ToUnixTimeMilliseconds(),
            c.Environment, c.Service, c.Operation, c.Provider, c.RequestModel, c.ResponseModel ?? "",
            c.PromptName, c.PromptVersion, c.RequestId ?? "", c.TraceId ?? "",
            tags.Select(kv => kv.Key).ToArray(), tags.Select(kv => kv.Value).ToArray(),
            c.LatencyMs, c.TimeToFirstTokenMs, (ulong)c.InputTokens, (ulong)c.OutputTokens,
            c.CachedInputTokens is { } cached ? (ulong)cached : null,
            c.CostUsd,
            c.Outcome == Outcome.Success ? "SUCCESS" : "ERROR",
            c.ErrorType is { } et ? ErrorTypeNames[(int)et] : "",
            c.ErrorMessage ?? "",
            c.HttpStatus is { } s and >= 0 and <= ushort.MaxValue ? (ushort)s : null,
            c.QualityScore, (uint)c.RetryCount, c.CacheHit ? (byte)1 : (byte)0,
            c.Stages.Select(s => s.Name).ToArray(), c.Stages.Select(s => s.DurationMs).ToArray(),
            custom.Select(kv => kv.Key).ToArray(), custom.Select(kv => kv.Value).ToArray(),
            c.SampleRate, (uint)partition, (ulong)offset, ingestedAt.UtcDateTime,
        ];
    }

    /// <summary>The columns <see cref="FromJson"/> reads: everything a window folds in.</summary>
    public const string WindowColumns =
        "event_id, occurred_at_ms, environment, service, operation, provider, request_model, prompt_name, prompt_version, latency_ms,"
        + " time_to_first_token_ms, input_tokens, output_tokens, cached_input_tokens, cost_usd, outcome, error_type, quality_score, cache_hit,"
        + " stage_names, stage_durations_ms, custom_keys, custom_values, sample_rate, kafka_offset";

    /// <summary>An event as a window sees it, from a <c>calls</c> row read as JSONEachRow with <see cref="WindowColumns"/>, and its offset.</summary>
    public static (LlmCall Call, long Offset) FromJson(JsonElement r)
    {
        static string S(JsonElement r, string n) => r.GetProperty(n).GetString() ?? "";
        static double? N(JsonElement r, string n) => r.GetProperty(n).ValueKind == JsonValueKind.Null ? null : MetricsRows.StoredDouble(r.GetProperty(n));
        static long L(JsonElement r, string n) => MetricsRows.StoredInt(r.GetProperty(n));
        var stageNames = r.GetProperty("stage_names").EnumerateArray().Select(e => e.GetString() ?? "").ToArray();
        var stageDurations = r.GetProperty("stage_durations_ms").EnumerateArray().Select(MetricsRows.StoredDouble).ToArray();
        var customKeys = r.GetProperty("custom_keys").EnumerateArray().Select(e => e.GetString() ?? "").ToArray();
        var customValues = r.GetProperty("custom_values").EnumerateArray().Select(MetricsRows.StoredDouble).ToArray();
        var errorType = Array.IndexOf(ErrorTypeNames, S(r, "error_type"));
        var call = new LlmCall
        {
            EventId = Guid.Parse(S(r, "event_id")),
            OccurredAt = DateTimeOffset.FromUnixTimeMilliseconds(L(r, "occurred_at_ms")),
            Environment = S(r, "environment"), Service = S(r, "service"), Operation = S(r, "operation"), Provider = S(r, "provider"),
            RequestModel = S(r, "request_model"), PromptName = S(r, "prompt_name"), PromptVersion = S(r, "prompt_version"),
            LatencyMs = MetricsRows.StoredDouble(r.GetProperty("latency_ms")),
            TimeToFirstTokenMs = N(r, "time_to_first_token_ms"),
            InputTokens = L(r, "input_tokens"), OutputTokens = L(r, "output_tokens"),
            CachedInputTokens = r.GetProperty("cached_input_tokens").ValueKind == JsonValueKind.Null ? null : L(r, "cached_input_tokens"),
            CostUsd = N(r, "cost_usd"),
            Outcome = S(r, "outcome") == "SUCCESS" ? Outcome.Success : Outcome.Error,
            ErrorType = errorType >= 0 ? (ErrorType)errorType : null,
            QualityScore = N(r, "quality_score"),
            CacheHit = L(r, "cache_hit") != 0,
            Stages = stageNames.Zip(stageDurations, (n, d) => new Stage(n, d)).ToArray(),
            Custom = customKeys.Zip(customValues).GroupBy(kv => kv.First, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Second, StringComparer.Ordinal),
            SampleRate = MetricsRows.StoredDouble(r.GetProperty("sample_rate")) is var rate && rate > 0 ? rate : 1,
        };
        return (call, L(r, "kafka_offset"));
    }
}
