using System.Globalization;
using System.Text;
using System.Text.Json;
using Pipeline.ClickHouse;

namespace Pipeline.Reports;

/// <summary>One prompt and model over one month, from the daily rollups.</summary>
/// <param name="P95Ms">p95 latency: the month's daily t-digests merged (within the rollups' t-digest error).</param>
/// <param name="CostUsd">Cost of the calls that have one; <paramref name="UnpricedCalls"/> are not in it.</param>
/// <param name="DaysMet">Days with traffic whose success rate met the objective, of <paramref name="Days"/>.</param>
public sealed record MonthlyLine(string Prompt, string Model, long Calls, long Successes, long Errors, double P95Ms, double CostUsd,
    long UnpricedCalls, int DaysMet, int Days)
{
    public double SuccessRate => Calls == 0 ? 0 : (double)Successes / Calls;

    /// <summary>Share of the error budget ((1 - objective) x calls) left; negative when overspent.</summary>
    public double ErrorBudgetLeft(double slo) => Calls == 0 ? 1 : 1 - Errors / ((1 - slo) * Calls);
}

/// <summary>An incident of the month: its FIRING record and, when resolved, how long it took.</summary>
public sealed record MonthlyIncident(string AlertId, string RuleId, string Severity, string Prompt, string Model, DateTimeOffset StartedAt,
    TimeSpan TimeToDetect, TimeSpan? TimeToResolve, string Summary);

/// <summary>A prompt version first seen in the month, against the version with most calls of its prompt and model.</summary>
public sealed record MonthlyRelease(string Prompt, string Model, string Version, DateOnly FirstDay, string Control, long Calls, double SuccessRate,
    double ControlSuccessRate, double P95Ms, double ControlP95Ms, double? SuccessP, string Verdict);

/// <summary>The monthly executive report: the month against the one before, per prompt and model.</summary>
public sealed record MonthlyExecutiveReport(DateOnly Month, IReadOnlyList<(MonthlyLine Current, MonthlyLine? Previous)> Lines,
    IReadOnlyList<MonthlyIncident> Incidents, IReadOnlyList<MonthlyRelease> Releases, IReadOnlyList<string> Recommendations,
    double ProjectedNextMonthUsd, IReadOnlyList<string> Files);

/// <summary>
/// Builds the monthly executive report from <c>metrics_1d</c> (kept when retention drops raw calls and minute
/// windows, so a month stays reportable) and <c>alerts</c>: calls, success, p95, cost and its projection, SLA
/// compliance and error budget, incidents with time to detect and resolve, releases with an A/B verdict on the
/// success rate, and recommendations that quote their numbers. Months are UTC calendar months (the rollups' days).
/// </summary>
public sealed class MonthlyReportBuilder(ClickHouseHttp clickHouse)
{
    /// <summary>p95 up by more than this against the month before is a recommendation.</summary>
    public const double LatencyRiseFlag = 0.20;
    /// <summary>Cost up by more than this against the month before is a recommendation.</summary>
    public const double CostRiseFlag = 0.25;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public async Task<MonthlyExecutiveReport> BuildAsync(ReportRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var month = DateOnly.FromDateTime(request.From.UtcDateTime);
        month = new DateOnly(month.Year, month.Month, 1);
        var next = month.AddMonths(1);
        var previous = month.AddMonths(-1);
        var scope = request.Scope.Sql();
        var current = await LinesAsync(month, next, scope, request.Slo, ct);
        if (current.Count == 0)
        {
            throw new NoDataException($"no daily rollups (metrics_1d) for {month:yyyy-MM} in database '{clickHouse.Options.Database}'"
                + (request.Scope.IsAll ? "" : $" for {request.Scope}") + "; pipeline maintain builds them");
        }
        var before = (await LinesAsync(previous, month, scope, request.Slo, ct)).ToDictionary(l => (l.Prompt, l.Model));
        var lines = current.Select(c => (c, before.GetValueOrDefault((c.Prompt, c.Model)))).ToList();
        var incidents = await IncidentsAsync(month, next, scope, ct);
        var releases = await ReleasesAsync(month, next, scope, request.Minimums, ct);
        var days = next.DayNumber - month.DayNumber;
        var projected = current.Sum(l => l.CostUsd) / days * (next.AddMonths(1).DayNumber - next.DayNumber);
        var recommendations = Recommend(lines, releases, incidents, request.Slo);
        Directory.CreateDirectory(request.OutputDirectory);
        var report = new MonthlyExecutiveReport(month, lines, incidents, releases, recommendations, projected, []);
        var files = new List<string>();
        files.AddRange(await ChartsAsync(request, month, next, scope, ct));
        files.AddRange(await WriteAsync(request, report, ct));
        return report with { Files = files };
    }

    private async Task<List<MonthlyLine>> LinesAsync(DateOnly from, DateOnly to, string scope, double slo, CancellationToken ct)
    {
        var where = $"day >= toDate('{D(from)}') AND day < toDate('{D(to)}') AND {scope}";
        var rows = await clickHouse.QueryAsync($"""
            SELECT prompt_name, request_model, sumMerge(requests_state) AS calls, sumMerge(successes_state) AS successes,
                sumMerge(errors_state) AS errors, quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_quantiles_state) AS q, q[2] AS p95,
                sumMerge(cost_state) AS cost, sumMerge(unpriced_state) AS unpriced
            FROM metrics_1d WHERE {where}
            GROUP BY prompt_name, request_model HAVING calls > 0 ORDER BY prompt_name, request_model
            """, ct);
        var daily = (await clickHouse.QueryAsync($"""
            SELECT prompt_name, request_model, countIf(s >= {slo.ToString("R", CultureInfo.InvariantCulture)}) AS met, count() AS days
            FROM (SELECT prompt_name, request_model, day, sumMerge(successes_state) / sumMerge(requests_state) AS s
                  FROM metrics_1d WHERE {where} GROUP BY prompt_name, request_model, day HAVING sumMerge(requests_state) > 0)
            GROUP BY prompt_name, request_model
            """, ct)).ToDictionary(r => (S(r, "prompt_name"), S(r, "request_model")));
        return rows.Select(r =>
        {
            var d = daily.GetValueOrDefault((S(r, "prompt_name"), S(r, "request_model")));
            return new MonthlyLine(S(r, "prompt_name"), S(r, "request_model"), StoredValues.Count(r, "calls"), StoredValues.Count(r, "successes"),
                StoredValues.Count(r, "errors"), StoredValues.Number(r, "p95"), StoredValues.Number(r, "cost"), StoredValues.Count(r, "unpriced"),
                d.ValueKind == JsonValueKind.Undefined ? 0 : (int)StoredValues.Count(d, "met"), d.ValueKind == JsonValueKind.Undefined ? 0 : (int)StoredValues.Count(d, "days"));
        }).ToList();
    }

    private async Task<List<MonthlyIncident>> IncidentsAsync(DateOnly from, DateOnly to, string scope, CancellationToken ct)
    {
        var where = $"started_at >= toDateTime('{D(from)} 00:00:00') AND started_at < toDateTime('{D(to)} 00:00:00') AND {scope}";
        var firing = await clickHouse.QueryAsync($"""
            SELECT alert_id, rule_id, toString(severity) AS severity, prompt_name, request_model, toUInt32(started_at) AS started,
                toUInt32(window_end) AS fired, summary
            FROM alerts FINAL WHERE state = 'FIRING' AND {where} ORDER BY started, alert_id
            """, ct);
        var resolved = (await clickHouse.QueryAsync(
            $"SELECT alert_id, toUInt32(ifNull(resolved_at, window_end)) AS resolved FROM alerts FINAL WHERE state = 'RESOLVED' AND {where}", ct))
            .GroupBy(r => S(r, "alert_id")).ToDictionary(g => g.Key, g => g.Min(r => StoredValues.Count(r, "resolved")));
        return firing.Select(r =>
        {
            var started = StoredValues.Count(r, "started");
            // Detect: from the first breaching window (the incident's start) to the window that fired it.
            var detect = TimeSpan.FromSeconds(Math.Max(0, StoredValues.Count(r, "fired") - started));
            TimeSpan? resolve = resolved.TryGetValue(S(r, "alert_id"), out var at) ? TimeSpan.FromSeconds(Math.Max(0, at - started)) : null;
            return new MonthlyIncident(S(r, "alert_id"), S(r, "rule_id"), S(r, "severity"), S(r, "prompt_name"), S(r, "request_model"),
                DateTimeOffset.FromUnixTimeSeconds(started), detect, resolve, S(r, "summary"));
        }).ToList();
    }

    private async Task<List<MonthlyRelease>> ReleasesAsync(DateOnly from, DateOnly to, string scope, AbMinimums minimums, CancellationToken ct)
    {
        var firstSeen = (await clickHouse.QueryAsync($"""
            SELECT prompt_name, request_model, prompt_version, toString(min(day)) AS first_day
            FROM metrics_1d WHERE day < toDate('{D(to)}') AND {scope} GROUP BY prompt_name, request_model, prompt_version
            """, ct)).ToDictionary(r => (S(r, "prompt_name"), S(r, "request_model"), S(r, "prompt_version")), r => DateOnly.Parse(S(r, "first_day"), CultureInfo.InvariantCulture));
        var versions = await clickHouse.QueryAsync($"""
            SELECT prompt_name, request_model, prompt_version, sumMerge(requests_state) AS calls, sumMerge(events_state) AS events,
                sumMerge(successes_state) AS successes, quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_quantiles_state) AS q, q[2] AS p95
            FROM metrics_1d WHERE day >= toDate('{D(from)}') AND day < toDate('{D(to)}') AND {scope}
            GROUP BY prompt_name, request_model, prompt_version HAVING calls > 0
            """, ct);
        var releases = new List<MonthlyRelease>();
        foreach (var prompt in versions.GroupBy(r => (S(r, "prompt_name"), S(r, "request_model"))))
        {
            foreach (var v in prompt)
            {
                var key = (prompt.Key.Item1, prompt.Key.Item2, S(v, "prompt_version"));
                if (!firstSeen.TryGetValue(key, out var first) || first < from) continue;
                var control = prompt.Where(o => S(o, "prompt_version") != key.Item3).MaxBy(o => StoredValues.Count(o, "calls"));
                if (control.ValueKind == JsonValueKind.Undefined) continue;
                long C(JsonElement e, string n) => StoredValues.Count(e, n);
                var (sa, ca, ea) = (C(control, "successes"), C(control, "calls"), C(control, "events"));
                var (sb, cb, eb) = (C(v, "successes"), C(v, "calls"), C(v, "events"));
                double? p = null;
                var versus = $"{key.Item3} vs {S(control, "prompt_version")}";
                string verdict;
                if (Statistics.SuccessShortfall(sb, cb, eb, sa, ca, ea, minimums) is { } why)
                {
                    verdict = $"{versus}: not enough data ({why})";
                }
                else
                {
                    var (z, pp) = Statistics.TwoProportion(sa, ca, sb, cb);
                    p = pp;
                    verdict = pp < 0.05
                        ? string.Create(CultureInfo.InvariantCulture, $"{versus}: success rate is {(z < 0 ? "worse" : "better")} ({(double)sb / cb:P2} vs {(double)sa / ca:P2}, p={pp:0.0000})")
                        : $"{key.Item3}: no significant difference in success rate from {S(control, "prompt_version")}";
                }
                releases.Add(new MonthlyRelease(key.Item1, key.Item2, key.Item3, first, S(control, "prompt_version"), cb, (double)sb / cb, (double)sa / ca,
                    StoredValues.Number(v, "p95"), StoredValues.Number(control, "p95"), p, verdict));
            }
        }
        return releases.OrderBy(r => r.Prompt, StringComparer.Ordinal).ThenBy(r => r.FirstDay).ToList();
    }

    /// <summary>What to look at, each with the numbers that make it worth a look.</summary>
    internal static List<string> Recommend(IReadOnlyList<(MonthlyLine Current, MonthlyLine? Previous)> lines, IReadOnlyList<MonthlyRelease> releases,
        IReadOnlyList<MonthlyIncident> incidents, double slo)
    {
        var inv = CultureInfo.InvariantCulture;
        var list = new List<string>();
        foreach (var (c, p) in lines)
        {
            if (c.SuccessRate < slo)
            {
                list.Add(string.Create(inv, $"{c.Prompt} on {c.Model}: success {c.SuccessRate:P2} is below the {slo:P1} objective ({c.Errors:N0} errors of {c.Calls:N0} calls, error budget left {c.ErrorBudgetLeft(slo):P0}); look at its top errors first"));
            }
            if (p is { P95Ms: > 0 } && c.P95Ms > p.P95Ms * (1 + LatencyRiseFlag))
            {
                list.Add(string.Create(inv, $"{c.Prompt} on {c.Model}: p95 rose {c.P95Ms / p.P95Ms - 1:P0} ({p.P95Ms:0} ms to {c.P95Ms:0} ms); check its stages and the model's latency"));
            }
            if (p is { CostUsd: > 0 } && c.CostUsd > p.CostUsd * (1 + CostRiseFlag))
            {
                list.Add(string.Create(inv, $"{c.Prompt} on {c.Model}: cost rose {c.CostUsd / p.CostUsd - 1:P0} (${p.CostUsd:0.00} to ${c.CostUsd:0.00}) on {(p.Calls == 0 ? 0 : (double)c.Calls / p.Calls - 1):P0} more calls; check tokens per call or a cheaper model"));
            }
        }
        foreach (var r in releases.Where(r => r.SuccessP < 0.05 && r.SuccessRate < r.ControlSuccessRate))
        {
            list.Add(string.Create(inv, $"{r.Prompt} {r.Version} (released {r.FirstDay:yyyy-MM-dd}) succeeds less than {r.Control}: {r.SuccessRate:P2} vs {r.ControlSuccessRate:P2} (p={r.SuccessP:0.0000}); consider rolling back"));
        }
        var slow = incidents.Where(i => i.TimeToResolve is null).ToList();
        if (slow.Count > 0) list.Add($"{slow.Count} incident(s) of the month are not resolved: {string.Join(", ", slow.Select(i => i.AlertId))}");
        return list;
    }

    private async Task<List<string>> ChartsAsync(ReportRequest request, DateOnly from, DateOnly to, string scope, CancellationToken ct)
    {
        var rows = await clickHouse.QueryAsync($"""
            SELECT prompt_name, request_model, toString(day) AS d, sumMerge(requests_state) AS calls,
                quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_quantiles_state) AS q, q[2] AS p95
            FROM metrics_1d WHERE day >= toDate('{D(from)}') AND day < toDate('{D(to)}') AND {scope}
            GROUP BY prompt_name, request_model, day ORDER BY d
            """, ct);
        var latency = new ScottPlot.Plot();
        var traffic = new ScottPlot.Plot();
        foreach (var series in rows.GroupBy(r => $"{S(r, "prompt_name")} / {S(r, "request_model")}"))
        {
            var xs = series.Select(r => DateTime.Parse(S(r, "d"), CultureInfo.InvariantCulture).ToOADate()).ToArray();
            latency.Add.Scatter(xs, series.Select(r => StoredValues.Number(r, "p95")).ToArray()).LegendText = series.Key;
            traffic.Add.Scatter(xs, series.Select(r => (double)StoredValues.Count(r, "calls")).ToArray()).LegendText = series.Key;
        }
        var files = new List<string>();
        foreach (var (plot, name, title, y) in new[] { (latency, "latency_p95", "p95 latency per day", "ms"), (traffic, "calls", "calls per day", "calls") })
        {
            plot.Axes.DateTimeTicksBottom();
            plot.Title(title);
            plot.YLabel(y);
            plot.ShowLegend();
            var png = Path.Combine(request.OutputDirectory, name + ".png");
            plot.SavePng(png, 1000, 420);
            files.Add(png);
        }
        return files;
    }

    private static async Task<List<string>> WriteAsync(ReportRequest request, MonthlyExecutiveReport r, CancellationToken ct)
    {
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine(inv, $"# {request.Title}").AppendLine();
        md.AppendLine(inv, $"Month: {r.Month:yyyy-MM} (UTC), against {r.Month.AddMonths(-1):yyyy-MM}.").AppendLine();
        if (!request.Scope.IsAll) md.AppendLine(inv, $"Scope: {ReportBuilder.Md(request.Scope.ToString())}.").AppendLine();
        var calls = r.Lines.Sum(l => l.Current.Calls);
        var cost = r.Lines.Sum(l => l.Current.CostUsd);
        var previousCost = r.Lines.Sum(l => l.Previous?.CostUsd ?? 0);
        md.AppendLine("## KPIs").AppendLine();
        md.AppendLine(inv, $"- Calls: {calls:N0} (previous month {r.Lines.Sum(l => l.Previous?.Calls ?? 0):N0})");
        md.AppendLine(inv, $"- Success rate: {r.Lines.Sum(l => l.Current.Successes) / (double)Math.Max(1, calls):P2} (objective {request.Slo:P1})");
        md.AppendLine(inv, $"- Cost: ${cost:0.00} (previous month ${previousCost:0.00}); projected next month at this month's daily rate: ${r.ProjectedNextMonthUsd:0.00}");
        md.AppendLine(inv, $"- Incidents: {r.Incidents.Count}; releases: {r.Releases.Count}").AppendLine();
        md.AppendLine("## Per prompt and model, against the previous month").AppendLine();
        md.AppendLine("| prompt | model | calls | prev calls | success | prev success | p95 ms | prev p95 ms | cost $ | prev cost $ | SLA days met | error budget left |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var (c, p) in r.Lines)
        {
            md.AppendLine(inv, $"| {ReportBuilder.Md(c.Prompt)} | {ReportBuilder.Md(c.Model)} | {c.Calls} | {p?.Calls.ToString(inv) ?? "-"} | {c.SuccessRate:P2} | {(p is null ? "-" : p.SuccessRate.ToString("P2", inv))} | {c.P95Ms:0} | {(p is null ? "-" : p.P95Ms.ToString("0", inv))} | {c.CostUsd:0.00} | {(p is null ? "-" : p.CostUsd.ToString("0.00", inv))} | {c.DaysMet}/{c.Days} | {c.ErrorBudgetLeft(request.Slo):P0} |");
        }
        md.AppendLine().AppendLine("## Incidents").AppendLine();
        foreach (var i in r.Incidents)
        {
            md.AppendLine(inv, $"- {i.StartedAt:yyyy-MM-dd HH:mm} {i.Severity} `{ReportBuilder.Md(i.RuleId)}` {ReportBuilder.Md(i.Prompt)}: detected in {Minutes(i.TimeToDetect)}, {(i.TimeToResolve is { } t ? "resolved in " + Minutes(t) : "NOT RESOLVED")}: {ReportBuilder.Md(i.Summary)}");
        }
        if (r.Incidents.Count == 0) md.AppendLine("No incidents.");
        md.AppendLine().AppendLine("## Releases").AppendLine();
        foreach (var x in r.Releases)
        {
            md.AppendLine(inv, $"- **{ReportBuilder.Md(x.Prompt)}** {ReportBuilder.Md(x.Version)} (first seen {x.FirstDay:yyyy-MM-dd}, {x.Calls:N0} calls): {ReportBuilder.Md(x.Verdict)}; p95 {x.P95Ms:0} vs {x.ControlP95Ms:0} ms");
        }
        if (r.Releases.Count == 0) md.AppendLine("No new prompt versions this month.");
        md.AppendLine().AppendLine("## Recommendations").AppendLine();
        foreach (var x in r.Recommendations) md.AppendLine("- " + ReportBuilder.Md(x));
        if (r.Recommendations.Count == 0) md.AppendLine("Nothing stands out.");
        md.AppendLine().AppendLine("## Charts").AppendLine().AppendLine("![p95 latency](latency_p95.png)").AppendLine().AppendLine("![calls](calls.png)");

        var dir = request.OutputDirectory;
        var mdPath = Path.Combine(dir, "report.md");
        await File.WriteAllTextAsync(mdPath, md.ToString(), ct);
        var htmlPath = Path.Combine(dir, "report.html");
        await File.WriteAllTextAsync(htmlPath, ReportBuilder.Html(request.Title, md.ToString()), ct);
        var jsonPath = Path.Combine(dir, "report.json");
        await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(new
        {
            title = request.Title, month = r.Month.ToString("yyyy-MM", inv), calls, cost_usd = cost, projected_next_month_usd = r.ProjectedNextMonthUsd,
            lines = r.Lines.Select(l => new { current = l.Current, previous = l.Previous }), incidents = r.Incidents, releases = r.Releases, recommendations = r.Recommendations,
        }, Indented), ct);
        var csvPath = Path.Combine(dir, "monthly.csv");
        var csv = new StringBuilder("prompt_name,model,calls,successes,errors,p95_ms,cost_usd,unpriced_calls,sla_days_met,days,prev_calls,prev_successes,prev_p95_ms,prev_cost_usd\n");
        foreach (var (c, p) in r.Lines)
        {
            csv.AppendLine(inv, $"{ReportBuilder.Csv(c.Prompt)},{ReportBuilder.Csv(c.Model)},{c.Calls},{c.Successes},{c.Errors},{c.P95Ms},{c.CostUsd},{c.UnpricedCalls},{c.DaysMet},{c.Days},{p?.Calls},{p?.Successes},{p?.P95Ms},{p?.CostUsd}");
        }
        await File.WriteAllTextAsync(csvPath, csv.ToString(), ct);
        return [mdPath, htmlPath, jsonPath, csvPath];
    }

    private static string Minutes(TimeSpan t) => t.TotalMinutes.ToString("0", CultureInfo.InvariantCulture) + " min";

    private static string D(DateOnly d) => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static string S(JsonElement e, string name) => e.GetProperty(name).GetString() ?? "";
}
