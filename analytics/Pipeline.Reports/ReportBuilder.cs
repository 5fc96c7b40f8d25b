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
}

/// <summary>One candidate version of a prompt against its control (the version with most calls).</summary>
public sealed record VersionComparison(string Prompt, string Control, string Candidate, long ControlCalls, long CandidateCalls,
    double ControlSuccess, double CandidateSuccess, double SuccessZ, double SuccessP,
    double ControlP95Ms, double CandidateP95Ms, double P95DiffLowMs, double P95DiffHighMs, double ControlCostPerCall, double CandidateCostPerCall, string Verdict);

/// <summary>A finished report: its sections and the files written.</summary>
public sealed record Report(IReadOnlyList<PromptHealth> Health, IReadOnlyList<VersionComparison> Comparisons,
    IReadOnlyList<JsonElement> TopErrors, IReadOnlyList<JsonElement> Stages, IReadOnlyList<JsonElement> Alerts, long Anomalies,
    double TotalCost, double ProjectedMonthlyCost, IReadOnlyList<string> Files);

/// <summary>Data missing for the requested range: the report job should fail loudly, not write an empty report.</summary>
public sealed class NoDataException(string message) : Exception(message);

/// <summary>
/// Daily/weekly/range reports from ClickHouse: KPIs against targets, SLA and error budget, cost by prompt and
/// model with a monthly projection, top errors, stage bottlenecks, version A/B with significance and a plain
/// verdict, alerts and anomalies of the period. Markdown, HTML, JSON, CSV, and PNG/SVG charts (ScottPlot).
/// </summary>
public sealed class ReportBuilder(ClickHouseHttp clickHouse)
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public async Task<Report> BuildAsync(ReportRequest request, IProgress<string>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var from = request.From.ToUnixTimeSeconds();
        var to = request.To.ToUnixTimeSeconds();
        progress?.Report("health per prompt version");
        var health = await PromptHealth.QueryAsync(clickHouse, request.From, request.To, request.Thresholds, ct);
        if (health.Count == 0)
        {
            throw new NoDataException($"no closed windows between {request.From:u} and {request.To:u} in database '{clickHouse.Options.Database}'");
        }
        progress?.Report("version comparisons");
        var comparisons = new List<VersionComparison>();
        foreach (var prompt in health.GroupBy(h => (h.PromptName, h.Model)).Where(g => g.Count() > 1))
        {
            var control = prompt.MaxBy(h => h.Calls)!;
            foreach (var candidate in prompt.Where(h => h != control))
            {
                comparisons.Add(await CompareAsync(control, candidate, from, to, ct));
            }
        }
        progress?.Report("errors, stages, alerts");
        var errors = await clickHouse.QueryAsync($"""
            SELECT prompt_name, prompt_version, error_type, error_message, count() AS errors
            FROM calls FINAL WHERE outcome = 'ERROR' AND occurred_at >= {from} AND occurred_at < {to}
            GROUP BY prompt_name, prompt_version, error_type, error_message ORDER BY errors DESC LIMIT 10
            """, ct);
        var stages = await clickHouse.QueryAsync($"""
            SELECT prompt_name, stage, avg(duration_ms) AS mean_ms, sum(duration_ms) AS total_ms
            FROM (SELECT prompt_name, stage_names, stage_durations_ms FROM calls FINAL WHERE occurred_at >= {from} AND occurred_at < {to})
            ARRAY JOIN stage_names AS stage, stage_durations_ms AS duration_ms
            GROUP BY prompt_name, stage ORDER BY prompt_name, total_ms DESC
            """, ct);
        var alerts = await clickHouse.QueryAsync(
            $"SELECT window_end, state, severity, rule_id, summary FROM alerts FINAL WHERE window_end >= {from} AND window_end < {to} ORDER BY window_end, state", ct);
        var anomalies = (long)await clickHouse.ScalarAsync(
            $"SELECT count() FROM anomalies FINAL WHERE is_anomaly = 1 AND window_start >= {from} AND window_start < {to}", ct);
        var totalCost = health.Sum(h => h.CostUsd);
        var days = Math.Max(1.0 / 24, (request.To - request.From).TotalDays);

        progress?.Report("charts");
        Directory.CreateDirectory(request.OutputDirectory);
        var files = new List<string>();
        files.AddRange(await ChartsAsync(request, from, to, ct));
        var report = new Report(health, comparisons, errors, stages, alerts, anomalies, totalCost, totalCost / days * 30, files);
        progress?.Report("writing files");
        files.AddRange(await WriteAsync(request, report, ct));
        return report with { Files = files };
    }

    /// <summary>A/B of a candidate version against its control over [from, to) (unix seconds): two-proportion test, bootstrap p95 interval, verdict.</summary>
    public async Task<VersionComparison> CompareAsync(PromptHealth control, PromptHealth candidate, long from, long to, CancellationToken ct)
    {
        async Task<(long Calls, long Successes, double Cost, List<double> Sample)> Side(PromptHealth h)
        {
            var filter = $"prompt_name = {ClickHouseHttp.Quote(h.PromptName)} AND prompt_version = {ClickHouseHttp.Quote(h.PromptVersion)}"
                + $" AND request_model = {ClickHouseHttp.Quote(h.Model)} AND environment = {ClickHouseHttp.Quote(h.Environment)} AND service = {ClickHouseHttp.Quote(h.Service)}";
            var counts = (await clickHouse.QueryAsync(
                $"SELECT sum(calls) AS c, sum(successes) AS s, sum(cost_usd) AS cost FROM metrics_1m FINAL WHERE {filter} AND window_start >= {from} AND window_start < {to}", ct))[0];
            var sample = (await clickHouse.QueryAsync(
                $"SELECT latency_ms FROM calls FINAL WHERE {filter} AND occurred_at >= {from} AND occurred_at < {to} ORDER BY cityHash64(toString(event_id)) LIMIT 4000", ct))
                .Select(r => StoredValues.Number(r, "latency_ms")).ToList();
            var calls = StoredValues.Count(counts, "c");
            return (calls, StoredValues.Count(counts, "s"), calls == 0 ? 0 : StoredValues.Number(counts, "cost") / calls, sample);
        }
        var a = await Side(control);
        var b = await Side(candidate);
        var (z, p) = Statistics.TwoProportion(a.Successes, a.Calls, b.Successes, b.Calls);
        var (low, high, _) = Statistics.BootstrapQuantileDifference(a.Sample, b.Sample, 0.95);
        var findings = new List<string>();
        if (low > 0) findings.Add($"p95 is slower by {low:0}-{high:0} ms (95% CI)");
        else if (high < 0) findings.Add($"p95 is faster by {-high:0}-{-low:0} ms (95% CI)");
        if (p < 0.05) findings.Add($"success rate is {(z < 0 ? "worse" : "better")} ({(double)b.Successes / Math.Max(1, b.Calls):P2} vs {(double)a.Successes / Math.Max(1, a.Calls):P2}, p={p:0.0000})");
        var verdict = findings.Count == 0
            ? $"{candidate.PromptVersion}: no significant difference from {control.PromptVersion}"
            : $"{candidate.PromptVersion} vs {control.PromptVersion}: " + string.Join("; ", findings);
        return new VersionComparison(control.PromptName, control.PromptVersion, candidate.PromptVersion, a.Calls, b.Calls,
            (double)a.Successes / Math.Max(1, a.Calls), (double)b.Successes / Math.Max(1, b.Calls), z, p,
            control.P95Ms, candidate.P95Ms, low, high, a.Cost, b.Cost, verdict);
    }

    private async Task<List<string>> ChartsAsync(ReportRequest request, long from, long to, CancellationToken ct)
    {
        var rows = await clickHouse.QueryAsync($"""
            SELECT prompt_name, prompt_version, toUInt32(window_start) AS ws, calls, latency_p95_ms
            FROM metrics_1m FINAL WHERE window_start >= {from} AND window_start < {to} ORDER BY ws
            """, ct);
        var latency = new ScottPlot.Plot();
        var traffic = new ScottPlot.Plot();
        foreach (var series in rows.GroupBy(r => $"{r.GetProperty("prompt_name").GetString()}@{r.GetProperty("prompt_version").GetString()}"))
        {
            var xs = series.Select(r => DateTimeOffset.FromUnixTimeSeconds(r.GetProperty("ws").GetInt64()).UtcDateTime.ToOADate()).ToArray();
            var p95 = latency.Add.Scatter(xs, series.Select(r => StoredValues.Number(r, "latency_p95_ms")).ToArray());
            p95.LegendText = series.Key;
            var calls = traffic.Add.Scatter(xs, series.Select(r => (double)StoredValues.Count(r, "calls")).ToArray());
            calls.LegendText = series.Key;
        }
        var files = new List<string>();
        foreach (var (plot, name, title, y) in new[] { (latency, "latency_p95", "p95 latency per minute", "ms"), (traffic, "calls", "calls per minute", "calls") })
        {
            plot.Axes.DateTimeTicksBottom();
            plot.Title(title);
            plot.YLabel(y);
            plot.ShowLegend();
            var png = Path.Combine(request.OutputDirectory, name + ".png");
            var svg = Path.Combine(request.OutputDirectory, name + ".svg");
            plot.SavePng(png, 1000, 420);
            plot.SaveSvg(svg, 1000, 420);
            files.Add(png);
            files.Add(svg);
        }
        return files;
    }

    private static async Task<List<string>> WriteAsync(ReportRequest request, Report r, CancellationToken ct)
    {
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine(inv, $"# {request.Title}").AppendLine();
        md.AppendLine(inv, $"Period: {request.From:yyyy-MM-dd HH:mm} to {request.To:yyyy-MM-dd HH:mm} UTC.").AppendLine();
        var calls = r.Health.Sum(h => h.Calls);
        var success = r.Health.Sum(h => h.SuccessRate * h.Calls) / Math.Max(1, calls);
        md.AppendLine("## KPIs").AppendLine();
        md.AppendLine(inv, $"- Calls: {calls:N0}");
        md.AppendLine(inv, $"- Success rate: {success:P2} (objective {request.Slo:P1}: {(success >= request.Slo ? "met" : "MISSED")})");
        md.AppendLine(inv, $"- Cost: ${r.TotalCost:0.00}; projected per 30 days at this rate: ${r.ProjectedMonthlyCost:0.00}");
        md.AppendLine(inv, $"- Alerts: {r.Alerts.Count(a => a.GetProperty("state").GetString() == "FIRING")} fired; anomalous windows: {r.Anomalies}").AppendLine();
        md.AppendLine("## Health and SLA per prompt version").AppendLine();
        md.AppendLine("| status | prompt | version | model | calls | success | error budget left | p50 ms | p95 ms | p99 ms | cost $ | quality |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var h in r.Health)
        {
            var budgetLeft = Math.Max(0, 1 - (1 - h.SuccessRate) / (1 - request.Slo));
            md.AppendLine(inv, $"| {h.Status} | {Md(h.PromptName)} | {Md(h.PromptVersion)} | {Md(h.Model)} | {h.Calls} | {h.SuccessRate:P2} | {budgetLeft:P0} | {h.P50Ms:0} | {h.P95Ms:0} | {h.P99Ms:0} | {h.CostUsd:0.0000} | {h.QualityMean:0.00} |");
        }
        md.AppendLine().AppendLine("## Version A/B").AppendLine();
        foreach (var c in r.Comparisons)
        {
            md.AppendLine(inv, $"- **{Md(c.Prompt)}**: {Md(c.Verdict)} (calls {c.ControlCalls} vs {c.CandidateCalls}; p95 {c.ControlP95Ms:0} vs {c.CandidateP95Ms:0} ms; cost/call ${c.ControlCostPerCall:0.000000} vs ${c.CandidateCostPerCall:0.000000})");
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
            title = request.Title, from = request.From, to = request.To, calls, success_rate = success, cost_usd = r.TotalCost,
            projected_month_usd = r.ProjectedMonthlyCost, health = r.Health, comparisons = r.Comparisons, anomalies = r.Anomalies,
        }, Indented), ct);
        var csvPath = Path.Combine(dir, "health.csv");
        var csv = new StringBuilder("prompt_name,prompt_version,model,calls,success_rate,p50_ms,p95_ms,p99_ms,cost_usd,quality_mean,status\n");
        foreach (var h in r.Health)
        {
            csv.AppendLine(inv, $"{Csv(h.PromptName)},{Csv(h.PromptVersion)},{Csv(h.Model)},{h.Calls},{h.SuccessRate},{h.P50Ms},{h.P95Ms},{h.P99Ms},{h.CostUsd},{h.QualityMean},{h.Status}");
        }
        await File.WriteAllTextAsync(csvPath, csv.ToString(), ct);
        return [mdPath, htmlPath, jsonPath, csvPath];
    }

    /// <summary>Minimal HTML: every line escaped, table rows and images rendered.</summary>
    private static string Html(string title, string markdown)
    {
        var sb = new StringBuilder($"<!doctype html><html><head><meta charset=\"utf-8\"><title>{WebUtility.HtmlEncode(title)}</title>")
            .Append("<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}</style></head><body>");
        var inTable = false;
        foreach (var line in markdown.Split('\n'))
        {
            if (line.StartsWith('|'))
            {
                if (line.StartsWith("|---", StringComparison.Ordinal)) continue;
                if (!inTable) { sb.Append("<table>"); inTable = true; }
                sb.Append("<tr>").Append(string.Concat(line.Trim('|').Split(" | ").Select(c => $"<td>{WebUtility.HtmlEncode(c.Trim())}</td>"))).Append("</tr>");
                continue;
            }
            if (inTable) { sb.Append("</table>"); inTable = false; }
            if (line.StartsWith("# ", StringComparison.Ordinal)) sb.Append("<h1>").Append(WebUtility.HtmlEncode(line[2..])).Append("</h1>");
            else if (line.StartsWith("## ", StringComparison.Ordinal)) sb.Append("<h2>").Append(WebUtility.HtmlEncode(line[3..])).Append("</h2>");
            else if (line.StartsWith("![", StringComparison.Ordinal)) sb.Append("<img src=\"").Append(WebUtility.HtmlEncode(line[(line.IndexOf('(', StringComparison.Ordinal) + 1)..^1])).Append("\">");
            else if (line.StartsWith("- ", StringComparison.Ordinal)) sb.Append("<p>• ").Append(WebUtility.HtmlEncode(line[2..])).Append("</p>");
            else if (line.Length > 0) sb.Append("<p>").Append(WebUtility.HtmlEncode(line)).Append("</p>");
        }
        if (inTable) sb.Append("</table>");
        return sb.Append("</body></html>").ToString();
    }

    private static string Md(string? s) => new string((s ?? "").Select(c => char.IsControl(c) ? '?' : c).ToArray()).Replace("|", "\\|", StringComparison.Ordinal);

    private static string Csv(string s) => "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
