using Pipeline.Aggregation;
using Pipeline.Schemas;

namespace Pipeline.Alerting;

/// <summary>Closed windows of one series merged over a time range: exact counts and sums, merged latency sketch.</summary>
public sealed class RollingStats
{
    public long Calls { get; private set; }
    public long Successes { get; private set; }
    public long Errors { get; private set; }
    public double CostUsd { get; private set; }
    public double QualitySum { get; private set; }
    public long QualityCount { get; private set; }
    public int Windows { get; private set; }
    public QuantileSketch Latency { get; } = new();

    public static RollingStats Of(IEnumerable<WindowAggregate> windows)
    {
        ArgumentNullException.ThrowIfNull(windows);
        var s = new RollingStats();
        foreach (var w in windows)
        {
            s.Calls += w.Calls;
            s.Successes += w.Successes;
            s.Errors += w.Errors;
            s.CostUsd += w.CostUsd;
            if (w.QualityMean is { } q)
            {
                s.QualitySum += q * w.QualityCount;
                s.QualityCount += w.QualityCount;
            }
            if (w.LatencySketch.Length > 0) s.Latency.Merge(QuantileSketch.FromStored(w.LatencySketch));
            s.Windows++;
        }
        return s;
    }

    /// <summary>The metric's value, or null when it has no meaning for this data (no calls, no quality scores).</summary>
    public double? Value(AlertMetric metric, TimeSpan span) => metric switch
    {
        AlertMetric.Traffic => span > TimeSpan.Zero ? Calls / span.TotalMinutes : null,
        _ when Calls == 0 => null,
        AlertMetric.SuccessRate => (double)Successes / Calls,
        AlertMetric.ErrorRate => (double)Errors / Calls,
        AlertMetric.LatencyP95 => Latency.Quantile(0.95),
        AlertMetric.LatencyP99 => Latency.Quantile(0.99),
        AlertMetric.LatencyMean => Latency.Count == 0 ? null : Latency.Sum / Latency.Count,
        AlertMetric.CostPerCall => CostUsd / Calls,
        AlertMetric.QualityMean => QualityCount == 0 ? null : QualitySum / QualityCount,
        _ => (double)Errors / Calls,
    };
}
