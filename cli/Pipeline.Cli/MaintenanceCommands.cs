using System.CommandLine;
using Microsoft.Extensions.Logging;
using Pipeline.ClickHouse;

namespace Pipeline.Cli;

/// <summary><c>pipeline rollup</c>, <c>pipeline retention</c> and <c>pipeline maintain</c>: rollups and partition retention.</summary>
internal static class MaintenanceCommands
{
    private static readonly Option<bool> DryRun = new("--dry-run") { Description = "List the partitions that would be dropped; drop nothing" };
    private static readonly Option<bool> Once = new("--once") { Description = "Run one pass and exit" };

    public static Command Rollup()
    {
        var command = new Command("rollup", """
            Build the hourly and daily rollups (metrics_1h, metrics_1d; views v_health_1h, v_health_1d) for every
            day within raw retention whose minute windows changed since the last build. Idempotent: a day is
            rebuilt from the deduplicated tables and swapped in whole, never added to.

            Examples:
              pipeline rollup
              pipeline rollup --set Retention:CallsDays=7
            """);
        CommandRunner.SetHandler(command, async (config, _, ct) =>
        {
            using var clickHouse = new ClickHouseHttp(config.ClickHouse);
            var result = await new Maintenance(clickHouse, TimeProvider.System).RollUpAsync(config.Retention, new Progress<string>(Console.Error.WriteLine), ct);
            Console.WriteLine($"rollup: {result.DaysRolledUp.Count} days and {result.MonthsRolledUp.Count} months rebuilt"
                + (result.DaysRolledUp.Count > 0 ? $" ({result.DaysRolledUp[0]:yyyy-MM-dd} .. {result.DaysRolledUp[^1]:yyyy-MM-dd})" : ""));
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Retention()
    {
        var command = new Command("retention", """
            Drop calls partitions (days) older than Retention:CallsDays, after making sure their rollups exist,
            and metrics_1m partitions (months) entirely older than Retention:MinuteDays. Rollups, anomalies and
            alerts are kept.

            Examples:
              pipeline retention --dry-run
              pipeline retention --set Retention:CallsDays=14
            """);
        command.Options.Add(DryRun);
        CommandRunner.SetHandler(command, async (config, parse, ct) =>
        {
            using var clickHouse = new ClickHouseHttp(config.ClickHouse);
            var dryRun = parse.GetValue(DryRun);
            var result = await new Maintenance(clickHouse, TimeProvider.System).ApplyRetentionAsync(config.Retention, dryRun, new Progress<string>(Console.Error.WriteLine), ct);
            foreach (var p in result.PartitionsDropped)
            {
                Console.WriteLine($"{(dryRun ? "would drop" : "dropped")}  {p}");
            }
            Console.WriteLine($"retention: {result.PartitionsDropped.Count} partitions {(dryRun ? "to drop" : "dropped")} (calls kept {config.Retention.CallsDays} days, minute windows {config.Retention.MinuteDays} days)");
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Maintain()
    {
        var command = new Command("maintain", """
            Run rollup then retention every Retention:Interval (default 5 minutes) until stopped (Ctrl+C),
            then the report schedules (Reports:Schedules) when there are any, as 'pipeline reports run' does.
            Run one per database. ClickHouse being away pauses a pass; the next one retries.

            Examples:
              pipeline maintain
              pipeline maintain --once
              pipeline maintain --set Retention:Interval=00:01:00
            """);
        command.Options.Add(Once);
        CommandRunner.SetHandler(command, async (config, parse, ct) =>
        {
            using var clickHouse = new ClickHouseHttp(config.ClickHouse);
            using var analyst = new ClickHouseHttp(config.ClickHouse.AsAnalyst());
            using var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Information).AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));
            var scheduler = config.Reports.Schedules.Count > 0 ? ReportsCommands.Scheduler(config, clickHouse, analyst, loggers) : null;
            var maintenance = new Maintenance(clickHouse, TimeProvider.System);
            var progress = new Progress<string>(Console.Error.WriteLine);
            while (true)
            {
                try
                {
                    var rolled = await maintenance.RollUpAsync(config.Retention, progress, ct);
                    var retained = await maintenance.ApplyRetentionAsync(config.Retention, dryRun: false, progress, ct);
                    Console.WriteLine($"{TimeProvider.System.GetUtcNow():yyyy-MM-dd HH:mm:ss} maintain: {rolled.DaysRolledUp.Count} days rolled up, {retained.PartitionsDropped.Count} partitions dropped");
                    if (scheduler is not null) await ReportsCommands.RunSchedulesAsync(scheduler, ct);
                }
                catch (ClickHouseException ex) when (ex.HttpStatus is 0 or >= 500 && !parse.GetValue(Once))
                {
                    await Console.Error.WriteLineAsync($"maintain: ClickHouse unavailable, retrying next pass: {ex.Message}");
                }
                if (parse.GetValue(Once)) return ExitCodes.Ok;
                await Task.Delay(config.Retention.Interval, TimeProvider.System, ct);
            }
        });
        return command;
    }
}
