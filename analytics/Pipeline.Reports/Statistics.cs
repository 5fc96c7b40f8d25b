using System.Globalization;

namespace Pipeline.Reports;

/// <summary>
/// The least data a version A/B verdict needs on each side before it says anything (<see cref="Statistics.LatencyShortfall"/>,
/// <see cref="Statistics.SuccessShortfall"/>); below it the verdict says "not enough data". The p95 interval comes from
/// a bootstrap, which on a handful of calls is as narrow as it is wrong (one call against 9,562 gave "faster by
/// 409-458 ms, 95% CI"); the success test is a normal approximation, valid only when both outcomes are expected
/// several times on each side.
/// </summary>
public sealed record AbMinimums
{
    /// <summary>The documented minimums.</summary>
    public static AbMinimums Default { get; } = new();

    /// <summary>Raw calls (latency samples) on each side before p95 is compared. Default 30.</summary>
    public int LatencySamplesPerSide { get; init; } = 30;
    /// <summary>Calls received (unweighted by sample rate) on each side before success rates are compared. Default 30.</summary>
    public int CallsPerSide { get; init; } = 30;
    /// <summary>
    /// Successes and errors each expected on each side at the pooled success rate before success rates are compared
    /// (the usual condition for the two-proportion z-test). Default 5.
    /// </summary>
    public double ExpectedOutcomesPerSide { get; init; } = 5;
}

/// <summary>The significance tests the reports use.</summary>
public static class Statistics
{
    /// <summary>
    /// Why p95 of two sides cannot be compared (<c>n=1 vs 9,562; need 30 per side</c>, first side first), or null when
    /// both have <see cref="AbMinimums.LatencySamplesPerSide"/> samples.
    /// </summary>
    public static string? LatencyShortfall(long samplesA, long samplesB, AbMinimums minimums)
    {
        ArgumentNullException.ThrowIfNull(minimums);
        return Math.Min(samplesA, samplesB) < minimums.LatencySamplesPerSide ? Shortfall(samplesA, samplesB, minimums.LatencySamplesPerSide) : null;
    }

    /// <summary>
    /// Why the success rates of two sides cannot be compared, or null when they can: each side needs
    /// <see cref="AbMinimums.CallsPerSide"/> calls received (<paramref name="receivedA"/>, unweighted) and, at the pooled
    /// success rate of the (weighted) counts, <see cref="AbMinimums.ExpectedOutcomesPerSide"/> expected successes and errors.
    /// The message names the first side first.
    /// </summary>
    public static string? SuccessShortfall(long successesA, long callsA, long receivedA, long successesB, long callsB, long receivedB, AbMinimums minimums)
    {
        ArgumentNullException.ThrowIfNull(minimums);
        if (Math.Min(receivedA, receivedB) < minimums.CallsPerSide) return Shortfall(receivedA, receivedB, minimums.CallsPerSide);
        if (callsA + callsB == 0) return Shortfall(0, 0, minimums.CallsPerSide);
        var pooled = (double)(successesA + successesB) / (callsA + callsB);
        var smaller = Math.Min(receivedA, receivedB);
        var (expected, what) = pooled >= 0.5 ? (smaller * (1 - pooled), "errors") : (smaller * pooled, "successes");
        return expected < minimums.ExpectedOutcomesPerSide
            ? string.Create(CultureInfo.InvariantCulture,
                $"{expected:0.#} {what} expected on the smaller side at {pooled * 100:0.00}% success; need {minimums.ExpectedOutcomesPerSide:0.#} per side")
            : null;
    }

    private static string Shortfall(long a, long b, int need) =>
        string.Create(CultureInfo.InvariantCulture, $"n={a:N0} vs {b:N0}; need {need:N0} per side");

    /// <summary>Two-proportion z-test: z and the two-sided p-value of successes a/n against b/m.</summary>
    public static (double Z, double P) TwoProportion(long successesA, long callsA, long successesB, long callsB)
    {
        if (callsA == 0 || callsB == 0) return (0, 1);
        var pa = (double)successesA / callsA;
        var pb = (double)successesB / callsB;
        var pooled = (double)(successesA + successesB) / (callsA + callsB);
        var se = Math.Sqrt(pooled * (1 - pooled) * (1.0 / callsA + 1.0 / callsB));
        if (se == 0) return (0, 1);
        var z = (pb - pa) / se;
        return (z, 2 * (1 - NormalCdf(Math.Abs(z))));
    }

    /// <summary>
    /// Percentile-bootstrap confidence interval (95%) of quantile(b) - quantile(a), from samples of both.
    /// Deterministic for a seed.
    /// </summary>
    public static (double Low, double High, double Estimate) BootstrapQuantileDifference(IReadOnlyList<double> a, IReadOnlyList<double> b, double q,
        int resamples = 1000, int seed = 17)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Count == 0 || b.Count == 0) return (double.NaN, double.NaN, double.NaN);
        var random = new Random(seed);
        var diffs = new double[resamples];
        var bufferA = new double[a.Count];
        var bufferB = new double[b.Count];
        for (var r = 0; r < resamples; r++)
        {
            for (var i = 0; i < bufferA.Length; i++) bufferA[i] = a[random.Next(a.Count)];
            for (var i = 0; i < bufferB.Length; i++) bufferB[i] = b[random.Next(b.Count)];
            diffs[r] = Quantile(bufferB, q) - Quantile(bufferA, q);
        }
        Array.Sort(diffs);
        return (diffs[(int)(0.025 * resamples)], diffs[(int)(0.975 * resamples) - 1], Quantile([.. b], q) - Quantile([.. a], q));
    }

    /// <summary>Value at rank floor(q·n) (sorts a copy).</summary>
    public static double Quantile(double[] values, double q)
    {
        ArgumentNullException.ThrowIfNull(values);
        var copy = (double[])values.Clone();
        Array.Sort(copy);
        return copy[Math.Min((int)Math.Floor(q * copy.Length), copy.Length - 1)];
    }

    /// <summary>Standard normal CDF (Abramowitz and Stegun 7.1.26, error below 1.5e-7).</summary>
    public static double NormalCdf(double x)
    {
        var t = 1 / (1 + 0.3275911 * Math.Abs(x) / Math.Sqrt(2));
        var erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.Exp(-x * x / 2);
        return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
    }
}
