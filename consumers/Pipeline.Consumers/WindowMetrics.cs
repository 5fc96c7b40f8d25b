using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Pipeline.Aggregation;
using Pipeline.Consumers.Otlp;
using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>
/// The closed windows as metrics for Grafana and Prometheus users (docs/metrics-export.md): the latest window of each
/// series as Prometheus gauges (<see cref="WritePrometheus"/>), and every window as OpenTelemetry GenAI histograms
/// (<see cref="TakeOtlpRequest"/>), both under one series cap. Fed by the alert worker's consume loop; thread-safe
/// (a scrape or a push reads while the loop writes).
/// </summary>
public sealed partial class WindowMetrics
{
    /// <summary>
    /// Bucket bounds of <c>gen_ai.client.operation.duration</c>, in seconds: the GenAI semantic conventions' advice.
    /// </summary>
    public static readonly double[] DurationBounds = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

    /// <summary>The OTLP instrumentation scope of every exported metric.</summary>
    public const string ScopeName = "Pipeline.WindowMetrics";

    // A late revision of a window older than this (by window start, behind the newest seen) is not re-exported
    // over OTLP: what was sent for its earlier revision is no longer remembered, and sending it whole would count twice.
    private static readonly TimeSpan RevisionMemory = TimeSpan.FromHours(2);

    private readonly WindowMetricsOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly Func<string, string?> _providerOf;
    private readonly Lock _lock = new();
    private readonly Dictionary<SeriesKey, Latest> _series = [];
    private readonly Dictionary<(SeriesKey Series, DateTimeOffset Start, int Shard), WindowValues> _sent = [];
    private readonly LinkedList<WindowPoint> _pending = [];
    private DateTimeOffset _newestStart = DateTimeOffset.MinValue;
    private long _lastExpiry;
    private long _lastDropLog;
    private long _droppedSinceLog;

    /// <param name="providerOf">The provider of a request model (<c>gen_ai.provider.name</c>), null when unknown: windows do not carry it.</param>
    public WindowMetrics(WindowMetricsOptions options, TimeProvider time, ILogger log, Func<string, string?>? providerOf = null)
    {
        _options = options;
        _time = time;
        _log = log;
        _providerOf = providerOf ?? (_ => null);
        _lastExpiry = time.GetTimestamp();
        _lastDropLog = time.GetTimestamp() - (long)time.TimestampFrequency * 120;
    }

    /// <summary>Series exported now (at most <see cref="WindowMetricsOptions.MaxSeries"/>).</summary>
    public int SeriesCount
    {
        get { lock (_lock) return _series.Count; }
    }

    /// <summary>Windows not exported because their series would have exceeded <see cref="WindowMetricsOptions.MaxSeries"/>.</summary>
    public long SeriesDropped { get; private set; }

    /// <summary>Windows dropped from the OTLP queue (the endpoint away longer than <see cref="WindowMetricsOptions.OtlpMaxPending"/> windows last).</summary>
    public long OtlpDropped { get; private set; }

    /// <summary>Windows waiting for the next OTLP push.</summary>
    public int OtlpPending
    {
        get { lock (_lock) return _pending.Count; }
    }

    /// <summary>One closed window (any revision, any shard) as read from the window topic.</summary>
    public void Observe(WindowAggregate window)
    {
        ArgumentNullException.ThrowIfNull(window);
        lock (_lock)
        {
            ExpireQuietSeries();
            if (!_series.TryGetValue(window.Series, out var latest))
            {
                if (_series.Count >= _options.MaxSeries)
                {
                    SeriesDropped++;
                    _droppedSinceLog++;
                    if (_time.GetElapsedTime(_lastDropLog) >= TimeSpan.FromMinutes(1))
                    {
                        LogSeriesCap(_log, _droppedSinceLog, _options.MaxSeries, window.Series.ToString());
                        _droppedSinceLog = 0;
                        _lastDropLog = _time.GetTimestamp();
                    }
                    return;
                }
                latest = new Latest(window.WindowStart);
                _series[window.Series] = latest;
            }
            latest.SeenTicks = _time.GetTimestamp();
            if (window.WindowStart > latest.WindowStart)
            {
                latest.WindowStart = window.WindowStart;
                latest.Shards.Clear();
            }
            if (window.WindowStart == latest.WindowStart
                && (!latest.Shards.TryGetValue(window.Shard, out var had) || had.Revision <= window.Revision))
            {
                latest.Shards[window.Shard] = window;
            }
            if (_options.OtlpEndpoint is not null) QueueOtlp(window);
        }
    }

    // Series whose last window is older than SeriesTtl leave the export (checked at most every 10 s).
    private void ExpireQuietSeries()
    {
        if (_time.GetElapsedTime(_lastExpiry) < TimeSpan.FromSeconds(10)) return;
        _lastExpiry = _time.GetTimestamp();
        foreach (var (key, latest) in _series.ToList())
        {
            if (_time.GetElapsedTime(latest.SeenTicks) >= _options.SeriesTtl) _series.Remove(key);
        }
        if (_newestStart == DateTimeOffset.MinValue) return; // nothing sent over OTLP yet
        var horizon = _newestStart - RevisionMemory;
        foreach (var key in _sent.Keys.Where(k => k.Start < horizon).ToList()) _sent.Remove(key);
    }

    private void QueueOtlp(WindowAggregate w)
    {
        if (w.WindowStart > _newestStart) _newestStart = w.WindowStart;
        var key = (w.Series, w.WindowStart, w.Shard);
        var sketch = w.LatencySketch.Length > 0 ? QuantileSketch.Deserialize(w.LatencySketch) : new QuantileSketch();
        var now = new WindowValues(w.Revision, DurationBuckets(sketch), sketch.Count, sketch.Sum / 1000, w.Calls, w.InputTokens, w.OutputTokens);
        WindowPoint point;
        if (_sent.TryGetValue(key, out var before))
        {
            if (before.Revision >= w.Revision) return; // a replayed record: already sent
            // A late revision: only what it added, so a backend summing deltas counts each call once.
            point = new WindowPoint(w, now.Minus(before), Min: null, Max: null);
        }
        else if (w.Revision > 1 && w.WindowStart < _newestStart - RevisionMemory)
        {
            return;
        }
        else
        {
            point = new WindowPoint(w, now, sketch.Count > 0 ? sketch.Min / 1000 : null, sketch.Count > 0 ? sketch.Max / 1000 : null);
        }
        _sent[key] = now;
        _pending.AddLast(point);
        while (_pending.Count > _options.OtlpMaxPending)
        {
            _pending.RemoveFirst();
            OtlpDropped++;
        }
    }

    /// <summary>
    /// Counts per bucket of <see cref="DurationBounds"/> (one more, above the last), from the sketch's ranks: a value's
    /// bucket is decided at the sketch's resolution (a value within 1% of a bound may fall on either side of it).
    /// </summary>
    internal static long[] DurationBuckets(QuantileSketch sketch)
    {
        var counts = new long[DurationBounds.Length + 1];
        long below = 0;
        for (var i = 0; i < DurationBounds.Length; i++)
        {
            var atOrBelow = sketch.Count - sketch.CountAbove(DurationBounds[i] * 1000);
            counts[i] = atOrBelow - below;
            below = atOrBelow;
        }
        counts[^1] = sketch.Count - below;
        return counts;
    }

    /// <summary>Removes up to <paramref name="max"/> queued windows as one OTLP request; null when none is queued.</summary>
    /// <returns>The request and the points it holds, to give back with <see cref="Requeue"/> when the push fails.</returns>
    internal (ExportMetricsServiceRequest Request, IReadOnlyList<WindowPoint> Points)? TakeOtlpRequest(int max = 5_000)
    {
        List<WindowPoint> points;
        lock (_lock)
        {
            if (_pending.Count == 0) return null;
            points = [];
            while (points.Count < max && _pending.First is { } first)
            {
                points.Add(first.Value);
                _pending.RemoveFirst();
            }
        }
        return (BuildRequest(points), points);
    }

    /// <summary>Puts the points of a failed push back at the front of the queue (the oldest are dropped past the cap).</summary>
    internal void Requeue(IReadOnlyList<WindowPoint> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        lock (_lock)
        {
            for (var i = points.Count - 1; i >= 0; i--) _pending.AddFirst(points[i]);
            while (_pending.Count > _options.OtlpMaxPending)
            {
                _pending.RemoveFirst();
                OtlpDropped++;
            }
        }
    }

    private ExportMetricsServiceRequest BuildRequest(List<WindowPoint> points)
    {
        var request = new ExportMetricsServiceRequest();
        // One resource per calling service and environment: the GenAI metrics describe that service's client calls.
        foreach (var group in points.GroupBy(p => (p.Window.Series.Service, p.Window.Series.Environment)))
        {
            var duration = new Histogram { AggregationTemporality = AggregationTemporality.Delta };
            var tokens = new Histogram { AggregationTemporality = AggregationTemporality.Delta };
            foreach (var p in group)
            {
                var w = p.Window;
                var start = UnixNanos(w.WindowStart);
                var end = UnixNanos(w.WindowEnd);
                var d = new HistogramDataPoint { StartTimeUnixNano = start, TimeUnixNano = end, Count = (ulong)p.Values.LatencyCount, Sum = p.Values.LatencySumSeconds };
                d.Attributes.Add(Attributes(w.Series));
                d.ExplicitBounds.Add(DurationBounds);
                d.BucketCounts.Add(p.Values.Buckets.Select(c => (ulong)c));
                if (p.Min is { } min) d.Min = min;
                if (p.Max is { } max) d.Max = max;
                duration.DataPoints.Add(d);
                // Windows keep token sums, not a per-call distribution: one bucket (no bounds), count and sum exact.
                foreach (var (type, sum) in new[] { ("input", p.Values.InputTokens), ("output", p.Values.OutputTokens) })
                {
                    var t = new HistogramDataPoint { StartTimeUnixNano = start, TimeUnixNano = end, Count = (ulong)p.Values.Calls, Sum = sum };
                    t.Attributes.Add(Attributes(w.Series));
                    t.Attributes.Add(Attribute("gen_ai.token.type", type));
                    t.BucketCounts.Add((ulong)p.Values.Calls);
                    tokens.DataPoints.Add(t);
                }
            }
            var scope = new ScopeMetrics { Scope = new InstrumentationScope { Name = ScopeName } };
            scope.Metrics.Add(new Metric { Name = "gen_ai.client.operation.duration", Unit = "s", Description = "GenAI operation duration (closed one-minute windows)", Histogram = duration });
            scope.Metrics.Add(new Metric { Name = "gen_ai.client.token.usage", Unit = "{token}", Description = "Tokens used per call (closed one-minute windows)", Histogram = tokens });
            var resource = new Resource();
            resource.Attributes.Add(Attribute("service.name", group.Key.Service));
            resource.Attributes.Add(Attribute("deployment.environment.name", group.Key.Environment));
            var rm = new ResourceMetrics { Resource = resource };
            rm.ScopeMetrics.Add(scope);
            request.ResourceMetrics.Add(rm);
        }
        return request;
    }

    private IEnumerable<KeyValue> Attributes(SeriesKey s)
    {
        yield return Attribute("gen_ai.request.model", s.RequestModel);
        yield return Attribute("gen_ai.prompt.name", s.PromptName);
        yield return Attribute("gen_ai.prompt.version", s.PromptVersion);
        if (_providerOf(s.RequestModel) is { } provider) yield return Attribute("gen_ai.provider.name", provider);
    }

    private static KeyValue Attribute(string key, string value) => new() { Key = key, Value = new AnyValue { StringValue = value } };

    private static ulong UnixNanos(DateTimeOffset t) => (ulong)(t.ToUnixTimeMilliseconds() * 1_000_000);

    /// <summary>
    /// The Prometheus text format (version 0.0.4): per series of the latest closed window, calls, error ratio,
    /// latency quantiles in seconds, cost, and the window's start; then the export's own series count and drops.
    /// </summary>
    public void WritePrometheus(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        List<(SeriesKey Key, Snapshot Values)> rows;
        long dropped, otlpDropped;
        lock (_lock)
        {
            ExpireQuietSeries(); // also when no window arrives any more: a scrape must not show them forever
            rows = _series.Where(kv => kv.Value.Shards.Count > 0).Select(kv => (kv.Key, Snapshot.Of(kv.Value))).ToList();
            dropped = SeriesDropped;
            otlpDropped = OtlpDropped;
        }
        rows.Sort((a, b) => string.CompareOrdinal(a.Key.ToString(), b.Key.ToString()));
        var labels = rows.Select(r => Labels(r.Key)).ToList();
        void Family(string name, string type, string help, Func<Snapshot, IEnumerable<(string Extra, double Value)>> values)
        {
            writer.Write($"# HELP {name} {help}\n# TYPE {name} {type}\n");
            for (var i = 0; i < rows.Count; i++)
            {
                foreach (var (extra, value) in values(rows[i].Values))
                {
                    writer.Write($"{name}{{{labels[i]}{extra}}} {Number(value)}\n");
                }
            }
        }
        Family("pipeline_window_calls", "gauge", "Calls in the series' latest closed one-minute window.", s => [("", s.Calls)]);
        Family("pipeline_window_errors", "gauge", "Failed calls in the series' latest closed window.", s => [("", s.Errors)]);
        Family("pipeline_window_error_ratio", "gauge", "Failed calls over calls in the series' latest closed window.", s => [("", s.Calls == 0 ? 0 : (double)s.Errors / s.Calls)]);
        Family("pipeline_window_latency_seconds", "gauge", "Latency quantiles of the series' latest closed window (DDSketch, 1% relative error).",
            s => [(",quantile=\"0.5\"", s.P50Ms / 1000), (",quantile=\"0.95\"", s.P95Ms / 1000), (",quantile=\"0.99\"", s.P99Ms / 1000)]);
        Family("pipeline_window_cost_usd", "gauge", "Cost in USD of the series' latest closed window.", s => [("", s.CostUsd)]);
        Family("pipeline_window_start_seconds", "gauge", "Start of the series' latest closed window, Unix seconds.", s => [("", s.WindowStart.ToUnixTimeSeconds())]);
        writer.Write("# HELP pipeline_window_series Series exported now.\n# TYPE pipeline_window_series gauge\n");
        writer.Write($"pipeline_window_series {rows.Count.ToString(CultureInfo.InvariantCulture)}\n");
        writer.Write("# HELP pipeline_window_series_limit The cap on series exported (WindowMetrics:MaxSeries).\n# TYPE pipeline_window_series_limit gauge\n");
        writer.Write($"pipeline_window_series_limit {_options.MaxSeries.ToString(CultureInfo.InvariantCulture)}\n");
        writer.Write("# HELP pipeline_window_series_dropped_total Windows not exported because their series was over the cap.\n# TYPE pipeline_window_series_dropped_total counter\n");
        writer.Write($"pipeline_window_series_dropped_total {dropped.ToString(CultureInfo.InvariantCulture)}\n");
        writer.Write("# HELP pipeline_window_otlp_dropped_total Windows dropped from the OTLP queue while the endpoint was away.\n# TYPE pipeline_window_otlp_dropped_total counter\n");
        writer.Write($"pipeline_window_otlp_dropped_total {otlpDropped.ToString(CultureInfo.InvariantCulture)}\n");
    }

    private string Labels(SeriesKey s)
    {
        var b = new StringBuilder();
        void Label(string name, string value)
        {
            if (b.Length > 0) b.Append(',');
            b.Append(name).Append("=\"");
            foreach (var c in value)
            {
                b.Append(c switch { '\\' => "\\\\", '"' => "\\\"", '\n' => "\\n", _ => c.ToString() });
            }
            b.Append('"');
        }
        Label("environment", s.Environment);
        Label("service", s.Service);
        Label("prompt_name", s.PromptName);
        Label("prompt_version", s.PromptVersion);
        Label("model", s.RequestModel);
        if (_providerOf(s.RequestModel) is { } provider) Label("provider", provider);
        return b.ToString();
    }

    private static string Number(double v) =>
        double.IsNaN(v) ? "NaN" : double.IsPositiveInfinity(v) ? "+Inf" : double.IsNegativeInfinity(v) ? "-Inf" : v.ToString("R", CultureInfo.InvariantCulture);

    [LoggerMessage(Level = LogLevel.Warning, Message = "window metrics: {Dropped} windows not exported in the last minute, the series cap WindowMetrics:MaxSeries={Cap} is full (latest refused: {Series})")]
    private static partial void LogSeriesCap(ILogger logger, long dropped, int cap, string series);

    private sealed class Latest(DateTimeOffset start)
    {
        public DateTimeOffset WindowStart { get; set; } = start;
        public Dictionary<int, WindowAggregate> Shards { get; } = [];
        public long SeenTicks { get; set; }
    }

    // The latest window of a series, its shards (partial windows of a salted hot series) merged.
    private sealed record Snapshot(DateTimeOffset WindowStart, long Calls, long Errors, double P50Ms, double P95Ms, double P99Ms, double CostUsd)
    {
        public static Snapshot Of(Latest latest)
        {
            var shards = latest.Shards.Values.ToList();
            if (shards.Count == 1)
            {
                var w = shards[0];
                return new(w.WindowStart, w.Calls, w.Errors, w.LatencyP50Ms, w.LatencyP95Ms, w.LatencyP99Ms, w.CostUsd);
            }
            var sketch = new QuantileSketch();
            foreach (var w in shards.Where(w => w.LatencySketch.Length > 0)) sketch.Merge(QuantileSketch.Deserialize(w.LatencySketch));
            return new(latest.WindowStart, shards.Sum(w => w.Calls), shards.Sum(w => w.Errors),
                sketch.Quantile(0.5), sketch.Quantile(0.95), sketch.Quantile(0.99), shards.Sum(w => w.CostUsd));
        }
    }
}

/// <summary>What one window (or a late revision's increment) adds to the exported histograms.</summary>
internal sealed record WindowValues(int Revision, long[] Buckets, long LatencyCount, double LatencySumSeconds, long Calls, long InputTokens, long OutputTokens)
{
    internal WindowValues Minus(WindowValues before) => new(Revision, Buckets.Zip(before.Buckets, (a, b) => a - b).ToArray(),
        LatencyCount - before.LatencyCount, LatencySumSeconds - before.LatencySumSeconds, Calls - before.Calls,
        InputTokens - before.InputTokens, OutputTokens - before.OutputTokens);
}

/// <summary>One window queued for OTLP: its series and interval, the values it adds, min and max when it is the first revision.</summary>
internal sealed record WindowPoint(WindowAggregate Window, WindowValues Values, double? Min, double? Max);
