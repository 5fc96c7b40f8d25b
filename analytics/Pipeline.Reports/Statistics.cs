namespace Pipeline.Reports;

/// <summary>The significance tests the reports use.</summary>
public static class Statistics
{
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
