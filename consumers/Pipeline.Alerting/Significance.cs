namespace Pipeline.Alerting;

/// <summary>
/// One-sided tests computed from window aggregates only (counts, sums, sums of squares, merged sketches),
/// each returning a z statistic: positive when the current window is above the reference. A rule with a
/// <c>confidence</c> fires only when z passes <see cref="ZFor"/>(confidence) in the rule's direction.
/// </summary>
public static class Significance
{
    /// <summary>The z a one-sided test must reach for <paramref name="confidence"/> (0.999 → 3.09).</summary>
    public static double ZFor(double confidence) => InverseNormal(confidence);

    /// <summary>Welch's z for the difference of two means given their variances of one observation.</summary>
    public static double Welch(double mean, double variance, double n, double refMean, double refVariance, double refN)
    {
        if (n <= 0 || refN <= 0) return 0;
        var se = Math.Sqrt(Math.Max(variance, 0) / n + Math.Max(refVariance, 0) / refN);
        return Z(mean - refMean, se);
    }

    /// <summary>
    /// z of x of n against the reference proportion refX of refN (exact binomial tail; the reference, usually
    /// ten or more times larger, is taken as known, with half an event added either way so that a reference
    /// of zero errors still allows for some).
    /// </summary>
    public static double TwoProportions(double x, double n, double refX, double refN)
    {
        if (n <= 0 || refN <= 0) return 0;
        return Binomial(x, n, (refX + 0.5) / (refN + 1));
    }

    /// <summary>
    /// z of x successes in n trials against a known proportion p (a static threshold, a quantile's tail share),
    /// from the exact binomial tail, so that a handful of errors in a quiet series is judged by what a handful
    /// really means rather than by a normal curve that small counts do not follow.
    /// </summary>
    public static double Binomial(double x, double n, double p)
    {
        if (n <= 0) return 0;
        var trials = (long)Math.Round(n);
        var k = (long)Math.Round(Math.Clamp(x, 0, n));
        p = Math.Clamp(p, 1e-9, 1 - 1e-9);
        if (trials > 100_000)
        {
            return Z(x / n - p, Math.Sqrt(p * (1 - p) / n));
        }
        return k >= trials * p
            ? InverseNormal(1 - Tail(k, trials, (j) => LogBinomial(trials, j, p), up: true))
            : -InverseNormal(1 - Tail(k, trials, (j) => LogBinomial(trials, j, p), up: false));
    }

    /// <summary>z of a count against a Poisson mean, from the exact Poisson tail.</summary>
    public static double Poisson(double count, double mean)
    {
        if (mean <= 0) return count > 0 ? double.PositiveInfinity : 0;
        var k = (long)Math.Round(Math.Max(0, count));
        if (mean > 100_000) return Z(count - mean, Math.Sqrt(mean));
        var max = (long)(mean + 50 * Math.Sqrt(mean) + 50);
        return k >= mean
            ? InverseNormal(1 - Tail(k, Math.Max(max, k), j => j * Math.Log(mean) - mean - LogFactorial(j), up: true))
            : -InverseNormal(1 - Tail(k, max, j => j * Math.Log(mean) - mean - LogFactorial(j), up: false));
    }

    // P(X >= k) (up) or P(X <= k), summing terms outward from k until they stop mattering.
    private static double Tail(long k, long max, Func<long, double> logTerm, bool up)
    {
        var first = logTerm(k);
        double sum = 0;
        for (var j = k; up ? j <= max : j >= 0; j += up ? 1 : -1)
        {
            var term = Math.Exp(logTerm(j) - first);
            sum += term;
            if (term < 1e-12 * sum) break;
        }
        var p = Math.Exp(first) * sum;
        return Math.Clamp(p, 1e-300, 1);
    }

    private static double LogBinomial(long n, long k, double p) =>
        LogFactorial(n) - LogFactorial(k) - LogFactorial(n - k) + k * Math.Log(p) + (n - k) * Math.Log(1 - p);

    private static double LogFactorial(long n) => n < 2 ? 0 : LogGamma(n + 1.0);

    // Lanczos approximation (g = 7, n = 9), accurate to about 15 digits for x > 0.5.
    private static double LogGamma(double x)
    {
        double[] c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
        x -= 1;
        var a = c[0];
        var t = x + 7.5;
        for (var i = 1; i < 9; i++) a += c[i] / (x + i);
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(a);
    }

    /// <summary>
    /// Poisson z of a count against the count a reference rate predicts, with the reference's own
    /// uncertainty: calls over <paramref name="minutes"/> against refCalls over refMinutes.
    /// </summary>
    public static double PoissonRates(double calls, double minutes, double refCalls, double refMinutes)
    {
        if (minutes <= 0 || refMinutes <= 0) return 0;
        return Poisson(calls, refCalls / refMinutes * minutes);
    }

    private static double Z(double difference, double se) =>
        se > 0 ? difference / se : difference == 0 ? 0 : Math.CopySign(double.PositiveInfinity, difference);

    /// <summary>Φ⁻¹(p) by Acklam's rational approximation (relative error below 1.2e-9), p in (0, 1).</summary>
    public static double InverseNormal(double p)
    {
        if (p <= 0) return double.NegativeInfinity;
        if (p >= 1) return double.PositiveInfinity;
        double[] a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
        double[] b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
        double[] c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
        double[] d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
        const double low = 0.02425;
        if (p < low)
        {
            var q = Math.Sqrt(-2 * Math.Log(p));
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        if (p > 1 - low)
        {
            var q = Math.Sqrt(-2 * Math.Log(1 - p));
            return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        var r = p - 0.5;
        var s = r * r;
        return (((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5]) * r / (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1);
    }
}
