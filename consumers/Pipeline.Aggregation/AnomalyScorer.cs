using System.ComponentModel.DataAnnotations;

namespace Pipeline.Aggregation;

/// <summary>Metrics scored for anomalies on every closed window.</summary>
public enum AnomalyMetric
{
    LatencyP95,
    ErrorRate,
    Traffic,
    CostPerCall,
    QualityMean,
}

/// <summary>One scored metric of one closed window, with the baseline used.</summary>
public sealed record AnomalyScore(WindowKey Window, AnomalyMetric Metric, double Value, double BaselineMedian, double BaselineMad,
    int BaselineSamples, double Score, bool IsAnomaly);

/// <summary>Anomaly scoring settings. Section <c>Aggregator:Anomalies</c>.</summary>
public sealed class AnomalyOptions : IValidatableObject
{
    /// <summary>Trailing windows in the baseline, 2 to 10,080 (a week of minutes) and at least <see cref="MinSamples"/>. Default 60.</summary>
    [Range(2, 10_080)]
    public int BaselineWindows { get; set; } = 60;
    /// <summary>Windows needed before any score is given, 2 to 10,080. Default 10.</summary>
    [Range(2, 10_080)]
    public int MinSamples { get; set; } = 10;
    /// <summary>|robust z| at or above which a value is an anomaly, 0.1 to 100 (NaN and infinities refused). Default 3.5 (Iglewicz and Hoaglin).</summary>
    [Range(0.1, 100.0)]
    public double Threshold { get; set; } = 3.5;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (BaselineWindows < MinSamples)
        {
            yield return new ValidationResult($"{BaselineWindows} must be at least MinSamples ({MinSamples})", [nameof(BaselineWindows)]);
        }
    }
}

/// <summary>
/// Robust z-score of each closed window against the same series' trailing windows:
/// z = (x - median) / (1.4826 · MAD), with the MAD floored at the window's sampling noise (<see cref="RobustZ"/>)
/// so a perfectly flat history does not turn one error into an enormous score.
/// </summary>
public sealed class AnomalyScorer(AnomalyOptions options)
{
    // Keyed by window start: a window remembered twice (partition reassigned, history reloaded) counts once,
    // and a window is scored only against the windows before it.
    private readonly Dictionary<(Pipeline.Schemas.SeriesKey, AnomalyMetric), SortedList<DateTimeOffset, double>> _history = [];

    /// <summary>Adds a stored window to its series' history without scoring it (rebuilding baselines after a restart).</summary>
    public void Remember(WindowState window) => ScoreCore(window, score: false);

    /// <summary>Scores a closed window (first revision) and adds it to its series' history.</summary>
    public IReadOnlyList<AnomalyScore> Score(WindowState window) => ScoreCore(window, score: true);

    private List<AnomalyScore> ScoreCore(WindowState window, bool score)
    {
        ArgumentNullException.ThrowIfNull(window);
        var scores = new List<AnomalyScore>();
        foreach (var (metric, value) in Values(window))
        {
            var key = (window.Key.Series, metric);
            if (!_history.TryGetValue(key, out var history))
            {
                history = new SortedList<DateTimeOffset, double>();
                _history[key] = history;
            }
            var start = window.Key.WindowStart;
            var before = history.Where(kv => kv.Key < start).Select(kv => kv.Value).TakeLast(options.BaselineWindows).ToList();
            if (score && before.Count >= options.MinSamples)
            {
                var (median, mad) = MedianAndMad(before);
                var z = RobustZ.Score(metric, value, median, mad, window.Calls);
                scores.Add(new AnomalyScore(window.Key, metric, value, median, mad, before.Count, z, Math.Abs(z) >= options.Threshold));
            }
            history[start] = value;
            while (history.Count > options.BaselineWindows) history.RemoveAt(0);
        }
        return scores;
    }

    /// <summary>The metric values of a window; quality only when the window has quality scores.</summary>
    public static IEnumerable<(AnomalyMetric, double)> Values(WindowState w)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (w.Calls == 0) yield break;
        yield return (AnomalyMetric.LatencyP95, w.Latency.Quantile(0.95));
        yield return (AnomalyMetric.ErrorRate, w.ErrorRate);
        yield return (AnomalyMetric.Traffic, w.Calls);
        yield return (AnomalyMetric.CostPerCall, w.CostUsd / w.Calls);
        if (w.QualityMean is { } q) yield return (AnomalyMetric.QualityMean, q);
    }

    /// <summary>Median and median absolute deviation.</summary>
    public static (double Median, double Mad) MedianAndMad(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        var median = Median(sorted);
        var deviations = sorted.Select(v => Math.Abs(v - median)).Order().ToArray();
        return (median, Median(deviations));
    }

    private static double Median(double[] sorted) =>
        sorted.Length == 0 ? 0 : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}
