using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Pipeline.ClickHouse;
using Pipeline.Reports;
using Spectre.Console;

namespace Pipeline.Cli;

/// <summary><c>pipeline reports send|run|list|show|resend</c>: reports delivered by email, on demand and on schedules.</summary>
internal static class ReportsCommands
{
    private static readonly Option<string> Kind = new("--kind") { Description = "daily, weekly or monthly (default daily)", DefaultValueFactory = _ => "daily" };
    private static readonly Option<string[]> To = new("--to") { Description = "Recipient email address (repeatable)", AllowMultipleArgumentsPerToken = false };
    private static readonly Option<string?> Prompt = new("--prompt") { Description = "Only this prompt name" };
    private static readonly Option<string?> Out = new("--out") { Description = "Folder for the report's files (default .run/reports/send-<kind>-<time>)" };
    private static readonly Option<bool> Once = new("--once") { Description = "Look at the schedules once and exit" };
    private static readonly Option<int> Limit = new("--limit") { Description = "At most this many runs, the newest (default 20)", DefaultValueFactory = _ => 20 };
    private static readonly Option<string?> State = new("--state") { Description = "Only runs in this state: claimed, sent or failed" };
    private static readonly Option<bool> Json = new("--json") { Description = "One JSON object per run" };
    private static readonly string[] ListColumns = ["run", "kind", "state", "attempts", "recipients", "error"];
    private static readonly Argument<string> RunId = new("run") { Description = "The run's id as 'reports list' shows it: schedule@yyyyMMddTHHmmZ" };

    public static Command Create()
    {
        var command = new Command("reports", """
            Reports delivered by email (Reports:Smtp) and on schedules (Reports:Schedules): send one now,
            run the scheduler, and look at or resend past runs. docs/reports.md says how they are meant to run.

            Examples:
              pipeline reports send --kind daily --to ops@example.com
              pipeline reports run
              pipeline reports list --state failed
            """);
        command.Subcommands.Add(Send());
        command.Subcommands.Add(Run());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Show());
        command.Subcommands.Add(Resend());
        return command;
    }

    private static Command Send()
    {
        var send = new Command("send", """
            Build a report now and email it (HTML inline with its charts, CSV and JSON attached), to try a set-up.
            daily: the last 24 hours; weekly: the last 7 days; monthly: the last calendar month (UTC). Retries as
            Reports:Delivery says; exit code 1 when there is no data or delivery gave up.

            Examples:
              pipeline reports send --kind daily --to ops@example.com
              pipeline reports send --kind weekly --to a@example.com --to b@example.com --environment prod
            """);
        send.Options.Add(Kind);
        send.Options.Add(To);
        send.Options.Add(Prompt);
        send.Options.Add(Out);
        ScopeFlags.AddTo(send);
        CommandRunner.SetHandler(send, async (config, parse, ct) =>
        {
            var kind = parse.GetValue(Kind) ?? "daily";
            var to = parse.GetValue(To) ?? [];
            if (kind is not ("daily" or "weekly" or "monthly") || to.Length == 0)
            {
                await Console.Error.WriteLineAsync("error: reports send needs --kind daily|weekly|monthly and at least one --to ADDRESS");
                return ExitCodes.Usage;
            }
            if (to.FirstOrDefault(a => !EmailAddress.IsValid(a)) is { } bad)
            {
                await Console.Error.WriteLineAsync($"error: --to '{bad}' is not an email address");
                return ExitCodes.Usage;
            }
            RequireSmtp(config);
            var now = TimeProvider.System.GetUtcNow();
            var (from, until) = ReportDelivery.Period(kind, now, TimeZoneInfo.Utc);
            var scope = ScopeFlags.Read(parse) with { Prompt = parse.GetValue(Prompt) is { Length: > 0 } p ? p : null };
            var dir = parse.GetValue(Out) ?? Path.Combine(config.RunDir, "reports", $"send-{kind}-{now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}");
            using var analyst = new ClickHouseHttp(config.ClickHouse.AsAnalyst());
            using var loggers = Loggers();
            var delivery = new ReportDelivery(analyst, config.Reports, new ReportMailer(config.Reports.Smtp, config.Reports.Delivery, TimeProvider.System, loggers.CreateLogger("reports")));
            try
            {
                var (messageId, attempts) = await delivery.SendAsync($"Pipeline {kind} report", kind, from, until, scope, to, dir, Progress(), ct);
                Console.WriteLine($"sent {kind} report to {string.Join(", ", to)} (message id {messageId}, {attempts} attempt{(attempts == 1 ? "" : "s")}); files in {dir}");
                return ExitCodes.Ok;
            }
            catch (Exception ex) when (ex is NoDataException or ReportDeliveryException)
            {
                await Console.Error.WriteLineAsync($"error: {Terminal.Plain(ex.Message)}");
                return ExitCodes.Failed;
            }
        });
        return send;
    }

    private static Command Run()
    {
        var run = new Command("run", """
            Run the report schedules (Reports:Schedules) until stopped: every Reports:PollInterval, make the
            latest due occurrence of each schedule that report_runs does not have yet. A run missed while no
            worker ran (within Reports:CatchUp) is made once at start-up. Several workers may run: each run is
            made by one of them (claims in report_runs). 'pipeline maintain' runs the schedules too.

            Examples:
              pipeline reports run
              pipeline reports run --once
            """);
        run.Options.Add(Once);
        CommandRunner.SetHandler(run, async (config, parse, ct) =>
        {
            if (config.Reports.Schedules.Count == 0)
            {
                await Console.Error.WriteLineAsync("error: no schedules configured (Reports:Schedules; docs/reports.md)");
                return ExitCodes.Config;
            }
            using var writer = new ClickHouseHttp(config.ClickHouse);
            using var analyst = new ClickHouseHttp(config.ClickHouse.AsAnalyst());
            using var loggers = Loggers();
            var scheduler = Scheduler(config, writer, analyst, loggers);
            while (true)
            {
                try
                {
                    await RunSchedulesAsync(scheduler, ct);
                }
                catch (ClickHouseException ex) when (ex.HttpStatus is 0 or >= 500 && !parse.GetValue(Once))
                {
                    await Console.Error.WriteLineAsync($"reports: ClickHouse unavailable, retrying next pass: {ex.Message}");
                }
                if (parse.GetValue(Once)) return ExitCodes.Ok;
                await Task.Delay(config.Reports.PollInterval, TimeProvider.System, ct);
            }
        });
        return run;
    }

    /// <summary>The scheduler of <paramref name="config"/> (also used by <c>maintain</c>).</summary>
    public static ReportScheduler Scheduler(PipelineConfig config, ClickHouseHttp writer, ClickHouseHttp analyst, ILoggerFactory loggers)
    {
        var log = loggers.CreateLogger("reports");
        var mailer = new ReportMailer(config.Reports.Smtp, config.Reports.Delivery, TimeProvider.System, log);
        return new ReportScheduler(config.Reports, new ReportRunStore(writer, TimeProvider.System),
            new ReportDelivery(analyst, config.Reports, mailer), config.ReportsDirectory, TimeProvider.System, log);
    }

    /// <summary>One look at every schedule, a line per run made.</summary>
    public static async Task RunSchedulesAsync(ReportScheduler scheduler, CancellationToken ct)
    {
        foreach (var (schedule, outcome) in await scheduler.RunDueAsync(Progress(), ct))
        {
            if (outcome is ScheduledRunOutcome.Sent or ScheduledRunOutcome.Failed)
            {
                Console.WriteLine($"{TimeProvider.System.GetUtcNow():yyyy-MM-dd HH:mm:ss} reports: {schedule} {(outcome == ScheduledRunOutcome.Sent ? "sent" : "FAILED (see pipeline reports list --state failed)")}");
            }
        }
    }

    private static Command List()
    {
        var list = new Command("list", """
            The scheduled runs, newest first: sent, failed (delivery gave up after its retries, or no data: the
            dead letters, with the reason) and claimed (being made, or its worker died).

            Examples:
              pipeline reports list
              pipeline reports list --state failed --json
            """);
        list.Options.Add(Limit);
        list.Options.Add(State);
        list.Options.Add(Json);
        CommandRunner.SetHandler(list, async (config, parse, ct) =>
        {
            using var clickHouse = new ClickHouseHttp(config.ClickHouse.AsAnalyst());
            var runs = await new ReportRunStore(clickHouse, TimeProvider.System).ListAsync(Math.Max(1, parse.GetValue(Limit)), parse.GetValue(State), ct);
            if (parse.GetValue(Json))
            {
                foreach (var r in runs) Console.WriteLine(JsonSerializer.Serialize(ToJson(r)));
                return ExitCodes.Ok;
            }
            if (runs.Count == 0)
            {
                Console.WriteLine("no report runs yet");
                return ExitCodes.Ok;
            }
            var table = new Table().Border(TableBorder.Rounded);
            foreach (var c in ListColumns) table.AddColumn(c);
            foreach (var r in runs)
            {
                table.AddRow(Terminal.Safe(r.Id), r.Kind, r.State == ReportRunStore.Failed ? "[red]failed[/]" : r.State,
                    r.Attempts.ToString(CultureInfo.InvariantCulture), Terminal.Safe(r.Recipients), Terminal.Safe(r.Error.Length > 80 ? r.Error[..80] + "…" : r.Error));
            }
            AnsiConsole.Write(table);
            return ExitCodes.Ok;
        });
        return list;
    }

    private static Command Show()
    {
        var show = new Command("show", """
            One run: its period, scope, recipients, state, attempts, error and message id.

            Examples:
              pipeline reports show morning@20261202T0700Z
            """);
        show.Arguments.Add(RunId);
        CommandRunner.SetHandler(show, async (config, parse, ct) =>
        {
            using var clickHouse = new ClickHouseHttp(config.ClickHouse.AsAnalyst());
            if (await new ReportRunStore(clickHouse, TimeProvider.System).FindAsync(parse.GetValue(RunId)!, ct) is not { } run)
            {
                await Console.Error.WriteLineAsync($"error: no report run '{Terminal.Plain(parse.GetValue(RunId)!)}' (see pipeline reports list)");
                return ExitCodes.Failed;
            }
            foreach (var (k, v) in ToJson(run)) Console.WriteLine($"{k,-12} {Terminal.Plain(Convert.ToString(v, CultureInfo.InvariantCulture) ?? "")}");
            return ExitCodes.Ok;
        });
        return show;
    }

    private static Command Resend()
    {
        var resend = new Command("resend", """
            Build and send a past run's report again (its period and scope), to its recipients or to --to, and
            record the outcome on the run: how a failed run (a dead letter) is delivered after a fix.

            Examples:
              pipeline reports resend morning@20261202T0700Z
              pipeline reports resend morning@20261202T0700Z --to me@example.com
            """);
        resend.Arguments.Add(RunId);
        resend.Options.Add(To);
        CommandRunner.SetHandler(resend, async (config, parse, ct) =>
        {
            RequireSmtp(config);
            using var writer = new ClickHouseHttp(config.ClickHouse);
            using var analyst = new ClickHouseHttp(config.ClickHouse.AsAnalyst());
            if (await new ReportRunStore(writer, TimeProvider.System).FindAsync(parse.GetValue(RunId)!, ct) is not { } run)
            {
                await Console.Error.WriteLineAsync($"error: no report run '{Terminal.Plain(parse.GetValue(RunId)!)}' (see pipeline reports list)");
                return ExitCodes.Failed;
            }
            var to = parse.GetValue(To) is { Length: > 0 } given ? given
                : run.Recipients.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            using var loggers = Loggers();
            var dir = Path.Combine(config.ReportsDirectory, $"{run.Schedule}-{run.Occurrence.UtcDateTime.ToString("yyyyMMdd-HHmm", CultureInfo.InvariantCulture)}");
            var outcome = await Scheduler(config, writer, analyst, loggers).DeliverAsync(run, to, dir, Progress(), ct);
            Console.WriteLine($"{run.Id}: {(outcome == ScheduledRunOutcome.Sent ? "sent" : "FAILED again (pipeline reports show " + run.Id + ")")}");
            return outcome == ScheduledRunOutcome.Sent ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return resend;
    }

    private static Dictionary<string, object> ToJson(ReportRun r) => new()
    {
        ["run"] = r.Id, ["schedule"] = r.Schedule, ["occurrence"] = r.Occurrence.ToString("u", CultureInfo.InvariantCulture), ["kind"] = r.Kind,
        ["from"] = r.PeriodFrom.ToString("u", CultureInfo.InvariantCulture), ["to"] = r.PeriodTo.ToString("u", CultureInfo.InvariantCulture),
        ["scope"] = r.Scope.ToString(), ["recipients"] = r.Recipients, ["state"] = r.State, ["attempts"] = r.Attempts, ["error"] = r.Error,
        ["message_id"] = r.MessageId, ["worker"] = r.Worker, ["updated_at"] = r.UpdatedAt.ToString("u", CultureInfo.InvariantCulture),
    };

    private static void RequireSmtp(PipelineConfig config)
    {
        if (!config.Reports.Smtp.IsConfigured) throw new ConfigException("Reports:Smtp:Host: is required to send email (and Reports:Smtp:From)");
    }

    private static ILoggerFactory Loggers() =>
        LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Information)
            .AddSimpleConsole(o => o.SingleLine = true).AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));

    private static Progress<string> Progress() => new(step => Console.Error.WriteLine($"  report: {step}..."));
}
