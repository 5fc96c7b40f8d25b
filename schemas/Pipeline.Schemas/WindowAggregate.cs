// Field meanings are documented once, in schemas/window_aggregate.avsc.
#pragma warning disable CS1591
using Avro;
using Avro.Generic;

namespace Pipeline.Schemas;

/// <summary>One closed window of one series, as carried on <c>llm.metrics.1m.v1</c> (<c>schemas/window_aggregate.avsc</c>).</summary>
public sealed record WindowAggregate
{
    public required SeriesKey Series { get; init; }
    public required DateTimeOffset WindowStart { get; init; }
    public required int WindowSeconds { get; init; }
    public int Shard { get; init; }
    public required int Revision { get; init; }
    public bool IsFinal { get; init; } = true;
    public long Calls { get; init; }
    public long Events { get; init; }
    public long Successes { get; init; }
    public long Errors { get; init; }
    public IReadOnlyDictionary<string, long> ErrorsByType { get; init; } = new Dictionary<string, long>();
    public double LatencyP50Ms { get; init; }
    public double LatencyP90Ms { get; init; }
    public double LatencyP95Ms { get; init; }
    public double LatencyP99Ms { get; init; }
    public double LatencyMaxMs { get; init; }
    public double LatencyMeanMs { get; init; }
    public byte[] LatencySketch { get; init; } = [];
    public long TtftCount { get; init; }
    public double? TtftP50Ms { get; init; }
    public double? TtftP95Ms { get; init; }
    public double? TtftP99Ms { get; init; }
    public long InputTokens { get; init; }
    public long OutputTokens { get; init; }
    public long CachedInputTokens { get; init; }
    public double CostUsd { get; init; }
    public long UnpricedCalls { get; init; }
    public string PriceVersion { get; init; } = "";
    public double? QualityMean { get; init; }
    public long QualityCount { get; init; }
    public IReadOnlyDictionary<string, double> StageShares { get; init; } = new Dictionary<string, double>();
    public string? BottleneckStage { get; init; }
    public IReadOnlyDictionary<string, double> CustomMeans { get; init; } = new Dictionary<string, double>();

    public DateTimeOffset WindowEnd => WindowStart.AddSeconds(WindowSeconds);
    public double SuccessRate => Calls == 0 ? 1 : (double)Successes / Calls;
    public double ErrorRate => Calls == 0 ? 0 : (double)Errors / Calls;
}

/// <summary>Confluent-framed Avro for <see cref="WindowAggregate"/> (catalogue id 2).</summary>
public sealed class WindowAggregateSerializer
{
    private readonly RecordSchema _schema = SchemaCatalog.WindowAggregate;
    private readonly GenericDatumWriter<GenericRecord> _writer;
    private readonly GenericDatumReader<GenericRecord> _reader;

    public WindowAggregateSerializer()
    {
        _writer = new GenericDatumWriter<GenericRecord>(_schema);
        _reader = new GenericDatumReader<GenericRecord>(_schema, _schema);
    }

    public byte[] Serialize(WindowAggregate a)
    {
        ArgumentNullException.ThrowIfNull(a);
        var r = new GenericRecord(_schema);
        r.Add("environment", a.Series.Environment);
        r.Add("service", a.Series.Service);
        r.Add("prompt_name", a.Series.PromptName);
        r.Add("prompt_version", a.Series.PromptVersion);
        r.Add("request_model", a.Series.RequestModel);
        r.Add("window_start", a.WindowStart.UtcDateTime);
        r.Add("window_seconds", a.WindowSeconds);
        r.Add("shard", a.Shard);
        r.Add("revision", a.Revision);
        r.Add("is_final", a.IsFinal);
        r.Add("calls", a.Calls);
        r.Add("events", a.Events);
        r.Add("successes", a.Successes);
        r.Add("errors", a.Errors);
        r.Add("errors_by_type", a.ErrorsByType.ToDictionary(kv => kv.Key, kv => (object)kv.Value));
        r.Add("latency_p50_ms", a.LatencyP50Ms);
        r.Add("latency_p90_ms", a.LatencyP90Ms);
        r.Add("latency_p95_ms", a.LatencyP95Ms);
        r.Add("latency_p99_ms", a.LatencyP99Ms);
        r.Add("latency_max_ms", a.LatencyMaxMs);
        r.Add("latency_mean_ms", a.LatencyMeanMs);
        r.Add("latency_sketch", a.LatencySketch);
        r.Add("ttft_count", a.TtftCount);
        r.Add("ttft_p50_ms", a.TtftP50Ms);
        r.Add("ttft_p95_ms", a.TtftP95Ms);
        r.Add("ttft_p99_ms", a.TtftP99Ms);
        r.Add("input_tokens", a.InputTokens);
        r.Add("output_tokens", a.OutputTokens);
        r.Add("cached_input_tokens", a.CachedInputTokens);
        r.Add("cost_usd", a.CostUsd);
        r.Add("unpriced_calls", a.UnpricedCalls);
        r.Add("price_version", a.PriceVersion);
        r.Add("quality_mean", a.QualityMean);
        r.Add("quality_count", a.QualityCount);
        r.Add("stage_shares", a.StageShares.ToDictionary(kv => kv.Key, kv => (object)kv.Value));
        r.Add("bottleneck_stage", a.BottleneckStage);
        r.Add("custom_means", a.CustomMeans.ToDictionary(kv => kv.Key, kv => (object)kv.Value));
        return WireFormat.Frame(SchemaCatalog.WindowAggregateV1, _writer, r);
    }

    public WindowAggregate Deserialize(ReadOnlyMemory<byte> bytes)
    {
        var r = WireFormat.Unframe(bytes, SchemaCatalog.WindowAggregateV1, _reader, "a window aggregate");
        static Dictionary<string, T> Map<T>(object o) => ((IDictionary<string, object>)o).ToDictionary(kv => kv.Key, kv => (T)kv.Value);
        return new WindowAggregate
        {
            Series = new SeriesKey((string)r["environment"], (string)r["service"], (string)r["prompt_name"], (string)r["prompt_version"], (string)r["request_model"]),
            WindowStart = new DateTimeOffset(DateTime.SpecifyKind((DateTime)r["window_start"], DateTimeKind.Utc)),
            WindowSeconds = (int)r["window_seconds"],
            Shard = (int)r["shard"],
            Revision = (int)r["revision"],
            IsFinal = (bool)r["is_final"],
            Calls = (long)r["calls"],
            Events = (long)r["events"],
            Successes = (long)r["successes"],
            Errors = (long)r["errors"],
            ErrorsByType = Map<long>(r["errors_by_type"]),
            LatencyP50Ms = (double)r["latency_p50_ms"],
            LatencyP90Ms = (double)r["latency_p90_ms"],
            LatencyP95Ms = (double)r["latency_p95_ms"],
            LatencyP99Ms = (double)r["latency_p99_ms"],
            LatencyMaxMs = (double)r["latency_max_ms"],
            LatencyMeanMs = (double)r["latency_mean_ms"],
            LatencySketch = (byte[])r["latency_sketch"],
            TtftCount = (long)r["ttft_count"],
            TtftP50Ms = (double?)r["ttft_p50_ms"],
            TtftP95Ms = (double?)r["ttft_p95_ms"],
            TtftP99Ms = (double?)r["ttft_p99_ms"],
            InputTokens = (long)r["input_tokens"],
            OutputTokens = (long)r["output_tokens"],
            CachedInputTokens = (long)r["cached_input_tokens"],
            CostUsd = (double)r["cost_usd"],
            UnpricedCalls = (long)r["unpriced_calls"],
            PriceVersion = (string)r["price_version"],
            QualityMean = (double?)r["quality_mean"],
            QualityCount = (long)r["quality_count"],
            StageShares = Map<double>(r["stage_shares"]),
            BottleneckStage = (string?)r["bottleneck_stage"],
            CustomMeans = Map<double>(r["custom_means"]),
        };
    }
}
