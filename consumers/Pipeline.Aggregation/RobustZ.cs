namespace Pipeline.Aggregation;

/// <summary>
/// Robust z-score of one window's value against the same series' earlier windows:
/// z = (x - median) / max(1.4826 · MAD, noise floor). The floor is the sampling noise a window of n calls
/// shows around that median even when nothing changed, so a flat history (median and MAD both 0, as for
/// the error rate of a healthy series) gives a finite score on the metric's own scale: one error among a
/// hundred calls is about 1.4, not 48 million. Scores are clamped to ±<see cref="MaxScore"/>.
/// </summary>
public static class RobustZ
{
    /// <summary>The largest |score| given or stored.</summary>
    public const double MaxScore = 1000;

    /// <summary>The score of <paramref name="value"/> from a window of <paramref name="calls"/> calls.</summary>
    public static double Score(AnomalyMetric metric, double value, double median, double mad, long calls)
    {
        var scale = Math.Max(1.4826 * mad, NoiseFloor(metric, median, calls));
        var z = (value - median) / scale;
        return double.IsNaN(z) ? 0 : Math.Clamp(z, -MaxScore, MaxScore);
    }

    /// <summary>
    /// Standard deviation of the metric expected from sampling alone: binomial for the error rate (with the
    /// rate floored at half a call, so a baseline of zero errors still has noise), Poisson for traffic,
    /// and a relative floor for latency (sketch error plus ordinary jitter), cost and quality.
    /// </summary>
    public static double NoiseFloor(AnomalyMetric metric, double median, long calls)
    {
        var n = Math.Max(1, calls);
        return metric switch
        {
            AnomalyMetric.ErrorRate => Math.Sqrt(Math.Clamp(Math.Max(median, 0.5 / n), 0, 0.5) * (1 - Math.Clamp(median, 0, 0.5)) / n),
            AnomalyMetric.Traffic => Math.Sqrt(Math.Max(Math.Abs(median), 1)),
            AnomalyMetric.LatencyP95 => Math.Max(0.05 * Math.Abs(median), 1),
            AnomalyMetric.CostPerCall => Math.Max(0.02 * Math.Abs(median), 1e-9),
            AnomalyMetric.QualityMean => Math.Max(0.1 / Math.Sqrt(n), 0.005),
            _ => Math.Max(0.01 * Math.Abs(median), 1e-9),
        };
    }
}
