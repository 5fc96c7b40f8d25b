using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Pipeline.ClickHouse;

namespace Pipeline.Reports;

/// <summary>What a report covers and where it goes.</summary>
public sealed record ReportRequest(string Title, DateTimeOffset From, DateTimeOffset To, string OutputDirectory)
{
    public HealthThresholds Thresholds { get; init; } = new();
    /// <summary>Success-rate objective for the SLA section. Default 0.99.</summary>
    public double Slo { get; init; } = 0.99;
    /// <summary>Only this environment and service (every section); default all.</summary>
    public SeriesScope Scope { get; init; } = SeriesScope.All;
    /// <summary>The least data an A/B verdict needs on each side. Default <see cref="AbMinimums.Default"/>.</summary>
    public AbMinimums Minimums { get; init; } = AbMinimums.Default;
    /// <summary>daily, weekly, monthly or range: monthly adds the executive comparison with the month before.</summary>
    public string Kind { get; init; } = "range";
}

/// <summary>What one side of a version comparison measured over the range.</summary>
/// <param name="Calls">Calls, weighted by 1/sample_rate.</param>
/// <param name="Received">Calls received (events, unweighted): the sample size of the success test.</param>
/// <param name="CostPerCall">Cost per call over the calls that have a cost; null when none has.</param>
/// <param name="Latencies">Raw latencies, at most <see cref="ReportBuilder.LatencySampleLimit"/> (a deterministic sample).</param>
public sealed record VersionSide(long Calls, long Received, long Successes, double? CostPerCall, IReadOnlyList<double> Latencies)
{
    /// <summary>Raw calls behind the p95 test: the sample when it is complete, else (the sample is capped) the calls received.</summary>
    public long LatencySamples => Latencies.Count < ReportBuilder.LatencySampleLimit ? Latencies.Count : Math.Max(Latencies.Count, Received);
}

/// <summary>
/// One candidate version of a prompt against its control (the version with most calls), in one environment and
/// service. A test without enough data on both sides (<see cref="AbMinimums"/>) is not run: its fields are null and
/// the verdict says "not enough data".
/// </summary>
public sealed record VersionComparison(string Prompt, string Control, string Candidate, long ControlCalls, long CandidateCalls,
    double ControlSuccess, double CandidateSuccess, double? SuccessZ, double? SuccessP,
    double ControlP95Ms, double CandidateP95Ms, double? P95DiffLowMs, double? P95DiffHighMs, double? ControlCostPerCall, double? CandidateCostPerCall, string Verdict)
{
    public string Environment { get; init; } = "";
    public string Service { get; init; } = "";

    /// <summary>
    /// The comparison of two measured sides: the bootstrap p95 interval when both have
    /// <see cref="AbMinimums.LatencySamplesPerSide"/> latencies, the two-proportion test when both have enough calls and
    /// outcomes, and a plain verdict that names what was not tested and why.
    /// </summary>
    public static VersionComparison Of(PromptHealth control, PromptHealth candidate, VersionSide a, VersionSide b, AbMinimums minimums)
    {
        ArgumentNullException.ThrowIfNull(control);
        ArgumentNullException.ThrowIfNull(candidate);
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var findings = new List<string>();
        var untested = new List<(string What, string Why)>();
        double? low = null, high = null, z = null, p = null;
        // Messages name the candidate first, as the verdict does ("2.1 vs 2.0").
        if (Statistics.LatencyShortfall(b.LatencySamples, a.LatencySamples, minimums) is { } latencyWhy)
        {
            untested.Add(("p95", latencyWhy));
        }
        else
        {
            var (l, h, _) = Statistics.BootstrapQuantileDifference(a.Latencies, b.Latencies, 0.95);
            (low, high) = (l, h);
            if (l > 0) findings.Add($"p95 is slower by {l:0}-{h:0} ms (95% CI)");
            else if (h < 0) findings.Add($"p95 is faster by {-h:0}-{-l:0} ms (95% CI)");
        }
        var successA = (double)a.Successes / Math.Max(1, a.Calls);
        var successB = (double)b.Successes / Math.Max(1, b.Calls);
        if (Statistics.SuccessShortfall(b.Successes, b.Calls, b.Received, a.Successes, a.Calls, a.Received, minimums) is { } successWhy)
        {
            untested.Add(("success rate", successWhy));
        }
        else
        {
            var (zz, pp) = Statistics.TwoProportion(a.Successes, a.Calls, b.Successes, b.Calls);
            (z, p) = (zz, pp);
            if (pp < 0.05) findings.Add($"success rate is {(zz < 0 ? "worse" : "better")} ({successB:P2} vs {successA:P2}, p={pp:0.0000})");
        }
        string verdict;
        var versus = $"{candidate.PromptVersion} vs {control.PromptVersion}";
        if (untested.Count == 2)
        {
            verdict = untested[0].Why == untested[1].Why
                ? $"{versus}: not enough data ({untested[0].Why})"
                : $"{versus}: not enough data (p95: {untested[0].Why}; success rate: {untested[1].Why})";
        }
        else
        {
            verdict = findings.Count == 0
                ? $"{candidate.PromptVersion}: no significant difference from {control.PromptVersion}"
                : $"{versus}: " + string.Join("; ", findings);
            foreach (var (what, why) in untested) verdict += $"; {what} not compared: not enough data ({why})";
        }
        return new VersionComparison(control.PromptName, control.PromptVersion, candidate.PromptVersion, a.Calls, b.Calls,
            successA, successB, z, p, control.P95Ms, candidate.P95Ms, low, high, a.CostPerCall, b.CostPerCall, verdict)
        {
            Environment = control.Environment,
            Service = control.Service,
        };
    }
}

/// <summary>A finished report: its sections and the files written.</summary>
/// <param name="TotalCost">Cost of the calls that have one; null when none has.</param>
/// <param name="ProjectedMonthlyCost">30 days at the rate of <paramref name="TotalCost"/>; null with it.</param>
/// <param name="UnpricedCalls">Calls without a cost (no <c>cost_usd</c>, no price): not in the totals.</param>
public sealed record Report(IReadOnlyList<PromptHealth> Health, IReadOnlyList<VersionComparison> Comparisons,
    IReadOnlyList<JsonElement> TopErrors, IReadOnlyList<JsonElement> Stages, IReadOnlyList<JsonElement> Alerts, long Anomalies,
    double? TotalCost, double? ProjectedMonthlyCost, long UnpricedCalls, IReadOnlyList<string> Files);

/// <summary>Data missing for the requested range: the report job should fail loudly, not write an empty report.</summary>
public sealed class NoDataException(string message) : Exception(message);

/// <summary>
/// Daily/weekly/range reports from ClickHouse: KPIs against targets, SLA and error budget, cost by prompt and
/// model with a monthly projection, top errors, stage bottlenecks, version A/B with significance and a plain
/// verdict, alerts and anomalies of the period. Markdown, HTML, JSON, CSV, and PNG/SVG charts (ScottPlot).
/// </summary>
public sealed partial class ReportBuilder(ClickHouseHttp clickHouse)
{
    /// <summary>Raw latencies read per side for the p95 bootstrap at most.</summary>
    public const int LatencySampleLimit = 4000;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public async Task<Report> BuildAsync(ReportRequest request, IProgress<string>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var from = request.From.ToUnixTimeSeconds();
        var to = request.To.ToUnixTimeSeconds();
        var scope = request.Scope.Sql();
        progress?.Report("health per prompt version");
        var health = await PromptHealth.QueryAsync(clickHouse, request.From, request.To, request.Thresholds, request.Scope, ct);
        if (health.Count == 0)
        {
            throw new NoDataException($"no closed windows between {request.From:u} and {request.To:u} in database '{clickHouse.Options.Database}'"
                + (request.Scope.IsAll ? "" : $" for {request.Scope}"));
        }
        progress?.Report("version comparisons");
        var comparisons = new List<VersionComparison>();
        // Versions compete only within one environment and service: another team's prompt of the same name is not a control.
        foreach (var prompt in health.GroupBy(h => (h.Environment, h.Service, h.PromptName, h.Model)).Where(g => g.Count() > 1))
        {
            var control = prompt.MaxBy(h => h.Calls)!;
            foreach (var candidate in prompt.Where(h => h != control))
            {
                comparisons.Add(await CompareAsync(control, candidate, from, to, request.Minimums, ct));
            }
        }
        progress?.Report("errors, stages, alerts");
        var errors = await clickHouse.QueryAsync($"""
            SELECT prompt_name, prompt_version, error_type, error_message, count() AS errors
            FROM calls FINAL WHERE outcome = 'ERROR' AND occurred_at >= {from} AND occurred_at < {to} AND {scope}
            GROUP BY prompt_name, prompt_version, error_type, error_message ORDER BY errors DESC LIMIT 10
            """, ct);
        var stages = await clickHouse.QueryAsync($"""
            SELECT prompt_name, stage, avg(duration_ms) AS mean_ms, sum(duration_ms) AS total_ms
            FROM (SELECT prompt_name, stage_names, stage_durations_ms FROM calls FINAL WHERE occurred_at >= {from} AND occurred_at < {to} AND {scope})
            ARRAY JOIN stage_names AS stage, stage_durations_ms AS duration_ms
            GROUP BY prompt_name, stage ORDER BY prompt_name, total_ms DESC
            """, ct);
        var alerts = await clickHouse.QueryAsync(
            $"SELECT window_end, state, severity, rule_id, summary FROM alerts FINAL WHERE window_end >= {from} AND window_end < {to} AND {scope} ORDER BY window_end, state", ct);
        var anomalies = (long)await clickHouse.ScalarAsync(
            $"SELECT count() FROM anomalies FINAL WHERE is_anomaly = 1 AND window_start >= {from} AND window_start < {to} AND {scope}", ct);
        // Unpriced calls are left out of the totals and counted, never added as 0.
        var priced = health.Where(h => h.CostUsd is not null).ToList();
        double? totalCost = priced.Count == 0 ? null : priced.Sum(h => h.CostUsd!.Value);
        var unpriced = health.Sum(h => h.UnpricedCalls);
        var days = Math.Max(1.0 / 24, (request.To - request.From).TotalDays);

        progress?.Report("charts");
        Directory.CreateDirectory(request.OutputDirectory);
        var files = new List<string>();
        files.AddRange(await ChartsAsync(request, from, to, ct));
        var report = new Report(health, comparisons, errors, stages, alerts, anomalies, totalCost, totalCost / days * 30, unpriced, files);
        progress?.Report("writing files");
        files.AddRange(await WriteAsync(request, report, ct));
        return report with { Files = files };
    }

    /// <summary>
    /// A/B of a candidate version against its control over [from, to) (unix seconds): bootstrap p95 interval and
    /// two-proportion test, each only with enough data on both sides (<paramref name="minimums"/>), and a verdict.
    /// </summary>
    public async Task<VersionComparison> CompareAsync(PromptHealth control, PromptHealth candidate, long from, long to, AbMinimums minimums, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(control);
        ArgumentNullException.ThrowIfNull(candidate);
        async Task<VersionSide> Side(PromptHealth h)
        {
            var filter = $"prompt_name = {ClickHouseHttp.Quote(h.PromptName)} AND prompt_version = {ClickHouseHttp.Quote(h.PromptVersion)}"
                + $" AND request_model = {ClickHouseHttp.Quote(h.Model)} AND environment = {ClickHouseHttp.Quote(h.Environment)} AND service = {ClickHouseHttp.Quote(h.Service)}";
            var counts = (await clickHouse.QueryAsync($"""
                SELECT sum(calls) AS c, sum(events) AS e, sum(successes) AS s, sum(cost_usd) AS cost, sum(unpriced_calls) AS u
                FROM metrics_1m FINAL WHERE {filter} AND window_start >= {from} AND window_start < {to}
                """, ct))[0];
            var sample = (await clickHouse.QueryAsync(
                $"SELECT latency_ms FROM calls FINAL WHERE {filter} AND occurred_at >= {from} AND occurred_at < {to} ORDER BY cityHash64(toString(event_id)) LIMIT {LatencySampleLimit}", ct))
                .Select(r => StoredValues.Number(r, "latency_ms")).ToList();
            var calls = StoredValues.Count(counts, "c");
            var costed = calls - Math.Min(calls, StoredValues.Count(counts, "u"));
            return new VersionSide(calls, StoredValues.Count(counts, "e"), StoredValues.Count(counts, "s"),
                costed == 0 ? null : StoredValues.Number(counts, "cost") / costed, sample);
        }
        return VersionComparison.Of(control, candidate, await Side(control), await Side(candidate), minimums);
    }

    private async Task<List<string>> ChartsAsync(ReportRequest request, long from, long to, CancellationToken ct)
    {
        var rows = await clickHouse.QueryAsync($"""
            SELECT environment, service, prompt_name, prompt_version, toUInt32(window_start) AS ws, window_seconds, calls, latency_p95_ms
            FROM metrics_1m FINAL WHERE window_start >= {from} AND window_start < {to} AND {request.Scope.Sql()} ORDER BY ws
            """, ct);
        // One line per prompt version, and per environment and service when the report spans several.
        var scoped = rows.Select(r => (r.GetProperty("environment").GetString(), r.GetProperty("service").GetString())).Distinct().Count() > 1;
        var window = rows.Count > 0 ? (int)rows.Min(r => StoredValues.Count(r, "window_seconds")) : 60;
        var groups = rows.GroupBy(r => (scoped ? $"{r.GetProperty("environment").GetString()}/{r.GetProperty("service").GetString()} " : "")
            + $"{r.GetProperty("prompt_name").GetString()}@{r.GetProperty("prompt_version").GetString()}").ToList();
        (string, long[], double[]) Series(IGrouping<string, JsonElement> g, Func<JsonElement, double> value) =>
            (g.Key, g.Select(r => r.GetProperty("ws").GetInt64()).ToArray(), g.Select(value).ToArray());
        var files = new List<string>();
        foreach (var (name, title, y, value) in new (string, string, string, Func<JsonElement, double>)[]
        {
            ("latency_p95", "p95 latency per minute", "ms", r => StoredValues.Number(r, "latency_p95_ms")),
            ("calls", "calls per minute", "calls", r => StoredValues.Count(r, "calls")),
        })
        {
            var plot = Chart(title, y, groups.Select(g => Series(g, value)).ToList(), window);
            var png = Path.Combine(request.OutputDirectory, name + ".png");
            var svg = Path.Combine(request.OutputDirectory, name + ".svg");
            plot.SavePng(png, 1000, 420);
            plot.SaveSvg(svg, 1000, 420);
            files.Add(png);
            files.Add(svg);
        }
        return files;
    }

    /// <summary>
    /// One chart of the report: a line per series on a time axis, a missing window a gap (<see cref="WithGaps"/>),
    /// the legend beside the data area on the right, never over the lines.
    /// </summary>
    internal static ScottPlot.Plot Chart(string title, string yLabel, IReadOnlyList<(string Label, long[] At, double[] Values)> series, int windowSeconds = 60)
    {
        ArgumentNullException.ThrowIfNull(series);
        var plot = new ScottPlot.Plot();
        foreach (var (label, at, values) in series)
        {
            var (xs, ys) = WithGaps(at, values, windowSeconds);
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = label;
        }
        plot.Axes.DateTimeTicksBottom();
        plot.Title(title);
        plot.YLabel(yLabel);
        if (series.Count > 0) plot.ShowLegend(ScottPlot.Edge.Right);
        return plot;
    }

    /// <summary>
    /// Points of one series on a time axis (OLE dates) with a NaN point in every run of missing windows: ScottPlot
    /// leaves a gap at a NaN, so minutes a version did not serve are not bridged by a straight line.
    /// </summary>
    internal static (double[] Xs, double[] Ys) WithGaps(long[] unixSeconds, double[] values, int windowSeconds)
    {
        var xs = new List<double>(unixSeconds.Length);
        var ys = new List<double>(values.Length);
        for (var i = 0; i < unixSeconds.Length; i++)
        {
            if (i > 0 && unixSeconds[i] - unixSeconds[i - 1] > windowSeconds)
            {
                xs.Add(DateTimeOffset.FromUnixTimeSeconds(unixSeconds[i - 1] + windowSeconds).UtcDateTime.ToOADate());
                ys.Add(double.NaN);
            }
            xs.Add(DateTimeOffset.FromUnixTimeSeconds(unixSeconds[i]).UtcDateTime.ToOADate());
            ys.Add(values[i]);
        }
        return ([.. xs], [.. ys]);
    }

    private static async Task<List<string>> WriteAsync(ReportRequest request, Report r, CancellationToken ct)
    {
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine(inv, $"# {request.Title}").AppendLine();
        md.AppendLine(inv, $"Period: {request.From:yyyy-MM-dd HH:mm} to {request.To:yyyy-MM-dd HH:mm} UTC.").AppendLine();
        if (!request.Scope.IsAll) md.AppendLine(inv, $"Scope: {Md(request.Scope.ToString())}.").AppendLine();
        var calls = r.Health.Sum(h => h.Calls);
        var success = r.Health.Sum(h => h.SuccessRate * h.Calls) / Math.Max(1, calls);
        // Several environments or services: each row says which (the same prompt name may be two teams' prompts).
        var scoped = r.Health.Select(h => (h.Environment, h.Service)).Distinct().Count() > 1;
        md.AppendLine("## KPIs").AppendLine();
        md.AppendLine(inv, $"- Calls: {(r.Health.Any(h => h.IsEstimated) ? "~" : "")}{calls:N0}");
        md.AppendLine(inv, $"- Success rate: {success:P2} (objective {request.Slo:P1}: {(success >= request.Slo ? "met" : "MISSED")})");
        md.AppendLine(CostLine(r, calls));
        md.AppendLine(inv, $"- Alerts: {r.Alerts.Count(a => a.GetProperty("state").GetString() == "FIRING")} fired; anomalous windows: {r.Anomalies}").AppendLine();
        md.AppendLine("## Health and SLA per prompt version").AppendLine();
        md.AppendLine((scoped ? "| environment | service " : "") + "| status | prompt | version | model | calls | success | error budget left | p50 ms | p95 ms | p99 ms | cost $ | quality |");
        md.AppendLine((scoped ? "|---|---" : "") + "|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var h in r.Health)
        {
            var budgetLeft = Math.Max(0, 1 - (1 - h.SuccessRate) / (1 - request.Slo));
            md.AppendLine(inv, $"{(scoped ? $"| {Md(h.Environment)} | {Md(h.Service)} " : "")}| {h.Status} | {Md(h.PromptName)} | {Md(h.PromptVersion)} | {Md(h.Model)} | {PromptHealth.FormatCalls(h.Calls, h.CallsBound)} | {h.SuccessRate:P2} | {budgetLeft:P0} | {h.P50Ms:0} | {h.P95Ms:0} | {h.P99Ms:0} | {PromptHealth.FormatCost(h.CostUsd, h.UnpricedCalls)} | {h.QualityMean:0.00} |");
        }
        if (r.Health.Any(h => h.IsEstimated))
        {
            md.AppendLine().AppendLine("Calls marked ~ are estimated from sampled events (the producer's `Sampling` settings), with their 95% bound; errors are always kept, so error counts are exact.");
        }
        md.AppendLine().AppendLine("## Version A/B").AppendLine();
        md.AppendLine(inv, $"Each version against the version with most calls of the same prompt, model, environment and service. A test needs {request.Minimums.LatencySamplesPerSide} calls per side for p95, and {request.Minimums.CallsPerSide} calls with {request.Minimums.ExpectedOutcomesPerSide:0.#} expected successes and errors per side for the success rate; below that the verdict says not enough data.").AppendLine();
        foreach (var c in r.Comparisons)
        {
            var where = scoped ? $" ({Md(c.Environment)}/{Md(c.Service)})" : "";
            md.AppendLine(inv, $"- **{Md(c.Prompt)}**{where}: {Md(c.Verdict)} (calls {c.ControlCalls} vs {c.CandidateCalls}; p95 {c.ControlP95Ms:0} vs {c.CandidateP95Ms:0} ms; cost/call {PerCall(c.ControlCostPerCall)} vs {PerCall(c.CandidateCostPerCall)})");
        }
        if (r.Comparisons.Count == 0) md.AppendLine("No prompt ran more than one version in this period.");
        md.AppendLine().AppendLine("## Top errors").AppendLine();
        foreach (var e in r.TopErrors)
        {
            md.AppendLine(inv, $"- {e.GetProperty("errors")}× {Md(e.GetProperty("prompt_name").GetString())}@{Md(e.GetProperty("prompt_version").GetString())} {Md(e.GetProperty("error_type").GetString())}: {Md(e.GetProperty("error_message").GetString())}");
        }
        md.AppendLine().AppendLine("## Stage bottlenecks").AppendLine();
        foreach (var s in r.Stages)
        {
            md.AppendLine(inv, $"- {Md(s.GetProperty("prompt_name").GetString())} / {Md(s.GetProperty("stage").GetString())}: mean {StoredValues.Number(s, "mean_ms"):0} ms");
        }
        md.AppendLine().AppendLine("## Alerts").AppendLine();
        foreach (var a in r.Alerts)
        {
            md.AppendLine(inv, $"- {a.GetProperty("window_end").GetString()} {a.GetProperty("state").GetString()} {a.GetProperty("severity").GetString()} `{a.GetProperty("rule_id").GetString()}`: {Md(a.GetProperty("summary").GetString())}");
        }
        md.AppendLine().AppendLine("## Charts").AppendLine().AppendLine("![p95 latency](latency_p95.png)").AppendLine().AppendLine("![calls](calls.png)");

        var dir = request.OutputDirectory;
        var mdPath = Path.Combine(dir, "report.md");
        await File.WriteAllTextAsync(mdPath, md.ToString(), ct);
        var htmlPath = Path.Combine(dir, "report.html");
        await File.WriteAllTextAsync(htmlPath, Html(request.Title, md.ToString()), ct);
        var jsonPath = Path.Combine(dir, "report.json");
        await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(new
        {
            title = request.Title, from = request.From, to = request.To, environment = request.Scope.Environment, service = request.Scope.Service,
            calls, success_rate = success, cost_usd = r.TotalCost, unpriced_calls = r.UnpricedCalls,
            projected_month_usd = r.ProjectedMonthlyCost, health = r.Health, comparisons = r.Comparisons, anomalies = r.Anomalies,
        }, Indented), ct);
        var csvPath = Path.Combine(dir, "health.csv");
        // cost_usd is empty when no call of the row has a cost; unpriced_calls says how many calls its cost leaves out.
        var csv = new StringBuilder("prompt_name,prompt_version,model,calls,success_rate,p50_ms,p95_ms,p99_ms,cost_usd,quality_mean,status,unpriced_calls,environment,service\n");
        foreach (var h in r.Health)
        {
            csv.AppendLine(inv, $"{Csv(h.PromptName)},{Csv(h.PromptVersion)},{Csv(h.Model)},{h.Calls},{h.SuccessRate},{h.P50Ms},{h.P95Ms},{h.P99Ms},{h.CostUsd},{h.QualityMean},{h.Status},{h.UnpricedCalls},{Csv(h.Environment)},{Csv(h.Service)}");
        }
        await File.WriteAllTextAsync(csvPath, csv.ToString(), ct);
        return [mdPath, htmlPath, jsonPath, csvPath];
    }

    /// <summary>The KPI line on cost: what is known, and how many calls it leaves out because they have no price.</summary>
    private static string CostLine(Report r, long calls)
    {
        var inv = CultureInfo.InvariantCulture;
        if (r.TotalCost is not { } total)
        {
            return string.Create(inv, $"- Cost: unpriced: none of the {calls:N0} calls has a cost_usd or a price for its model (add prices: docs/configuration.md, Prices)");
        }
        var line = string.Create(inv, $"- Cost: ${total:0.00}; projected per 30 days at this rate: ${r.ProjectedMonthlyCost:0.00}");
        return r.UnpricedCalls == 0 ? line
            : line + string.Create(inv, $"; {r.UnpricedCalls:N0} calls ({100.0 * r.UnpricedCalls / Math.Max(1, calls):0.0}%) unpriced and not included (add prices: docs/configuration.md, Prices)");
    }

    private static string PerCall(double? cost) => cost is { } c ? "$" + c.ToString("0.000000", CultureInfo.InvariantCulture) : "unpriced";

    /// <summary>
    /// The Markdown report as HTML: every line escaped, then headings, table rows (the first a header), list items,
    /// images, <c>**bold**</c> and <c>`code`</c> rendered and the report's escapes (<c>\|</c>, <c>\*</c>, <c>\`</c>) undone,
    /// so nothing of the markup is printed.
    /// </summary>
    internal static string Html(string title, string markdown)
    {
        var sb = new StringBuilder($"<!doctype html><html><head><meta charset=\"utf-8\"><title>{WebUtility.HtmlEncode(title)}</title>")
            .Append("<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}</style></head><body>");
        var inTable = false;
        var inList = false;
        foreach (var raw in markdown.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (inList && !line.StartsWith("- ", StringComparison.Ordinal)) { sb.Append("</ul>"); inList = false; }
            if (line.StartsWith('|'))
            {
                if (line.StartsWith("|---", StringComparison.Ordinal)) continue;
                var cell = inTable ? "td" : "th";
                if (!inTable) { sb.Append("<table>"); inTable = true; }
                // Cells split at unescaped pipes only: a name with a | in it stays one cell.
                var cells = TableCell().Split(line.Trim().Trim('|'));
                sb.Append("<tr>").Append(string.Concat(cells.Select(c => $"<{cell}>{Inline(c.Trim())}</{cell}>"))).Append("</tr>");
                continue;
            }
            if (inTable) { sb.Append("</table>"); inTable = false; }
            if (line.StartsWith("# ", StringComparison.Ordinal)) sb.Append("<h1>").Append(Inline(line[2..])).Append("</h1>");
            else if (line.StartsWith("## ", StringComparison.Ordinal)) sb.Append("<h2>").Append(Inline(line[3..])).Append("</h2>");
            else if (line.StartsWith("![", StringComparison.Ordinal))
            {
                var alt = line[2..line.IndexOf(']', StringComparison.Ordinal)];
                sb.Append("<img src=\"").Append(WebUtility.HtmlEncode(line[(line.IndexOf('(', StringComparison.Ordinal) + 1)..^1])).Append("\" alt=\"").Append(WebUtility.HtmlEncode(alt)).Append("\">");
            }
            else if (line.StartsWith("- ", StringComparison.Ordinal))
            {
                if (!inList) { sb.Append("<ul>"); inList = true; }
                sb.Append("<li>").Append(Inline(line[2..])).Append("</li>");
            }
            else if (line.Length > 0) sb.Append("<p>").Append(Inline(line)).Append("</p>");
        }
        if (inTable) sb.Append("</table>");
        if (inList) sb.Append("</ul>");
        return sb.Append("</body></html>").ToString();
    }

    /// <summary>A value from the data as Markdown text: control characters as ?, markup characters escaped (a prompt named **x** is not bold).</summary>
    internal static string Md(string? s) => MarkupCharacter().Replace(new string((s ?? "").Select(c => char.IsControl(c) ? '?' : c).ToArray()), "\\$0");

    /// <summary>One line of Markdown as HTML: escaped, then bold and code rendered, escapes undone.</summary>
    private static string Inline(string markdown)
    {
        // Escaped characters are set aside first so that an escaped * never starts bold.
        var escaped = new List<char>();
        var text = EscapedCharacter().Replace(markdown, m => { escaped.Add(m.Value[1]); return $"\u0001{escaped.Count - 1}\u0002"; });
        var html = WebUtility.HtmlEncode(text);
        html = Code().Replace(html, "<code>$1</code>");
        html = Bold().Replace(html, "<strong>$1</strong>");
        return Placeholder().Replace(html, m => WebUtility.HtmlEncode(escaped[int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)].ToString()));
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"[\\`*|]")]
    private static partial System.Text.RegularExpressions.Regex MarkupCharacter();
    [System.Text.RegularExpressions.GeneratedRegex(@"\\[\\`*|_]")]
    private static partial System.Text.RegularExpressions.Regex EscapedCharacter();
    [System.Text.RegularExpressions.GeneratedRegex(@"(?<!\\)\s*\|\s*")]
    private static partial System.Text.RegularExpressions.Regex TableCell();
    [System.Text.RegularExpressions.GeneratedRegex(@"`([^`]+)`")]
    private static partial System.Text.RegularExpressions.Regex Code();
    [System.Text.RegularExpressions.GeneratedRegex(@"\*\*(.+?)\*\*")]
    private static partial System.Text.RegularExpressions.Regex Bold();
    [System.Text.RegularExpressions.GeneratedRegex("\u0001([0-9]+)\u0002")]
    private static partial System.Text.RegularExpressions.Regex Placeholder();

    internal static string Csv(string s) => "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
