using System.CommandLine;
using System.Globalization;
using Pipeline.ClickHouse;
using Pipeline.Reports;
using Spectre.Console;

namespace Pipeline.Cli;

/// <summary><c>pipeline top</c>: a live per-prompt health view in the terminal.</summary>
internal static class TopCommand
{
    private static readonly Option<int> Minutes = new("--minutes") { Description = "Look-back window in minutes", DefaultValueFactory = _ => 15 };
    private static readonly Option<int> Interval = new("--interval") { Description = "Refresh every N seconds", DefaultValueFactory = _ => 5 };
    private static readonly Option<bool> Once = new("--once") { Description = "Print one table and exit (for scripts)" };

    public static Command Create()
    {
        var command = new Command("top", """
            Live health of every prompt version, from ClickHouse: status colour (red when quality < 0.8,
            mean latency > 1000 ms or success < 95%; yellow at 0.9 / 500 ms / 98%), requests/min, success
            rate, p50/p95/p99, tokens, cost ('unpriced' for calls with no cost_usd and no price for their
            model), quality, active alerts, and how fresh the data is. --environment and --service keep one
            team's series; without them, rows of several environments or services say which is which.

            Examples:
              pipeline top
              pipeline top --minutes 60 --once
              pipeline top --environment prod --service checkout
            """);
        command.Options.Add(Minutes);
        command.Options.Add(Interval);
        command.Options.Add(Once);
        ScopeFlags.AddTo(command);
        CommandRunner.SetHandler(command, async (config, parse, ct) =>
        {
            using var clickHouse = new ClickHouseHttp(config.ClickHouse.AsAnalyst());
            var minutes = parse.GetValue(Minutes);
            var scope = ScopeFlags.Read(parse);
            if (parse.GetValue(Once))
            {
                AnsiConsole.Write(await RenderAsync(clickHouse, minutes, scope, ct));
                return ExitCodes.Ok;
            }
            await AnsiConsole.Live(new Text("loading...")).StartAsync(async live =>
            {
                while (!ct.IsCancellationRequested)
                {
                    live.UpdateTarget(await RenderAsync(clickHouse, minutes, scope, ct));
                    try
                    {
                        await Task.Delay(TimeSpan.FromSeconds(parse.GetValue(Interval)), TimeProvider.System, ct);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
            });
            return ExitCodes.Ok;
        });
        return command;
    }

    public static async Task<Spectre.Console.Rendering.IRenderable> RenderAsync(ClickHouseHttp clickHouse, int minutes, SeriesScope scope, CancellationToken ct)
    {
        var now = TimeProvider.System.GetUtcNow();
        var health = await PromptHealth.QueryAsync(clickHouse, now.AddMinutes(-minutes), now, new HealthThresholds(), scope, ct);
        var active = await ActiveAlertsAsync(clickHouse, scope, ct);
        var table = Terminal.HealthTable(health, active, now);
        var scoped = scope.IsAll ? "" : ", " + Terminal.Safe(scope.ToString());
        table.Title = new TableTitle($"pipeline top: last {minutes} min{scoped}, {now:HH:mm:ss} UTC, database {Terminal.Safe(clickHouse.Options.Database)}");
        return health.Count == 0 ? new Markup($"[grey]no closed windows in the last {minutes} minutes{scoped}[/]") : table;
    }

    /// <summary>Open incidents (FIRING without RESOLVED) of series in <paramref name="scope"/>, per series (<see cref="Terminal.AlertKey"/>).</summary>
    public static async Task<IReadOnlyDictionary<string, int>> ActiveAlertsAsync(ClickHouseHttp clickHouse, SeriesScope scope, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var rows = await clickHouse.QueryAsync($"""
            SELECT e AS environment, s AS service, p AS prompt_name, v AS prompt_version, count() AS n FROM
            (
                SELECT alert_id, any(environment) AS e, any(service) AS s, any(prompt_name) AS p, any(prompt_version) AS v,
                       countIf(state = 'RESOLVED') AS resolved
                FROM alerts FINAL WHERE {scope.Sql()} GROUP BY alert_id
            )
            WHERE resolved = 0 GROUP BY e, s, p, v
            """, ct);
        return rows.ToDictionary(r => Terminal.AlertKey(r.GetProperty("environment").GetString() ?? "", r.GetProperty("service").GetString() ?? "",
                r.GetProperty("prompt_name").GetString() ?? "", r.GetProperty("prompt_version").GetString() ?? ""),
            r => int.Parse(r.GetProperty("n").ToString(), CultureInfo.InvariantCulture));
    }
}
