using System.Globalization;
using System.Text.Json;
using Pipeline.Aggregation;
using Pipeline.ClickHouse;
using Pipeline.Reports;

namespace Pipeline.Dashboard;

/// <summary>A time range of the API: a preset (<c>1h</c>, <c>24h</c>, <c>7d</c>, <c>30d</c>) or <c>from</c>/<c>to</c>.</summary>
public readonly record struct TimeRange(DateTimeOffset From, DateTimeOffset To)
{
    /// <summary>Longest range the API serves.</summary>
    public static readonly TimeSpan MaxSpan = TimeSpan.FromDays(92);

    private static readonly Dictionary<string, TimeSpan> Presets = new(StringComparer.Ordinal)
    {
        ["1h"] = TimeSpan.FromHours(1), ["24h"] = TimeSpan.FromHours(24), ["7d"] = TimeSpan.FromDays(7), ["30d"] = TimeSpan.FromDays(30),
    };

    public TimeSpan Span => To - From;

    /// <summary>Parses the query parameters; on failure <paramref name="error"/> names the parameter.</summary>
    public static bool TryParse(string? range, string? from, string? to, DateTimeOffset now, out TimeRange result, out string? error)
    {
        result = default;
        error = null;
        if (!string.IsNullOrEmpty(from) || !string.IsNullOrEmpty(to))
        {
            if (!TryDate(from, out var f)) { error = "from: not an ISO 8601 date and time (example: 2026-11-23T09:00:00Z)"; return false; }
            if (!TryDate(to, out var t)) { error = "to: not an ISO 8601 date and time (example: 2026-11-23T10:00:00Z)"; return false; }
            if (t <= f) { error = "to: must be after from"; return false; }
            if (t - f > MaxSpan) { error = $"from/to: at most {MaxSpan.TotalDays:0} days"; return false; }
            result = new TimeRange(f, t);
            return true;
        }
        var preset = string.IsNullOrEmpty(range) ? "24h" : range;
        if (!Presets.TryGetValue(preset, out var span)) { error = $"range: '{preset}' is not one of {string.Join(", ", Presets.Keys)}"; return false; }
        result = new TimeRange(now - span, now);
        return true;
    }

    private static bool TryDate(string? s, out DateTimeOffset value) =>
        DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value);
}

/// <summary>Which series a request is about (API parameters <c>prompt</c>, <c>version</c>, <c>model</c>, <c>environment</c>, <c>service</c>); empty fields match everything.</summary>
public sealed record SeriesFilter(string? Prompt, string? Version, string? Model, string? Environment = null, string? Service = null)
{
    /// <summary>Everything.</summary>
    public static SeriesFilter All { get; } = new(null, null, null);

    /// <summary>The environment and service part.</summary>
    public SeriesScope Scope => new(Environment, Service);

    /// <summary>True when it names anything to look for.</summary>
    public bool IsAll => string.IsNullOrEmpty(Prompt) && string.IsNullOrEmpty(Version) && string.IsNullOrEmpty(Model) && Scope.IsAll;

    /// <summary>The prompt, version and model part, in C# (the scope is already in the query).</summary>
    public bool Matches(PromptHealth health) =>
        health is not null && (string.IsNullOrEmpty(Prompt) || health.PromptName == Prompt) && (string.IsNullOrEmpty(Version) || health.PromptVersion == Version)
        && (string.IsNullOrEmpty(Model) || health.Model == Model);

    public string Sql()
    {
        var parts = new List<string>();
        if (!string.IsNullOrEmpty(Prompt)) parts.Add($"prompt_name = {ClickHouseHttp.Quote(Prompt)}");
        if (!string.IsNullOrEmpty(Version)) parts.Add($"prompt_version = {ClickHouseHttp.Quote(Version)}");
        if (!string.IsNullOrEmpty(Model)) parts.Add($"request_model = {ClickHouseHttp.Quote(Model)}");
        if (!Scope.IsAll) parts.Add(Scope.Sql());
        return parts.Count == 0 ? "1" : string.Join(" AND ", parts);
    }

    /// <summary>For a 404: <c>unknown prompt 'x' version '2' in environment 'prod'</c>.</summary>
    public string Describe()
    {
        var parts = new List<string>();
        if (!string.IsNullOrEmpty(Prompt)) parts.Add($"prompt '{Prompt}'");
        if (!string.IsNullOrEmpty(Version)) parts.Add($"version '{Version}'");
        if (!string.IsNullOrEmpty(Model)) parts.Add($"model '{Model}'");
        if (!string.IsNullOrEmpty(Environment)) parts.Add($"environment '{Environment}'");
        if (!string.IsNullOrEmpty(Service)) parts.Add($"service '{Service}'");
        return string.Join(" ", parts);
    }
}

/// <summary>An unknown prompt, version or model was asked for (HTTP 404).</summary>
public sealed class UnknownSeriesException(string message) : Exception(message);

/// <summary>
/// The dashboard's reads, as the read-only analyst: counts and sums exact from <c>metrics_1m FINAL</c>,
/// percentiles from merged DDSketches (1% relative error), everything else from the analyst tables.
/// Every literal is quoted with <see cref="ClickHouseHttp.Quote"/>.
/// </summary>
public sealed class DashboardQueries(ClickHouseHttp clickHouse, DashboardOptions options, TimeProvider time)
{
    public HealthThresholds Thresholds { get; } = new();

    /// <summary>A 404 (<see cref="UnknownSeriesException"/>) when the filter names a prompt, version, model, environment or service never seen.</summary>
    public async Task CheckKnownAsync(SeriesFilter filter, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(filter);
        if (filter.IsAll) return;
        if (await clickHouse.ScalarAsync($"SELECT count() FROM metrics_1m WHERE {filter.Sql()}", ct) == 0)
        {
            throw new UnknownSeriesException($"unknown {filter.Describe()}");
        }
    }

    /// <summary>Health of every series in <paramref name="scope"/> (environment and service).</summary>
    public Task<IReadOnlyList<PromptRow>> PromptsAsync(TimeRange range, SeriesScope scope, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        return PromptsAsync(range, new SeriesFilter(null, null, null, scope.Environment, scope.Service), ct);
    }

    /// <summary>Health of every series that <paramref name="filter"/> matches.</summary>
    public async Task<IReadOnlyList<PromptRow>> PromptsAsync(TimeRange range, SeriesFilter filter, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var plan = await PlanAsync(range, 3600, ct);
        if (plan.UsesRollups) return await LongPromptsAsync(plan, filter, ct);
        var health = (await PromptHealth.QueryAsync(clickHouse, range.From, range.To, Thresholds, filter.Scope, ct)).Where(filter.Matches).ToList();
        var errors = await clickHouse.QueryAsync($"""
            SELECT environment, service, prompt_name, prompt_version, request_model, sum(errors) AS e, sum(input_tokens) AS i, sum(output_tokens) AS o
            FROM metrics_1m FINAL WHERE {Range("window_start", range)} AND {filter.Sql()}
            GROUP BY environment, service, prompt_name, prompt_version, request_model
            """, ct);
        var extra = errors.ToDictionary(r => (S(r, "environment"), S(r, "service"), S(r, "prompt_name"), S(r, "prompt_version"), S(r, "request_model")),
            r => (L(r, "e"), L(r, "i"), L(r, "o")));
        return health.Select(h =>
        {
            var (e, i, o) = extra.GetValueOrDefault((h.Environment, h.Service, h.PromptName, h.PromptVersion, h.Model));
            return new PromptRow(h.Environment, h.Service, h.PromptName, h.PromptVersion, h.Model, h.Calls, h.SuccessRate,
                h.Calls == 0 ? 0 : (double)e / h.Calls, h.MeanLatencyMs, h.P50Ms, h.P95Ms, h.P99Ms, i, o,
                h.Calls == 0 ? 0 : (double)(i + o) / h.Calls, h.CostUsd, h.CostPerCallUsd, h.UnpricedCalls, h.QualityMean,
                h.Status.ToString().ToLowerInvariant(), h.IsEstimated, h.CallsBound);
        }).ToList();
    }

    /// <summary>
    /// <see cref="PromptsAsync(TimeRange, SeriesFilter, CancellationToken)"/> of a range the rollups mostly answer:
    /// per series, rolled hours summed in ClickHouse and the rest from minutes, percentiles from the hours' t-digests
    /// (re-sampled at <see cref="RollupPlan.Ranks"/>) merged with the minutes' sketches. A sampled series is marked
    /// estimated with its bound (<see cref="SampledVarianceAsync"/>).
    /// </summary>
    private async Task<IReadOnlyList<PromptRow>> LongPromptsAsync(RollupPlan plan, SeriesFilter filter, CancellationToken ct)
    {
        const string key = "environment, service, prompt_name, prompt_version, request_model";
        var minutes = await clickHouse.QueryAsync($"""
            SELECT {key}, calls, events, successes, errors, latency_sum_ms, latency_sketch, input_tokens, output_tokens, cost_usd, unpriced_calls, quality_sum, quality_count
            FROM metrics_1m FINAL WHERE {RollupPlan.Sql("window_start", plan.Minutes)} AND {filter.Sql()}
            """, ct);
        var hours = await RolledAsync(plan, $"""
            SELECT {key}, sumMerge(requests_state) AS calls, sumMerge(events_state) AS events, sumMerge(successes_state) AS successes,
                sumMerge(errors_state) AS errors, sumMerge(latency_sum_state) AS latency_sum_ms, sumMerge(input_tokens_state) AS input_tokens,
                sumMerge(output_tokens_state) AS output_tokens, sumMerge(cost_state) AS cost_usd, sumMerge(unpriced_state) AS unpriced_calls,
                sumMerge(quality_sum_state) AS quality_sum, sumMerge(quality_count_state) AS quality_count,
                quantilesTDigestMerge({RanksSql})(latency_quantiles_state) AS ranks
            """, filter, $"GROUP BY {key} HAVING calls > 0", ct);
        var variance = minutes.Concat(hours).Any(r => L(r, "events") is > 0 and var e && e < L(r, "calls"))
            ? await SampledVarianceAsync(plan, minutes, filter, ct) : [];
        return minutes.Concat(hours)
            .GroupBy(r => (S(r, "environment"), S(r, "service"), S(r, "prompt_name"), S(r, "prompt_version"), S(r, "request_model")))
            .Select(g =>
            {
                var sketch = new QuantileSketch();
                foreach (var r in g)
                {
                    if (r.TryGetProperty("ranks", out _)) RollupPlan.AddRanks(sketch, Numbers(r, "ranks"), L(r, "calls"));
                    else sketch.Merge(QuantileSketch.FromStored(S(r, "latency_sketch")));
                }
                var calls = g.Sum(r => L(r, "calls"));
                // Days rolled up before migration 009 carry no event count: their calls were events.
                var events = g.Sum(r => L(r, "events") == 0 ? L(r, "calls") : L(r, "events"));
                var success = calls == 0 ? 1 : (double)g.Sum(r => L(r, "successes")) / calls;
                var mean = calls == 0 ? 0 : g.Sum(r => StoredValues.Number(r, "latency_sum_ms")) / calls;
                var qualityCount = g.Sum(r => L(r, "quality_count"));
                double? quality = qualityCount == 0 ? null : g.Sum(r => StoredValues.Number(r, "quality_sum")) / qualityCount;
                long input = g.Sum(r => L(r, "input_tokens")), output = g.Sum(r => L(r, "output_tokens"));
                var unpriced = Math.Min(calls, g.Sum(r => L(r, "unpriced_calls")));
                var cost = Known(g.Sum(r => StoredValues.Number(r, "cost_usd")), calls, unpriced);
                return new PromptRow(g.Key.Item1, g.Key.Item2, g.Key.Item3, g.Key.Item4, g.Key.Item5, calls, success,
                    calls == 0 ? 0 : (double)g.Sum(r => L(r, "errors")) / calls, mean, sketch.Quantile(0.5), sketch.Quantile(0.95), sketch.Quantile(0.99),
                    input, output, calls == 0 ? 0 : (double)(input + output) / calls, cost,
                    cost is { } c && calls > unpriced ? c / (calls - unpriced) : null, unpriced, quality,
                    Thresholds.Classify(success, mean, quality).ToString().ToLowerInvariant(), events < calls,
                    events < calls ? 1.96 * Math.Sqrt(variance.GetValueOrDefault(g.Key)) : null);
            })
            .OrderBy(p => p.PromptName, StringComparer.Ordinal).ThenBy(p => p.PromptVersion, StringComparer.Ordinal)
            .ThenBy(p => p.Environment, StringComparer.Ordinal).ThenBy(p => p.Service, StringComparer.Ordinal).ThenBy(p => p.Model, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>
    /// Totals of the range, and in <see cref="Overview.Previous"/> those of the period of the same length right
    /// before it (what the tiles compare against).
    /// </summary>
    public async Task<Overview> OverviewAsync(TimeRange range, SeriesFilter filter, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var current = await TotalsAsync(range, filter, ct);
        var previous = await TotalsAsync(new TimeRange(range.From - range.Span, range.From), filter, ct);
        var firing = await FiringCountAsync(filter, ct);
        var newest = await clickHouse.ScalarAsync("SELECT toUInt32(max(emitted_at)) FROM metrics_1m", ct);
        double? freshness = newest > 0 ? (time.GetUtcNow() - DateTimeOffset.FromUnixTimeSeconds((long)newest)).TotalSeconds : null;
        return current with { ActiveAlerts = firing, FreshnessSeconds = freshness, Previous = previous };
    }

    private async Task<Overview> TotalsAsync(TimeRange range, SeriesFilter filter, CancellationToken ct)
    {
        var plan = await PlanAsync(range, 3600, ct);
        var rows = await clickHouse.QueryAsync($"""
            SELECT calls, successes, errors, latency_sum_ms, latency_sketch, input_tokens, output_tokens, cost_usd, unpriced_calls
            FROM metrics_1m FINAL WHERE {RollupPlan.Sql("window_start", plan.Minutes)} AND {filter.Sql()}
            """, ct);
        var sketch = new QuantileSketch();
        long calls = 0, successes = 0, errors = 0, input = 0, output = 0, unpriced = 0;
        double latencySum = 0, cost = 0;
        double? p50 = null, p95 = null, p99 = null;
        var hours = !plan.UsesRollups ? [] : (await RolledAsync(plan, $"""
            SELECT sumMerge(requests_state) AS calls, sumMerge(successes_state) AS successes, sumMerge(errors_state) AS errors,
                sumMerge(latency_sum_state) AS latency_sum_ms, sumMerge(input_tokens_state) AS input_tokens, sumMerge(output_tokens_state) AS output_tokens,
                sumMerge(cost_state) AS cost_usd, sumMerge(unpriced_state) AS unpriced_calls,
                quantilesTDigestMerge({RanksSql})(latency_quantiles_state) AS ranks, quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_quantiles_state) AS q
            """, filter, "", ct)).Where(h => L(h, "calls") > 0).ToList();
        // Rollups alone (one source row): their own t-digest answers, not the re-sampled ranks.
        if (rows.Count == 0 && hours is [var only] && Numbers(only, "q") is [var a, var b, var c] && double.IsFinite(a)) (p50, p95, p99) = (a, b, c);
        foreach (var r in rows.Concat(hours))
        {
            calls += L(r, "calls");
            successes += L(r, "successes");
            errors += L(r, "errors");
            input += L(r, "input_tokens");
            output += L(r, "output_tokens");
            unpriced += L(r, "unpriced_calls");
            latencySum += StoredValues.Number(r, "latency_sum_ms");
            cost += StoredValues.Number(r, "cost_usd");
            if (r.TryGetProperty("ranks", out _)) RollupPlan.AddRanks(sketch, Numbers(r, "ranks"), L(r, "calls"));
            else sketch.Merge(QuantileSketch.FromStored(S(r, "latency_sketch")));
        }
        return new Overview(range.From, range.To, calls,
            calls == 0 ? null : (double)successes / calls, calls == 0 ? null : (double)errors / calls,
            calls == 0 ? null : latencySum / calls,
            p50 ?? (sketch.Count == 0 ? null : sketch.Quantile(0.5)), p95 ?? (sketch.Count == 0 ? null : sketch.Quantile(0.95)),
            p99 ?? (sketch.Count == 0 ? null : sketch.Quantile(0.99)),
            input, output, Known(cost, calls, unpriced), Math.Min(unpriced, calls), 0, null, calls == 0 ? "no data in this range" : null);
    }

    /// <summary>
    /// The variance of each sampled series' estimated count over a long range, where the raw calls (their own sample
    /// rates) are too many to read: per minute window, rolled hour or rolled day, calls x (w - 1) with w = calls / events,
    /// exact when the events of one window, hour or day share one sample rate (an SDK samples a service at one rate).
    /// Rates mixed within one make the true variance larger (sum of w(w - 1) is smallest when the w are equal): the
    /// page states the assumption.
    /// </summary>
    private async Task<Dictionary<(string, string, string, string, string), double>> SampledVarianceAsync(RollupPlan plan, IReadOnlyList<JsonElement> minutes, SeriesFilter filter, CancellationToken ct)
    {
        const string key = "environment, service, prompt_name, prompt_version, request_model";
        var (days, hours) = plan.WholeDays();
        var parts = new List<JsonElement>(minutes);
        var select = $"SELECT {key}, sumMerge(requests_state) AS calls, sumMerge(events_state) AS events";
        if (days.Count > 0) parts.AddRange(await clickHouse.QueryAsync($"{select} FROM metrics_1d WHERE {RollupPlan.DaySql("day", days)} AND {filter.Sql()} GROUP BY {key}, day HAVING events > 0 AND events < calls", ct));
        if (hours.Count > 0) parts.AddRange(await clickHouse.QueryAsync($"{select} FROM metrics_1h WHERE {RollupPlan.Sql("hour", hours)} AND {filter.Sql()} GROUP BY {key}, hour HAVING events > 0 AND events < calls", ct));
        var variance = new Dictionary<(string, string, string, string, string), double>();
        foreach (var r in parts)
        {
            double calls = L(r, "calls"), events = L(r, "events");
            if (events <= 0 || events >= calls) continue;
            var k = (S(r, "environment"), S(r, "service"), S(r, "prompt_name"), S(r, "prompt_version"), S(r, "request_model"));
            variance[k] = variance.GetValueOrDefault(k) + calls * (calls / events - 1);
        }
        return variance;
    }

    /// <summary>
    /// <paramref name="select"/> over the plan's rolled whole days (<c>metrics_1d</c>) and its remaining rolled hours
    /// (<c>metrics_1h</c>): one result set of each (same columns), for the caller to add up.
    /// </summary>
    private async Task<IReadOnlyList<JsonElement>> RolledAsync(RollupPlan plan, string select, SeriesFilter filter, string tail, CancellationToken ct)
    {
        var (days, hours) = plan.WholeDays();
        var result = new List<JsonElement>();
        if (days.Count > 0) result.AddRange(await clickHouse.QueryAsync($"{select} FROM metrics_1d WHERE {RollupPlan.DaySql("day", days)} AND {filter.Sql()} {tail}", ct));
        if (hours.Count > 0) result.AddRange(await clickHouse.QueryAsync($"{select} FROM metrics_1h WHERE {RollupPlan.Sql("hour", hours)} AND {filter.Sql()} {tail}", ct));
        return result;
    }

    private static readonly string RanksSql = string.Join(", ", RollupPlan.Ranks.Select(r => r.ToString("R", CultureInfo.InvariantCulture)));

    /// <summary>Which parts of <paramref name="range"/> the hourly rollups answer (<see cref="RollupPlan"/>).</summary>
    private async Task<RollupPlan> PlanAsync(TimeRange range, int bucketSeconds, CancellationToken ct)
    {
        if (range.Span < RollupPlan.LongRange || bucketSeconds % 3600 != 0) return RollupPlan.MinutesOnly(range);
        var days = await clickHouse.QueryAsync($"""
            SELECT toString(day) AS d, toUInt32(max(rolled_at)) AS built FROM rollup_log
            WHERE day >= toDate('{range.From.UtcDateTime:yyyy-MM-dd}') AND day <= toDate('{range.To.UtcDateTime:yyyy-MM-dd}') GROUP BY day
            """, ct);
        var rolled = days.ToDictionary(
            d => new DateTimeOffset(DateTime.ParseExact(S(d, "d"), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal), TimeSpan.Zero),
            d => DateTimeOffset.FromUnixTimeSeconds(L(d, "built")));
        return RollupPlan.For(range, rolled, bucketSeconds);
    }

    private static double[] Numbers(JsonElement r, string name) =>
        r.GetProperty(name).EnumerateArray().Select(e => e.ValueKind switch
        {
            JsonValueKind.String => double.Parse(e.GetString()!, CultureInfo.InvariantCulture),
            JsonValueKind.Number => e.GetDouble(),
            _ => double.NaN, // an hour of windows without raw calls has an empty t-digest
        }).ToArray();

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;

    /// <summary>A cost sum, or null when every one of <paramref name="calls"/> is unpriced (a sum of nothing known is not $0).</summary>
    private static double? Known(double cost, long calls, long unpriced) => calls > 0 && unpriced >= calls ? null : cost;

    public async Task<TimeSeries> TimeSeriesAsync(TimeRange range, SeriesFilter filter, CancellationToken ct)
    {
        var bucket = BucketSeconds(range.Span);
        var plan = await PlanAsync(range, bucket, ct);
        var rows = await clickHouse.QueryAsync($"""
            SELECT intDiv(toUInt32(window_start), {bucket}) * {bucket} AS b, calls, successes, errors, latency_sketch, cost_usd, unpriced_calls
            FROM metrics_1m FINAL WHERE {RollupPlan.Sql("window_start", plan.Minutes)} AND {filter.Sql()} ORDER BY b
            """, ct);
        // Whole buckets of rolled hours: summed in ClickHouse, percentiles from the hours' t-digests.
        var rolled = !plan.UsesRollups ? [] : (await clickHouse.QueryAsync($"""
            SELECT intDiv(toUInt32(hour), {bucket}) * {bucket} AS b, sumMerge(requests_state) AS calls, sumMerge(successes_state) AS successes,
                sumMerge(errors_state) AS errors, sumMerge(cost_state) AS cost_usd, sumMerge(unpriced_state) AS unpriced_calls,
                quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_quantiles_state) AS q
            FROM metrics_1h WHERE {RollupPlan.Sql("hour", plan.Hours)} AND {filter.Sql()} GROUP BY b HAVING calls > 0
            """, ct)).Select(r =>
            {
                var calls = L(r, "calls");
                var q = Numbers(r, "q");
                return new TimePoint(DateTimeOffset.FromUnixTimeSeconds(L(r, "b")), calls, (double)L(r, "successes") / calls, (double)L(r, "errors") / calls,
                    Finite(q[0]), Finite(q[1]), Finite(q[2]), Known(StoredValues.Number(r, "cost_usd"), calls, L(r, "unpriced_calls")), Math.Min(calls, L(r, "unpriced_calls")));
            }).ToList();
        var points = rows.GroupBy(r => L(r, "b")).Select(g =>
        {
            var sketch = new QuantileSketch();
            foreach (var r in g)
            {
                sketch.Merge(QuantileSketch.FromStored(S(r, "latency_sketch")));
            }
            var calls = g.Sum(r => L(r, "calls"));
            return new TimePoint(DateTimeOffset.FromUnixTimeSeconds(g.Key), calls,
                calls == 0 ? null : (double)g.Sum(r => L(r, "successes")) / calls, calls == 0 ? null : (double)g.Sum(r => L(r, "errors")) / calls,
                sketch.Count == 0 ? null : sketch.Quantile(0.5), sketch.Count == 0 ? null : sketch.Quantile(0.95), sketch.Count == 0 ? null : sketch.Quantile(0.99),
                Known(g.Sum(r => StoredValues.Number(r, "cost_usd")), calls, g.Sum(r => L(r, "unpriced_calls"))), Math.Min(calls, g.Sum(r => L(r, "unpriced_calls"))));
        }).Concat(rolled).OrderBy(p => p.At).ToList();
        var anomalies = (await clickHouse.QueryAsync($"""
            SELECT toUInt32(window_start) AS ws, prompt_name, prompt_version, request_model, metric, value, baseline_median, score
            FROM anomalies FINAL WHERE is_anomaly = 1 AND {Range("window_start", range)} AND {filter.Sql()} ORDER BY ws
            """, ct)).Select(r => new AnomalyMark(DateTimeOffset.FromUnixTimeSeconds(L(r, "ws")), S(r, "prompt_name"), S(r, "prompt_version"), S(r, "request_model"),
                S(r, "metric"), StoredValues.Number(r, "value"), StoredValues.Number(r, "baseline_median"), StoredValues.Number(r, "score"))).ToList();
        // A version's first minute ever (within the filter), when it falls in the range: its release.
        var releases = (await clickHouse.QueryAsync($"""
            SELECT prompt_name, prompt_version, toUInt32(min(window_start)) AS released
            FROM metrics_1m WHERE {filter.Sql()} GROUP BY prompt_name, prompt_version
            HAVING released >= {range.From.ToUnixTimeSeconds()} AND released < {range.To.ToUnixTimeSeconds()} ORDER BY released, prompt_name, prompt_version
            """, ct)).Select(r => new ReleaseMark(DateTimeOffset.FromUnixTimeSeconds(L(r, "released")), S(r, "prompt_name"), S(r, "prompt_version"))).ToList();
        return new TimeSeries(bucket, points, anomalies, releases, range.From, range.To);
    }

    /// <summary>
    /// Two or three series side by side, each later one against the first (<see cref="ReportBuilder.CompareAsync"/>,
    /// with its minimum sample per side). Within <paramref name="scope"/>; a later series is taken from the first
    /// one's environment and service when it ran there, so versions of another team's prompt of the same name are
    /// not its control.
    /// </summary>
    public async Task<Comparison> CompareAsync(TimeRange range, IReadOnlyList<SeriesFilter> series, SeriesScope scope, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(scope);
        var prompts = await PromptHealth.QueryAsync(clickHouse, range.From, range.To, Thresholds, scope, ct);
        var picked = new List<PromptHealth>();
        foreach (var s in series)
        {
            var matches = prompts.Where(p => p.PromptName == s.Prompt && (string.IsNullOrEmpty(s.Version) || p.PromptVersion == s.Version)
                && (string.IsNullOrEmpty(s.Model) || p.Model == s.Model)).ToList();
            var match = picked.Count > 0 && matches.Where(p => p.Environment == picked[0].Environment && p.Service == picked[0].Service).MaxBy(p => p.Calls) is { } same
                ? same : matches.MaxBy(p => p.Calls);
            picked.Add(match ?? throw new UnknownSeriesException($"no data for '{s.Prompt}@{s.Version}' in this range"
                + (scope.IsAll ? "" : $" for {scope}")));
        }
        var builder = new ReportBuilder(clickHouse);
        var verdicts = new List<VersionComparison>();
        for (var i = 1; i < picked.Count; i++)
        {
            verdicts.Add(await builder.CompareAsync(picked[0], picked[i], range.From.ToUnixTimeSeconds(), range.To.ToUnixTimeSeconds(), AbMinimums.Default, ct));
        }
        return new Comparison(picked.Select(h => new PromptRow(h.Environment, h.Service, h.PromptName, h.PromptVersion, h.Model, h.Calls, h.SuccessRate, 1 - h.SuccessRate,
            h.MeanLatencyMs, h.P50Ms, h.P95Ms, h.P99Ms, h.InputTokens, h.OutputTokens, h.Calls == 0 ? 0 : (double)h.Tokens / h.Calls, h.CostUsd, h.CostPerCallUsd, h.UnpricedCalls,
            h.QualityMean, h.Status.ToString().ToLowerInvariant())).ToList(), verdicts);
    }

    /// <summary>
    /// One prompt over the range, within the filter's environment, service and model: calls per version over
    /// time, each version's totals, share of traffic and first call, its A/B verdict against the version released
    /// before it (in the same environment, service and model; <see cref="ReportBuilder.CompareAsync"/> with
    /// <see cref="AbMinimums.Default"/>), stage time and the top error types. Null when the prompt has no calls in the range.
    /// </summary>
    public async Task<PromptDetail?> PromptDetailAsync(TimeRange range, SeriesFilter filter, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var bucket = BucketSeconds(range.Span);
        var where = $"{Range("window_start", range)} AND {filter.Sql()}";
        var health = (await PromptHealth.QueryAsync(clickHouse, range.From, range.To, Thresholds, filter.Scope, ct)).Where(filter.Matches).ToList();
        if (health.Count == 0) return null;
        var points = (await clickHouse.QueryAsync($"""
            SELECT intDiv(toUInt32(window_start), {bucket}) * {bucket} AS b, prompt_version, sum(calls) AS calls
            FROM metrics_1m FINAL WHERE {where} GROUP BY b, prompt_version ORDER BY b, prompt_version
            """, ct)).Select(r => new VersionPoint(DateTimeOffset.FromUnixTimeSeconds(L(r, "b")), S(r, "prompt_version"), L(r, "calls"))).ToList();
        var released = (await clickHouse.QueryAsync($"""
            SELECT environment, service, request_model, prompt_version, toUInt32(min(window_start)) AS released
            FROM metrics_1m WHERE {filter.Sql()} GROUP BY environment, service, request_model, prompt_version
            """, ct)).ToDictionary(r => (S(r, "environment"), S(r, "service"), S(r, "request_model"), S(r, "prompt_version")), r => L(r, "released"));
        long First(PromptHealth h) => released.GetValueOrDefault((h.Environment, h.Service, h.Model, h.PromptVersion));
        var builder = new ReportBuilder(clickHouse);
        var total = health.Sum(h => h.Calls);
        var versions = new List<VersionRow>();
        foreach (var group in health.GroupBy(h => (h.Environment, h.Service, h.Model)))
        {
            PromptHealth? previous = null;
            foreach (var h in group.OrderBy(First).ThenBy(h => h.PromptVersion, StringComparer.Ordinal))
            {
                var verdict = previous is null ? null
                    : await builder.CompareAsync(previous, h, range.From.ToUnixTimeSeconds(), range.To.ToUnixTimeSeconds(), AbMinimums.Default, ct);
                versions.Add(new VersionRow(h.Environment, h.Service, h.Model, h.PromptVersion, DateTimeOffset.FromUnixTimeSeconds(First(h)), h.Calls,
                    total == 0 ? 0 : (double)h.Calls / total, h.SuccessRate, h.P50Ms, h.P95Ms, h.Tokens, h.CostUsd, h.CostPerCallUsd, h.UnpricedCalls,
                    h.Status.ToString().ToLowerInvariant(), previous?.PromptVersion, verdict));
                previous = h;
            }
        }
        var stages = (await clickHouse.QueryAsync($"""
            SELECT stage, sum(duration) AS total_ms
            FROM (SELECT stage_names, stage_duration_sums_ms FROM metrics_1m FINAL WHERE {where})
            ARRAY JOIN stage_names AS stage, stage_duration_sums_ms AS duration
            GROUP BY stage ORDER BY total_ms DESC, stage
            """, ct)).Select(r => (Stage: S(r, "stage"), Total: StoredValues.Number(r, "total_ms"))).ToList();
        var stageTotal = stages.Sum(t => t.Total);
        var errors = (await clickHouse.QueryAsync($"""
            SELECT ifNull(error_type, 'UNKNOWN') AS type, prompt_version, count() AS errors
            FROM calls FINAL WHERE outcome = 'ERROR' AND {Range("occurred_at", range)} AND {filter.Sql()}
            GROUP BY type, prompt_version ORDER BY errors DESC, type, prompt_version LIMIT 10
            """, ct)).Select(r => new ErrorCount(S(r, "type"), S(r, "prompt_version"), L(r, "errors"))).ToList();
        return new PromptDetail(filter.Prompt ?? "", range.From, range.To, bucket, versions, points,
            stages.Select(t => new StageShare(t.Stage, t.Total, stageTotal > 0 ? t.Total / stageTotal : 0, total > 0 ? t.Total / total : 0)).ToList(), errors);
    }

    /// <summary>Incidents touching the range, of series in <paramref name="scope"/>.</summary>
    public Task<IReadOnlyList<AlertRow>> AlertsAsync(TimeRange range, SeriesScope scope, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        return AlertsAsync(range, new SeriesFilter(null, null, null, scope.Environment, scope.Service), ct);
    }

    /// <summary>Incidents touching the range, of series that <paramref name="filter"/> matches.</summary>
    public async Task<IReadOnlyList<AlertRow>> AlertsAsync(TimeRange range, SeriesFilter filter, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var rows = await clickHouse.QueryAsync($"""
            SELECT {AlertColumns}
            FROM alerts FINAL
            WHERE started_at < {range.To.ToUnixTimeSeconds()} AND (resolved_at IS NULL OR resolved_at >= {range.From.ToUnixTimeSeconds()}) AND {filter.Sql()}
            ORDER BY started DESC, alert_id, state
            """, ct);
        return Incidents(rows).OrderByDescending(a => a.State == "firing").ThenByDescending(a => a.StartedAt).ToList();
    }

    private const string AlertColumns = """
        alert_id, rule_id, toString(state) AS state, toString(severity) AS severity, environment, service, prompt_name, prompt_version, request_model,
        metric, observed, baseline, threshold, toUInt32(started_at) AS started, toUInt32(ifNull(resolved_at, toDateTime(0))) AS resolved, summary, runbook_url
        """;

    // One incident from its FIRING and RESOLVED records.
    private static IEnumerable<AlertRow> Incidents(IReadOnlyList<JsonElement> rows) =>
        rows.GroupBy(r => S(r, "alert_id")).Select(g =>
        {
            var firing = g.Any(r => S(r, "state") == "FIRING") ? g.First(r => S(r, "state") == "FIRING") : g.First();
            var isResolved = g.Any(r => S(r, "state") == "RESOLVED");
            var last = isResolved ? g.First(r => S(r, "state") == "RESOLVED") : firing;
            return new AlertRow(g.Key, S(firing, "rule_id"), S(firing, "severity"), isResolved ? "resolved" : "firing",
                S(firing, "environment"), S(firing, "service"), S(firing, "prompt_name"), S(firing, "prompt_version"), S(firing, "request_model"), S(firing, "metric"),
                StoredValues.Number(firing, "observed"), firing.GetProperty("baseline").ValueKind == JsonValueKind.Number ? StoredValues.Number(firing, "baseline") : null,
                StoredValues.Number(firing, "threshold"), DateTimeOffset.FromUnixTimeSeconds(L(firing, "started")),
                isResolved ? DateTimeOffset.FromUnixTimeSeconds(L(last, "resolved")) : null, S(last, "summary"), S(firing, "runbook_url"));
        });

    /// <summary>
    /// One incident for its page, or null: the record, its lifecycle (pending from <c>started_at</c>, firing
    /// from the first FIRING record's window end, acknowledged, resolved), and its series' metric from well before
    /// it began to after it ended, with the trailing baseline of the anomaly scorer (median ± 3 robust sigma)
    /// where that metric is scored.
    /// </summary>
    public async Task<AlertDetail?> AlertDetailAsync(string alertId, bool writable, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(alertId);
        var id = ClickHouseHttp.Quote(alertId);
        var alert = Incidents(await clickHouse.QueryAsync($"SELECT {AlertColumns} FROM alerts FINAL WHERE alert_id = {id} ORDER BY state", ct)).FirstOrDefault();
        if (alert is null) return null;
        // Not FINAL: a re-notify replaces the FIRING record, and the first one's window end is when it fired.
        var fired = await clickHouse.ScalarAsync($"SELECT toUInt32(min(window_end)) FROM alerts WHERE alert_id = {id} AND state = 'FIRING'", ct);
        var ack = await new Pipeline.Consumers.SuppressionStore(clickHouse, time).FindAcknowledgementAsync(alertId, ct);
        var end = alert.ResolvedAt ?? time.GetUtcNow();
        var lasted = end - alert.StartedAt;
        var before = lasted < TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : lasted;
        var after = alert.ResolvedAt is null ? TimeSpan.Zero : TimeSpan.FromMinutes(Math.Max(30, lasted.TotalMinutes / 2));
        var to = end + after > time.GetUtcNow() ? time.GetUtcNow() : end + after;
        var range = new TimeRange(alert.StartedAt - before, to > alert.StartedAt ? to : alert.StartedAt + TimeSpan.FromMinutes(1));
        if (range.Span > TimeRange.MaxSpan) range = new TimeRange(range.To - TimeRange.MaxSpan, range.To);
        var series = new SeriesFilter(Empty(alert.PromptName), Empty(alert.PromptVersion), Empty(alert.Model), Empty(alert.Environment), Empty(alert.Service));
        var points = await TimeSeriesAsync(range, series, ct);
        var band = (await clickHouse.QueryAsync($"""
            SELECT toUInt32(window_start) AS ws, baseline_median, baseline_mad
            FROM anomalies FINAL WHERE {Range("window_start", range)} AND {series.Sql()} AND metric = {ClickHouseHttp.Quote(alert.Metric)} ORDER BY ws
            """, ct)).Select(r =>
            {
                var median = StoredValues.Number(r, "baseline_median");
                var sigma = 1.4826 * StoredValues.Number(r, "baseline_mad");
                return new BaselinePoint(DateTimeOffset.FromUnixTimeSeconds(L(r, "ws")), median, median - 3 * sigma, median + 3 * sigma);
            }).ToList();
        return new AlertDetail(alert, fired > 0 ? DateTimeOffset.FromUnixTimeSeconds((long)fired) : null, ack?.By, ack?.At, ack?.Note, points, band, writable);
    }

    private static string? Empty(string s) => s.Length == 0 ? null : s;

    /// <summary>
    /// Spend per day and per prompt and model. Costs are of the calls that have one; a row whose calls all lack a
    /// cost has <c>costUsd</c> null and says how many in <c>unpricedRequests</c>, and so do the totals.
    /// </summary>
    public async Task<CostView> CostAsync(TimeRange range, SeriesFilter filter, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var days = (await clickHouse.QueryAsync($"""
            SELECT toString(toDate(window_start)) AS day, sum(cost_usd) AS cost, sum(calls) AS calls, sum(unpriced_calls) AS u
            FROM metrics_1m FINAL WHERE {Range("window_start", range)} AND {filter.Sql()} GROUP BY day ORDER BY day
            """, ct)).Select(r => new CostPoint(S(r, "day"), Known(StoredValues.Number(r, "cost"), L(r, "calls"), L(r, "u")), L(r, "calls"), Math.Min(L(r, "u"), L(r, "calls")))).ToList();
        var byPrompt = (await clickHouse.QueryAsync($"""
            SELECT prompt_name, request_model, sum(calls) AS calls, sum(input_tokens) AS i, sum(output_tokens) AS o, sum(cost_usd) AS cost, sum(unpriced_calls) AS u
            FROM metrics_1m FINAL WHERE {Range("window_start", range)} AND {filter.Sql()} GROUP BY prompt_name, request_model ORDER BY cost DESC
            """, ct)).Select(r => new CostByPrompt(S(r, "prompt_name"), S(r, "request_model"), L(r, "calls"), L(r, "i"), L(r, "o"),
                Known(StoredValues.Number(r, "cost"), L(r, "calls"), L(r, "u")), Math.Min(L(r, "u"), L(r, "calls")))).ToList();
        var unpriced = byPrompt.Sum(p => p.UnpricedRequests);
        double? total = byPrompt.Any(p => p.CostUsd is not null) ? byPrompt.Sum(p => p.CostUsd ?? 0) : null;
        var projected = total / Math.Max(1.0 / 24, range.Span.TotalDays) * 30;
        double? budget = options.MonthlyBudgetUsd > 0 ? options.MonthlyBudgetUsd : null;
        return new CostView(total, projected, budget, budget is { } b ? projected / b : null, unpriced, days, byPrompt);
    }

    /// <summary>Recommendations for the series in <paramref name="scope"/> ; versions are compared only within one environment and service.</summary>
    public Task<IReadOnlyList<Recommendation>> RecommendationsAsync(TimeRange range, SeriesScope scope, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        return RecommendationsAsync(range, new SeriesFilter(null, null, null, scope.Environment, scope.Service), ct);
    }

    /// <summary>
    /// Recommendations within the filter's environment, service and model; a prompt or version in the filter
    /// keeps only the recommendations about it (and the budget one), since a prompt is judged against its peers.
    /// </summary>
    public async Task<IReadOnlyList<Recommendation>> RecommendationsAsync(TimeRange range, SeriesFilter filter, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var list = await RecommendationsOfAsync(range, filter with { Prompt = null, Version = null }, ct);
        return list.Where(r => r.Kind == "cost" || ((string.IsNullOrEmpty(filter.Prompt) || r.PromptName == filter.Prompt)
            && (string.IsNullOrEmpty(filter.Version) || r.PromptVersion == filter.Version))).ToList();
    }

    private async Task<IReadOnlyList<Recommendation>> RecommendationsOfAsync(TimeRange range, SeriesFilter filter, CancellationToken ct)
    {
        var scope = filter.Scope;
        var prompts = await PromptsAsync(range, filter, ct);
        var list = new List<Recommendation>();
        var active = prompts.Where(p => p.Requests >= 20).ToList();
        if (active.Count >= 2)
        {
            foreach (var p in active)
            {
                var peers = active.Where(o => o.PromptName != p.PromptName).Select(o => o.TokensPerRequest).Order().ToList();
                if (peers.Count == 0) continue;
                var median = peers[peers.Count / 2];
                if (median > 0 && p.TokensPerRequest > 2 * median)
                {
                    list.Add(new Recommendation("tokens", "warning", p.PromptName, p.PromptVersion,
                        $"{p.PromptName}@{p.PromptVersion} uses {p.TokensPerRequest:0} tokens per request, {HumanNumbers.Times(p.TokensPerRequest / median)} the median of the other prompts ({median:0}): trim the prompt or the retrieved context.",
                        p.TokensPerRequest, median));
                }
            }
        }
        foreach (var p in active.Where(p => p.LatencyP95Ms > Thresholds.RedLatencyMs && p.ErrorRate < 0.01))
        {
            list.Add(new Recommendation("latency", "info", p.PromptName, p.PromptVersion,
                $"{p.PromptName}@{p.PromptVersion} on {p.Model} has p95 {p.LatencyP95Ms:0} ms with only {p.ErrorRate:P1} errors: the model is reliable but slow; a faster model may serve this prompt.",
                p.LatencyP95Ms, Thresholds.RedLatencyMs));
        }
        foreach (var g in active.GroupBy(p => (p.Environment, p.Service, p.PromptName, p.Model)).Where(g => g.Count() > 1))
        {
            var comparison = await CompareAsync(range, [.. g.OrderByDescending(p => p.Requests).Select(p => new SeriesFilter(p.PromptName, p.PromptVersion, p.Model))],
                new SeriesScope(g.Key.Environment, g.Key.Service), ct);
            foreach (var v in comparison.Verdicts.Where(v => v.P95DiffLowMs > 0 || (v.SuccessP < 0.05 && v.CandidateSuccess < v.ControlSuccess)))
            {
                list.Add(new Recommendation("version", "error", v.Prompt, v.Candidate,
                    $"{v.Prompt}@{v.Candidate} is worse than {v.Control}: {v.Verdict}. Roll back or fix before widening the rollout.",
                    v.CandidateP95Ms, v.ControlP95Ms));
            }
        }
        var cost = await CostAsync(range, filter, ct);
        if (cost.BudgetUsd is { } budget && cost.ProjectedMonthUsd is { } projected && projected > budget)
        {
            var unpriced = cost.UnpricedRequests > 0 ? $" (and {cost.UnpricedRequests:N0} unpriced requests are not counted)" : "";
            list.Add(new Recommendation("cost", "warning", "", "",
                $"Spend is on pace for {HumanNumbers.Usd(projected)} this month, {HumanNumbers.Times(projected / budget)} the {HumanNumbers.Usd(budget)} budget{unpriced}; the largest is {(cost.ByPrompt.Count > 0 ? cost.ByPrompt[0].PromptName : "-")}.",
                projected, budget));
        }
        return list;
    }

    /// <summary>
    /// The longest range a tag (cohort) filter answers: tags live only in the raw <c>calls</c> (the rollups carry
    /// none), and a day of them (with the day before, for the tiles' comparison) is what stays within the page's budget.
    /// </summary>
    public static readonly TimeSpan TagRangeLimit = TimeSpan.FromHours(24);

    /// <summary>Tag keys and their most frequent values (at most 20 each) among the range's calls.</summary>
    public async Task<IReadOnlyList<TagChoice>> TagsAsync(TimeRange range, SeriesFilter filter, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var rows = await clickHouse.QueryAsync($"""
            SELECT k, topK(20)(v) AS vs FROM calls ARRAY JOIN tag_keys AS k, tag_values AS v
            WHERE {Range("occurred_at", range)} AND {filter.Sql()} GROUP BY k ORDER BY k LIMIT 50
            """, ct);
        return rows.Select(r => new TagChoice(S(r, "k"), r.GetProperty("vs").EnumerateArray().Select(v => v.GetString()!).Order(StringComparer.Ordinal).ToList())).ToList();
    }

    /// <summary>
    /// The overview's totals and time series for the calls carrying tag <paramref name="key"/> = <paramref name="value"/>,
    /// from <c>calls FINAL</c>: counts weighted by 1/sample_rate as everywhere, percentiles of the calls' latencies
    /// (ClickHouse's sampled quantiles), cost the calls' reported <c>cost_usd</c> (prices from the price table exist only in
    /// the windows, so calls without one count as unpriced). At most <see cref="TagRangeLimit"/>.
    /// </summary>
    public async Task<Cohort> CohortAsync(TimeRange range, SeriesFilter filter, string key, string value, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var tag = $"tag_values[indexOf(tag_keys, {ClickHouseHttp.Quote(key)})] = {ClickHouseHttp.Quote(value)} AND has(tag_keys, {ClickHouseHttp.Quote(key)})";
        const string measures = """
            sum(1 / sample_rate) AS calls, sumIf(1 / sample_rate, outcome = 'SUCCESS') AS successes, sumIf(1 / sample_rate, outcome = 'ERROR') AS errors,
            sum(latency_ms / sample_rate) AS latency_sum, quantiles(0.5, 0.95, 0.99)(latency_ms) AS q, sum(input_tokens / sample_rate) AS input,
            sum(output_tokens / sample_rate) AS output, sum(ifNull(cost_usd, 0) / sample_rate) AS cost, sumIf(1 / sample_rate, isNull(cost_usd)) AS unpriced
            """;
        async Task<Overview> TotalsOf(TimeRange r)
        {
            var row = (await clickHouse.QueryAsync($"SELECT {measures} FROM calls FINAL WHERE {Range("occurred_at", r)} AND {filter.Sql()} AND {tag}", ct)).Single();
            var calls = (long)Math.Round(StoredValues.Number(row, "calls"));
            var q = Numbers(row, "q");
            var unpriced = Math.Min(calls, (long)Math.Round(StoredValues.Number(row, "unpriced")));
            return new Overview(r.From, r.To, calls, calls == 0 ? null : StoredValues.Number(row, "successes") / calls, calls == 0 ? null : StoredValues.Number(row, "errors") / calls,
                calls == 0 ? null : StoredValues.Number(row, "latency_sum") / calls, calls == 0 ? null : Finite(q[0]), calls == 0 ? null : Finite(q[1]), calls == 0 ? null : Finite(q[2]),
                (long)Math.Round(StoredValues.Number(row, "input")), (long)Math.Round(StoredValues.Number(row, "output")),
                Known(StoredValues.Number(row, "cost"), calls, unpriced), unpriced, 0, null, calls == 0 ? $"no calls with {key}={value} in this range" : null);
        }
        var current = await TotalsOf(range);
        var overview = current with { Previous = await TotalsOf(new TimeRange(range.From - range.Span, range.From)), ActiveAlerts = await FiringCountAsync(filter, ct) };
        var bucket = BucketSeconds(range.Span);
        var points = (await clickHouse.QueryAsync($"""
            SELECT intDiv(toUInt32(occurred_at), {bucket}) * {bucket} AS b, {measures}
            FROM calls FINAL WHERE {Range("occurred_at", range)} AND {filter.Sql()} AND {tag} GROUP BY b ORDER BY b
            """, ct)).Select(r =>
            {
                var calls = (long)Math.Round(StoredValues.Number(r, "calls"));
                var q = Numbers(r, "q");
                var unpriced = Math.Min(calls, (long)Math.Round(StoredValues.Number(r, "unpriced")));
                return new TimePoint(DateTimeOffset.FromUnixTimeSeconds(L(r, "b")), calls, StoredValues.Number(r, "successes") / Math.Max(1, calls),
                    StoredValues.Number(r, "errors") / Math.Max(1, calls), Finite(q[0]), Finite(q[1]), Finite(q[2]), Known(StoredValues.Number(r, "cost"), calls, unpriced), unpriced);
            }).ToList();
        return new Cohort(key, value, overview, new TimeSeries(bucket, points, [], [], range.From, range.To));
    }

    /// <summary>Raw calls of a range (export), newest first, at most <paramref name="limit"/>.</summary>
    public async Task<IReadOnlyList<JsonElement>> CallsAsync(TimeRange range, SeriesFilter filter, int limit, CancellationToken ct) =>
        await clickHouse.QueryAsync($"""
            SELECT toString(event_id) AS event_id, toString(occurred_at) AS occurred_at, environment, service, prompt_name, prompt_version, request_model,
                   provider, latency_ms, input_tokens, output_tokens, cost_usd, toString(outcome) AS outcome, error_type, quality_score
            FROM (SELECT * FROM calls FINAL WHERE {Range("occurred_at", range)} AND {filter.Sql()} ORDER BY occurred_at DESC LIMIT {limit})
            """, ct);

    private async Task<int> FiringCountAsync(SeriesFilter filter, CancellationToken ct) => (int)await clickHouse.ScalarAsync(
        $"SELECT count() FROM (SELECT alert_id, groupArray(toString(state)) AS s FROM alerts FINAL WHERE {filter.Sql()} GROUP BY alert_id) WHERE has(s, 'FIRING') AND NOT has(s, 'RESOLVED')", ct);

    internal static int BucketSeconds(TimeSpan span) =>
        span <= TimeSpan.FromHours(6) ? 60 : span <= TimeSpan.FromDays(2) ? 900 : span <= TimeSpan.FromDays(8) ? 3600 : 21600;

    private static string Range(string column, TimeRange range) =>
        $"{column} >= {range.From.ToUnixTimeSeconds()} AND {column} < {range.To.ToUnixTimeSeconds()}";

    private static string S(JsonElement r, string name) => r.GetProperty(name).ValueKind == JsonValueKind.String ? r.GetProperty(name).GetString()! : r.GetProperty(name).ToString();

    private static long L(JsonElement r, string name) => StoredValues.Count(r, name);
}

/// <param name="CostUsd">Cost of the requests that have one; null when none has (unpriced, not free).</param>
/// <param name="CostPerRequestUsd">Over the requests that have a cost; null when none has.</param>
/// <param name="UnpricedRequests">Requests with no <c>cost_usd</c> and no price for their model: not in the costs.</param>
public sealed record PromptRow(string Environment, string Service, string PromptName, string PromptVersion, string Model, long Requests,
    double SuccessRate, double ErrorRate, double LatencyMeanMs, double LatencyP50Ms, double LatencyP95Ms, double LatencyP99Ms,
    long InputTokens, long OutputTokens, double TokensPerRequest, double? CostUsd, double? CostPerRequestUsd, long UnpricedRequests, double? QualityMean, string Health,
    bool Estimated = false, double? RequestsBound = null);

public sealed record Overview(DateTimeOffset From, DateTimeOffset To, long Requests, double? SuccessRate, double? ErrorRate, double? LatencyMeanMs,
    double? LatencyP50Ms, double? LatencyP95Ms, double? LatencyP99Ms, long InputTokens, long OutputTokens, double? CostUsd, long UnpricedRequests, int ActiveAlerts,
    double? FreshnessSeconds, string? Message, Overview? Previous = null);

/// <summary>A tag key and its most frequent values.</summary>
public sealed record TagChoice(string Key, IReadOnlyList<string> Values);

/// <summary>The overview of one tag value's calls (<see cref="DashboardQueries.CohortAsync"/>).</summary>
public sealed record Cohort(string TagKey, string TagValue, Overview Overview, TimeSeries Series);

public sealed record TimePoint(DateTimeOffset At, long Requests, double? SuccessRate, double? ErrorRate, double? LatencyP50Ms, double? LatencyP95Ms, double? LatencyP99Ms,
    double? CostUsd, long UnpricedRequests);

public sealed record AnomalyMark(DateTimeOffset At, string PromptName, string PromptVersion, string Model, string Metric, double Value, double BaselineMedian, double Score);

/// <param name="Points">Only buckets with data: a missing bucket is unknown, not zero, and charts leave it a gap.</param>
/// <param name="Releases">Versions whose first call falls in the range.</param>
public sealed record TimeSeries(int BucketSeconds, IReadOnlyList<TimePoint> Points, IReadOnlyList<AnomalyMark> Anomalies, IReadOnlyList<ReleaseMark> Releases,
    DateTimeOffset From, DateTimeOffset To);

/// <summary>The first minute a prompt version was called.</summary>
public sealed record ReleaseMark(DateTimeOffset At, string PromptName, string PromptVersion);

public sealed record Comparison(IReadOnlyList<PromptRow> Series, IReadOnlyList<VersionComparison> Verdicts);

public sealed record AlertRow(string AlertId, string RuleId, string Severity, string State, string Environment, string Service, string PromptName, string PromptVersion, string Model,
    string Metric, double Observed, double? Baseline, double Threshold, DateTimeOffset StartedAt, DateTimeOffset? ResolvedAt, string Summary, string RunbookUrl);

/// <param name="FiredAt">When it went from pending to firing (its first FIRING record's window end).</param>
/// <param name="Writable">Whether this dashboard accepts acknowledgements and silences.</param>
public sealed record AlertDetail(AlertRow Alert, DateTimeOffset? FiredAt, string? AckedBy, DateTimeOffset? AckedAt, string? AckNote, TimeSeries Series,
    IReadOnlyList<BaselinePoint> Baseline, bool Writable);

/// <summary>The anomaly scorer's trailing baseline of one window: median and median ± 3 robust sigma (1.4826 MAD).</summary>
public sealed record BaselinePoint(DateTimeOffset At, double Median, double Low, double High);

/// <param name="Versions">Per environment, service and model, in release order; <c>Verdict</c> is against <c>Predecessor</c>.</param>
public sealed record PromptDetail(string PromptName, DateTimeOffset From, DateTimeOffset To, int BucketSeconds, IReadOnlyList<VersionRow> Versions,
    IReadOnlyList<VersionPoint> Points, IReadOnlyList<StageShare> Stages, IReadOnlyList<ErrorCount> Errors);

/// <param name="Share">Of the prompt's calls in the range (all versions, environments, services and models shown).</param>
/// <param name="FirstCallAt">The version's first minute ever, in this environment, service and model.</param>
public sealed record VersionRow(string Environment, string Service, string Model, string PromptVersion, DateTimeOffset FirstCallAt, long Requests, double Share,
    double SuccessRate, double LatencyP50Ms, double LatencyP95Ms, long Tokens, double? CostUsd, double? CostPerRequestUsd, long UnpricedRequests, string Health,
    string? Predecessor, VersionComparison? Verdict);

public sealed record VersionPoint(DateTimeOffset At, string PromptVersion, long Requests);

/// <param name="MeanPerRequestMs">Stage time over all of the prompt's calls in the range.</param>
public sealed record StageShare(string Stage, double TotalMs, double Share, double MeanPerRequestMs);

public sealed record ErrorCount(string ErrorType, string PromptVersion, long Errors);

public sealed record CostPoint(string Day, double? CostUsd, long Requests, long UnpricedRequests);

public sealed record CostByPrompt(string PromptName, string Model, long Requests, long InputTokens, long OutputTokens, double? CostUsd, long UnpricedRequests);

/// <param name="TotalUsd">Cost of the requests that have one; null when none has.</param>
/// <param name="UnpricedRequests">Requests left out of every cost because they have none.</param>
public sealed record CostView(double? TotalUsd, double? ProjectedMonthUsd, double? BudgetUsd, double? BudgetPace, long UnpricedRequests,
    IReadOnlyList<CostPoint> Days, IReadOnlyList<CostByPrompt> ByPrompt);

public sealed record Recommendation(string Kind, string Severity, string PromptName, string PromptVersion, string Message, double Value, double Reference);
