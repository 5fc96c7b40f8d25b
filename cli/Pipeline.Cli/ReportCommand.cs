using System.CommandLine;
using System.Globalization;
using Pipeline.ClickHouse;
using Pipeline.Reports;

namespace Pipeline.Cli;

/// <summary><c>pipeline report daily|weekly|monthly|range</c>.</summary>
internal static class ReportCommand
{
    private static readonly Option<string?> Out = new("--out") { Description = "Output folder (default .run/reports/<kind>-<date>)" };
    private static readonly Option<DateTimeOffset?> From = new("--from") { Description = "Start, ISO 8601 (range only), e.g. 2026-11-23T00:00Z" };
    private static readonly Option<DateTimeOffset?> To = new("--to") { Description = "End, ISO 8601 (range only)" };
    private static readonly Option<string?> Month = new("--month") { Description = "The month, yyyy-MM (monthly only; default the last complete month)" };

    public static Command Create()
    {
        var command = new Command("report", """
            Write a report (Markdown, HTML, JSON, CSV, PNG and SVG charts) from ClickHouse: KPIs against
            targets, SLA and error budget, cost with a monthly projection, version A/B with significance and
            a verdict, top errors, stage bottlenecks, alerts and anomalies. Exit code 1 when the range has no data.
            --environment and --service keep one team's series (every section). Costs leave out calls with no
            cost_usd and no price for their model and say how many ('unpriced'). An A/B verdict needs 30 calls
            per side for p95 and 30 calls with 5 expected successes and errors per side for the success rate;
            below that it says 'not enough data'.

            Examples:
              pipeline report daily
              pipeline report weekly --out /tmp/weekly --environment prod --service checkout
              pipeline report range --from 2026-11-23T09:00Z --to 2026-11-23T12:00Z
            """);
        foreach (var (name, span) in new[] { ("daily", TimeSpan.FromDays(1)), ("weekly", TimeSpan.FromDays(7)) })
        {
            var sub = new Command(name, $"The last {(name == "daily" ? "24 hours" : "7 days")}. Example: pipeline report {name} --environment prod");
            sub.Options.Add(Out);
            ScopeFlags.AddTo(sub);
            CommandRunner.SetHandler(sub, (config, parse, ct) =>
            {
                var to = TimeProvider.System.GetUtcNow();
                return RunAsync(config, name, to - span, to, parse.GetValue(Out), ScopeFlags.Read(parse), ct);
            });
            command.Subcommands.Add(sub);
        }
        var monthly = new Command("monthly", """
            The last calendar month (UTC), or --month: the executive report, each prompt and model against the
            month before. Example: pipeline report monthly --month 2026-11
            """);
        monthly.Options.Add(Month);
        monthly.Options.Add(Out);
        ScopeFlags.AddTo(monthly);
        CommandRunner.SetHandler(monthly, async (config, parse, ct) =>
        {
            var at = TimeProvider.System.GetUtcNow();
            if (parse.GetValue(Month) is { } month)
            {
                if (!DateTime.TryParseExact(month, "yyyy-MM", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var m))
                {
                    await Console.Error.WriteLineAsync($"error: --month '{month}' is not a month such as 2026-11");
                    return ExitCodes.Usage;
                }
                at = new DateTimeOffset(m.AddMonths(1), TimeSpan.Zero);
            }
            var (from, to) = ReportDelivery.Period("monthly", at, TimeZoneInfo.Utc);
            return await RunAsync(config, "monthly", from, to, parse.GetValue(Out), ScopeFlags.Read(parse), ct);
        });
        command.Subcommands.Add(monthly);
        var range = new Command("range", "An explicit period. Example: pipeline report range --from 2026-11-23T09:00Z --to 2026-11-23T12:00Z");
        range.Options.Add(From);
        range.Options.Add(To);
        range.Options.Add(Out);
        ScopeFlags.AddTo(range);
        CommandRunner.SetHandler(range, async (config, parse, ct) =>
        {
            if (parse.GetValue(From) is not { } from || parse.GetValue(To) is not { } to || to <= from)
            {
                await Console.Error.WriteLineAsync("error: report range needs --from and --to, with --to after --from");
                return ExitCodes.Usage;
            }
            return await RunAsync(config, "range", from, to, parse.GetValue(Out), ScopeFlags.Read(parse), ct);
        });
        command.Subcommands.Add(range);
        return command;
    }

    public static async Task<int> RunAsync(PipelineConfig config, string kind, DateTimeOffset from, DateTimeOffset to, string? outDir, SeriesScope scope, CancellationToken ct)
    {
        var dir = outDir ?? Path.Combine(config.RunDir, "reports", $"{kind}-{to.ToString("yyyyMMdd-HHmm", CultureInfo.InvariantCulture)}");
        using var clickHouse = new ClickHouseHttp(config.ClickHouse.AsAnalyst());
        try
        {
            if (kind == "monthly")
            {
                var monthly = await new MonthlyReportBuilder(clickHouse).BuildAsync(new ReportRequest($"Pipeline monthly report", from, to, dir) { Scope = scope, Kind = kind }, ct);
                Console.WriteLine($"monthly report {monthly.Month:yyyy-MM} written to {dir}:");
                foreach (var f in monthly.Files) Console.WriteLine($"  {f}");
                foreach (var r in monthly.Recommendations) Console.WriteLine($"  recommendation: {Terminal.Plain(r)}");
                return ExitCodes.Ok;
            }
            var report = await Build(clickHouse, $"Pipeline {kind} report", from, to, dir, scope, ct, kind);
            Console.WriteLine($"report written to {dir}:");
            foreach (var f in report.Files) Console.WriteLine($"  {f}");
            foreach (var c in report.Comparisons) Console.WriteLine($"  A/B {Terminal.Plain(c.Prompt)}: {Terminal.Plain(c.Verdict)}");
            return ExitCodes.Ok;
        }
        catch (NoDataException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}");
            return ExitCodes.Failed;
        }
    }

    public static Task<Report> Build(ClickHouseHttp clickHouse, string title, DateTimeOffset from, DateTimeOffset to, string dir, SeriesScope scope, CancellationToken ct, string kind = "range") =>
        new ReportBuilder(clickHouse).BuildAsync(new ReportRequest(title, from, to, dir) { Scope = scope, Kind = kind },
            new Progress<string>(step => Console.Error.WriteLine($"  report: {step}...")), ct);
}
