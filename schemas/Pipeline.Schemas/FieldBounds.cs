namespace Pipeline.Schemas;

/// <summary>
/// The documented range of every number an event carries and every sum a window stores. The SDK's edge
/// rules, <see cref="LlmCallValidator"/> and the window sums all read these, and the hostile-input tests
/// check stored rows against them, so a bound lives in exactly one place.
/// </summary>
public static class FieldBounds
{
    /// <summary>Smallest accepted <c>sample_rate</c>: one event stands for at most a million calls.</summary>
    public const double MinSampleRate = 1e-6;
    /// <summary>Largest weight an event carries (1 / <see cref="MinSampleRate"/>).</summary>
    public const long MaxWeight = 1_000_000;
    /// <summary>Longest accepted latency, time to first token or stage duration: one day, in ms.</summary>
    public const double MaxDurationMs = 86_400_000;
    /// <summary>Most tokens (input, output or cached) one call may report.</summary>
    public const long MaxTokens = 100_000_000;
    /// <summary>Largest cost one call may report, in USD.</summary>
    public const double MaxCostUsd = 10_000;
    /// <summary>Most retries one call may report.</summary>
    public const int MaxRetryCount = 1_000;
    /// <summary>Largest magnitude of a custom metric value.</summary>
    public const double MaxCustomMagnitude = 1e12;
    /// <summary>Accepted HTTP status codes.</summary>
    public const int MinHttpStatus = 100, MaxHttpStatus = 599;
    /// <summary>Earliest and latest event time a ClickHouse <c>DateTime</c> column holds (unix seconds).</summary>
    public const long MinEventUnixSeconds = 0, MaxEventUnixSeconds = 4_102_444_800; // 2100-01-01

    /// <summary>
    /// Window counts and integer sums saturate here (2^53: the largest integer a double, and so every JSON
    /// reader, holds exactly), and the window is flagged; they never wrap.
    /// </summary>
    public const long MaxWindowSum = 1L << 53;
    /// <summary>Most distinct stage names, and most distinct custom metric names, one window keeps; further names are counted, not kept.</summary>
    public const int MaxWindowNames = 256;

    /// <summary><paramref name="a"/> + <paramref name="b"/> for non-negative terms, saturating at <see cref="MaxWindowSum"/>; sets <paramref name="saturated"/>.</summary>
    public static long AddSaturating(long a, long b, ref bool saturated)
    {
        if (b > MaxWindowSum - a)
        {
            saturated = true;
            return MaxWindowSum;
        }
        return a + b;
    }

    /// <summary><paramref name="a"/> * <paramref name="b"/> for non-negative terms, saturating at <see cref="MaxWindowSum"/>.</summary>
    public static long MultiplySaturating(long a, long b, ref bool saturated)
    {
        if (a != 0 && b > MaxWindowSum / a)
        {
            saturated = true;
            return MaxWindowSum;
        }
        return a * b;
    }
}
