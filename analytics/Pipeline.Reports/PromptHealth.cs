using System.Globalization;
using System.Text.Json;
using Pipeline.Aggregation;
using Pipeline.ClickHouse;

namespace Pipeline.Reports;

/// <summary>Traffic-light status, with the product's thresholds.</summary>
public enum HealthStatus
{
    Green,
    Yellow,
    Red,
}

/// <summary>
/// Health thresholds (per prompt configurable): red when quality &lt; 0.8, mean latency &gt; 1000 ms or
/// success &lt; 95%; yellow when quality &lt; 0.9, mean latency &gt; 500 ms or success &lt; 98%.
/// </summary>
public sealed record HealthThresholds
{
    public double RedQuality { get; init; } = 0.8;
    public double RedLatencyMs { get; init; } = 1000;
    public double RedSuccess { get; init; } = 0.95;
    public double YellowQuality { get; init; } = 0.9;
    public double YellowLatencyMs { get; init; } = 500;
    public double YellowSuccess { get; init; } = 0.98;

    public HealthStatus Classify(double successRate, double meanLatencyMs, double? quality) =>
        successRate < RedSuccess || meanLatencyMs > RedLatencyMs || quality < RedQuality ? HealthStatus.Red
        : successRate < YellowSuccess || meanLatencyMs > YellowLatencyMs || quality < YellowQuality ? HealthStatus.Yellow
        : HealthStatus.Green;
}

/// <summary>One prompt version on one model over a time range, from merged closed windows.</summary>
public sealed record PromptHealth
{
    public required string Environment { get; init; }
    public required string Service { get; init; }
    public required string PromptName { get; init; }
    public required string PromptVersion { get; init; }
    public required string Model { get; init; }
    public long Calls { get; init; }
    /// <summary>Events received (unweighted); fewer than <see cref="Calls"/> when the producer sampled.</summary>
    public long Events { get; init; }
    /// <summary>
    /// Half-width of the 95% interval of <see cref="Calls"/> when it is an estimate (some events carried a
    /// sample rate below 1): 1.96 x sqrt(sum of w(w-1) over those events, w = 1/sample_rate); null when exact.
    /// </summary>
    public double? CallsBound { get; init; }
    /// <summary>True when <see cref="Calls"/> (and the sums) are estimated from sampled events.</summary>
    public bool IsEstimated => CallsBound is not null;
    public double CallsPerMinute { get; init; }
    public double SuccessRate { get; init; }
    public double MeanLatencyMs { get; init; }
    public double P50Ms { get; init; }
    public double P95Ms { get; init; }
    public double P99Ms { get; init; }
    public long Tokens { get; init; }
    /// <summary>Input tokens of <see cref="Tokens"/>.</summary>
    public long InputTokens { get; init; }
    /// <summary>Output tokens of <see cref="Tokens"/>.</summary>
    public long OutputTokens { get; init; }
    /// <summary>
    /// Reported plus priced cost of the calls that have one; null when none has (every call unpriced: its model
    /// has no price and the event no <c>cost_usd</c>), never a 0 that reads as free.
    /// </summary>
    public double? CostUsd { get; init; }
    /// <summary>Calls with no cost (no <c>cost_usd</c> and no price for the model): left out of <see cref="CostUsd"/>.</summary>
    public long UnpricedCalls { get; init; }
    /// <summary>Cost per call over the calls that have a cost; null when none has.</summary>
    public double? CostPerCallUsd => CostUsd is { } c && Calls > UnpricedCalls ? c / (Calls - UnpricedCalls) : null;
    public double? QualityMean { get; init; }
    public DateTimeOffset LastWindowEnd { get; init; }
    public HealthStatus Status { get; init; }

    /// <summary>
    /// Health of every series in <paramref name="scope"/> with closed windows in [from, to).
    /// Percentiles merge the windows' sketches (1% relative error); counts and sums are exact, or, for series
    /// the producer sampled, estimates with <see cref="CallsBound"/>.
    /// </summary>
    public static async Task<IReadOnlyList<PromptHealth>> QueryAsync(ClickHouseHttp clickHouse, DateTimeOffset from, DateTimeOffset to,
        HealthThresholds thresholds, SeriesScope scope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(clickHouse);
        ArgumentNullException.ThrowIfNull(thresholds);
        ArgumentNullException.ThrowIfNull(scope);
        var rows = await clickHouse.QueryAsync($"""
            SELECT environment, service, prompt_name, prompt_version, request_model, toUInt32(window_start) AS ws, window_seconds,
                   calls, events, successes, latency_sum_ms, latency_sketch, input_tokens + output_tokens AS tokens, input_tokens, output_tokens, cost_usd, unpriced_calls, quality_sum, quality_count
            FROM metrics_1m FINAL
            WHERE window_start >= {from.ToUnixTimeSeconds()} AND window_start < {to.ToUnixTimeSeconds()} AND {scope.Sql()}
            """, cancellationToken);
        var minutes = CoveredMinutes(from, to, rows.Select(r => (L(r, "ws"), L(r, "window_seconds"))));
        // Sampled series only (calls > events): the variance of their estimate, from the sampled events themselves.
        var variance = new Dictionary<(string, string, string, string, string), double>();
        if (rows.Any(r => L(r, "calls") > L(r, "events")))
        {
            var sampled = await clickHouse.QueryAsync($"""
                SELECT environment, service, prompt_name, prompt_version, request_model, sum((1 / sample_rate) * (1 / sample_rate - 1)) AS v
                FROM calls FINAL
                WHERE occurred_at >= {from.ToUnixTimeSeconds()} AND occurred_at < {to.ToUnixTimeSeconds()} AND sample_rate < 1 AND {scope.Sql()}
                GROUP BY environment, service, prompt_name, prompt_version, request_model
                """, cancellationToken);
            foreach (var r in sampled) variance[(S(r, "environment"), S(r, "service"), S(r, "prompt_name"), S(r, "prompt_version"), S(r, "request_model"))] = StoredValues.Number(r, "v");
        }
        return rows.GroupBy(r => (S(r, "environment"), S(r, "service"), S(r, "prompt_name"), S(r, "prompt_version"), S(r, "request_model")))
            .Select(g =>
            {
                var sketch = new QuantileSketch();
                foreach (var r in g) sketch.Merge(QuantileSketch.FromStored(S(r, "latency_sketch")));
                var calls = g.Sum(r => L(r, "calls"));
                var events = g.Sum(r => L(r, "events"));
                double? bound = events < calls ? 1.96 * Math.Sqrt(variance.GetValueOrDefault(g.Key)) : null;
                var success = calls == 0 ? 1 : (double)g.Sum(r => L(r, "successes")) / calls;
                var mean = calls == 0 ? 0 : g.Sum(r => StoredValues.Number(r, "latency_sum_ms")) / calls;
                var qualityCount = g.Sum(r => L(r, "quality_count"));
                double? quality = qualityCount == 0 ? null : g.Sum(r => StoredValues.Number(r, "quality_sum")) / qualityCount;
                var unpriced = Math.Min(calls, g.Sum(r => L(r, "unpriced_calls")));
                return new PromptHealth
                {
                    Environment = g.Key.Item1, Service = g.Key.Item2, PromptName = g.Key.Item3, PromptVersion = g.Key.Item4, Model = g.Key.Item5,
                    Calls = calls,
                    Events = events,
                    CallsBound = bound,
                    CallsPerMinute = calls / minutes,
                    SuccessRate = success,
                    MeanLatencyMs = mean,
                    P50Ms = sketch.Quantile(0.5),
                    P95Ms = sketch.Quantile(0.95),
                    P99Ms = sketch.Quantile(0.99),
                    Tokens = g.Sum(r => L(r, "tokens")),
                    InputTokens = g.Sum(r => L(r, "input_tokens")),
                    OutputTokens = g.Sum(r => L(r, "output_tokens")),
                    CostUsd = calls > 0 && unpriced >= calls ? null : g.Sum(r => StoredValues.Number(r, "cost_usd")),
                    UnpricedCalls = unpriced,
                    QualityMean = quality,
                    LastWindowEnd = DateTimeOffset.FromUnixTimeSeconds(g.Max(r => L(r, "ws") + L(r, "window_seconds"))),
                    Status = thresholds.Classify(success, mean, quality),
                };
            })
            .OrderBy(h => h.PromptName, StringComparer.Ordinal).ThenBy(h => h.PromptVersion, StringComparer.Ordinal)
            .ThenBy(h => h.Environment, StringComparer.Ordinal).ThenBy(h => h.Service, StringComparer.Ordinal).ThenBy(h => h.Model, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>
    /// The minutes of [<paramref name="from"/>, <paramref name="to"/>) that closed windows cover, the divisor of every
    /// per-minute rate: from the range start (or the first window, when data begins later) to the end of the newest
    /// closed window. Minutes not closed yet (the last one or two of a live range) are unknown, not minutes without
    /// calls; a minute inside the covered span with no window of a series had no calls. At least 1.
    /// </summary>
    /// <param name="windows">Start (Unix seconds) and length in seconds of each closed window in the range.</param>
    public static double CoveredMinutes(DateTimeOffset from, DateTimeOffset to, IEnumerable<(long StartSeconds, long Seconds)> windows)
    {
        ArgumentNullException.ThrowIfNull(windows);
        long? first = null, last = null;
        foreach (var (start, seconds) in windows)
        {
            if (first is null || start < first) first = start;
            if (last is null || start + seconds > last) last = start + seconds;
        }
        if (first is null || last is null) return Math.Max(1, (to - from).TotalMinutes);
        var begin = Math.Max(from.ToUnixTimeSeconds(), first.Value);
        var end = Math.Min(to.ToUnixTimeSeconds(), last.Value);
        return Math.Max(1, (end - begin) / 60.0);
    }

    /// <summary>A call count as the terminal and reports print it: <c>12,340</c>, or <c>~12,340 ±410</c> when it is estimated from sampled events (95%).</summary>
    public static string FormatCalls(long calls, double? bound) => bound is { } b
        ? $"~{calls.ToString("N0", CultureInfo.InvariantCulture)} ±{b.ToString("N0", CultureInfo.InvariantCulture)}"
        : calls.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>
    /// A cost as the terminal and reports print it: <c>unpriced</c> when no call has a cost, the amount with
    /// <c>(+N unpriced)</c> when some have none (their cost is missing from it), else the amount.
    /// </summary>
    public static string FormatCost(double? costUsd, long unpricedCalls, string format = "0.0000")
    {
        if (costUsd is not { } cost) return "unpriced";
        var amount = cost.ToString(format, CultureInfo.InvariantCulture);
        return unpricedCalls > 0 ? $"{amount} (+{unpricedCalls.ToString("N0", CultureInfo.InvariantCulture)} unpriced)" : amount;
    }

    private static string S(JsonElement r, string name) => r.GetProperty(name).GetString() ?? "";

    private static long L(JsonElement r, string name) => StoredValues.Count(r, name);
}
