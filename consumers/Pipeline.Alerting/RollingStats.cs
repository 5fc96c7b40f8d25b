using Pipeline.Aggregation;
using Pipeline.Schemas;

namespace Pipeline.Alerting;

/// <summary>
/// Closed windows of one series merged over a time range: exact counts and sums, a merged latency sketch,
/// and the moments the significance tests need. For per-call means (quality, cost, tokens, log latency)
/// the variance of one call is estimated from how much the window means vary around their overall mean
/// (weighted by calls: Σ nᵢ(mᵢ − m)² / (k − 1)), which needs no per-call sums of squares on the window
/// records and also counts real minute-to-minute variation as noise, so a bursty series is judged against
/// its own burstiness.
/// </summary>
public sealed class RollingStats
{
    private readonly List<QuantileSketch> _sketches = [];
    private QuantileSketch? _latency;
    private readonly Batch[] _batches = new Batch[5];

    public long Calls { get; private set; }
    public long Successes { get; private set; }
    public long Errors { get; private set; }
    public double CostUsd { get; private set; }
    /// <summary>Calls that have a cost (the rest are unpriced: no cost_usd and no price): what cost per call divides by.</summary>
    public long PricedCalls { get; private set; }
    public double Tokens { get; private set; }
    public double QualitySum { get; private set; }
    public long QualityCount { get; private set; }
    public int Windows { get; private set; }
    /// <summary>Per-call moments of ln(latency), from the sketches.</summary>
    public (long N, double Sum, double SumSquares) LogLatency { get; private set; }

    /// <summary>The merged latency sketch (merged on first use).</summary>
    public QuantileSketch Latency
    {
        get
        {
            if (_latency is null)
            {
                _latency = new QuantileSketch();
                foreach (var s in _sketches) _latency.Merge(s);
            }
            return _latency;
        }
    }

    /// <summary>The statistics of one window (computed once per window and cached by the engine).</summary>
    public static RollingStats OfWindow(WindowAggregate w)
    {
        ArgumentNullException.ThrowIfNull(w);
        var s = new RollingStats
        {
            Calls = w.Calls, Successes = w.Successes, Errors = w.Errors, CostUsd = w.CostUsd, Tokens = (double)w.InputTokens + w.OutputTokens,
            PricedCalls = Math.Max(0, w.Calls - w.UnpricedCalls), Windows = 1,
        };
        if (w.QualityMean is { } q && w.QualityCount > 0)
        {
            s.QualitySum = q * w.QualityCount;
            s.QualityCount = w.QualityCount;
            s._batches[(int)MeanKind.Quality].Add(w.QualityCount, q);
        }
        if (w.LatencySketch.Length > 0)
        {
            var sketch = QuantileSketch.FromStored(w.LatencySketch);
            s._sketches.Add(sketch);
            s.LogLatency = sketch.LogMoments();
            if (s.LogLatency.N > 0) s._batches[(int)MeanKind.LogLatency].Add(s.LogLatency.N, s.LogLatency.Sum / s.LogLatency.N);
        }
        if (w.Calls > 0)
        {
            // Calls per minute, one group per window: how much the count of a minute varies.
            s._batches[(int)MeanKind.CallsPerMinute].Add(1, w.Calls * 60.0 / Math.Max(1, w.WindowSeconds));
            // Over priced calls only: unpriced calls have no cost, not a cost of 0 (starting to price a model is no cost jump).
            if (s.PricedCalls > 0) s._batches[(int)MeanKind.Cost].Add(s.PricedCalls, w.CostUsd / s.PricedCalls);
            s._batches[(int)MeanKind.Tokens].Add(w.Calls, s.Tokens / w.Calls);
        }
        return s;
    }

    /// <summary>Sums read back from storage (no sketch, no per-window moments).</summary>
    public static RollingStats FromTotals(long calls, long successes, long errors, double cost, double tokens, double qualitySum, long qualityCount, int windows,
        long? pricedCalls = null) =>
        new()
        {
            PricedCalls = pricedCalls ?? calls,
            Calls = calls, Successes = successes, Errors = errors, CostUsd = cost, Tokens = tokens, QualitySum = qualitySum, QualityCount = qualityCount,
            Windows = windows,
        };

    /// <summary>Windows merged, without caching.</summary>
    public static RollingStats Of(IEnumerable<WindowAggregate> windows)
    {
        ArgumentNullException.ThrowIfNull(windows);
        return Merge(windows.Select(OfWindow));
    }

    /// <summary>Statistics merged.</summary>
    public static RollingStats Merge(IEnumerable<RollingStats> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        var s = new RollingStats();
        foreach (var p in parts) s.Add(p);
        return s;
    }

    /// <summary>Adds another range's statistics (sketches are merged lazily).</summary>
    public void Add(RollingStats other)
    {
        ArgumentNullException.ThrowIfNull(other);
        Calls += other.Calls;
        Successes += other.Successes;
        Errors += other.Errors;
        CostUsd += other.CostUsd;
        PricedCalls += other.PricedCalls;
        Tokens += other.Tokens;
        QualitySum += other.QualitySum;
        QualityCount += other.QualityCount;
        Windows += other.Windows;
        LogLatency = (LogLatency.N + other.LogLatency.N, LogLatency.Sum + other.LogLatency.Sum, LogLatency.SumSquares + other.LogLatency.SumSquares);
        if (other._latency is { } merged) _sketches.Add(merged);
        else _sketches.AddRange(other._sketches);
        _latency = null;
        for (var i = 0; i < _batches.Length; i++) _batches[i].Merge(other._batches[i]);
    }

    /// <summary>The metric's value, or null when it has no meaning for this data (no calls, no quality scores).</summary>
    public double? Value(AlertMetric metric, TimeSpan span) => metric switch
    {
        AlertMetric.Traffic or AlertMetric.TrafficStopped => span > TimeSpan.Zero ? Calls / span.TotalMinutes : null,
        _ when Calls == 0 => null,
        AlertMetric.SuccessRate => (double)Successes / Calls,
        AlertMetric.ErrorRate => (double)Errors / Calls,
        AlertMetric.LatencyP50 => Latency.Count == 0 ? null : Latency.Quantile(0.5),
        AlertMetric.LatencyP95 => Latency.Count == 0 ? null : Latency.Quantile(0.95),
        AlertMetric.LatencyP99 => Latency.Count == 0 ? null : Latency.Quantile(0.99),
        AlertMetric.LatencyMean => Latency.Count == 0 ? null : Latency.Sum / Latency.Count,
        AlertMetric.CostPerCall => PricedCalls == 0 ? null : CostUsd / PricedCalls,
        AlertMetric.TokensPerCall => Tokens / Calls,
        AlertMetric.QualityMean => QualityCount == 0 ? null : QualitySum / QualityCount,
        _ => (double)Errors / Calls,
    };

    /// <summary>
    /// Observations, mean and variance of one observation for a per-call mean (quality, cost and tokens per
    /// call, log latency); null when the range holds too few windows to estimate the variance.
    /// </summary>
    internal (double N, double Mean, double Variance)? MeanMoments(MeanKind kind, int minWindows)
    {
        var b = _batches[(int)kind];
        if (b.SumN <= 0) return null;
        var mean = b.SumNM / b.SumN;
        double? variance = b.Groups >= Math.Max(2, minWindows) ? Math.Max(0, b.SumNM2 - b.SumNM * b.SumNM / b.SumN) / (b.Groups - 1) : null;
        if (kind == MeanKind.LogLatency && LogLatency.N > 1)
        {
            var perCall = Math.Max(0, LogLatency.SumSquares - LogLatency.Sum * LogLatency.Sum / LogLatency.N) / (LogLatency.N - 1);
            variance = Math.Max(variance ?? 0, perCall);
        }
        return variance is { } v ? (b.SumN, mean, v) : null;
    }

    internal enum MeanKind
    {
        Quality,
        Cost,
        Tokens,
        LogLatency,
        CallsPerMinute,
    }

    /// <summary>Σn, Σn·m, Σn·m² over groups (windows or hours) with n observations of mean m.</summary>
    private struct Batch
    {
        public int Groups;
        public double SumN;
        public double SumNM;
        public double SumNM2;

        public void Add(double n, double mean)
        {
            if (n <= 0 || !double.IsFinite(mean)) return;
            Groups++;
            SumN += n;
            SumNM += n * mean;
            SumNM2 += n * mean * mean;
        }

        public void Merge(Batch other)
        {
            Groups += other.Groups;
            SumN += other.SumN;
            SumNM += other.SumNM;
            SumNM2 += other.SumNM2;
        }
    }
}
