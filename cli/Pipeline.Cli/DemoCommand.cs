using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Pipeline.ClickHouse;
using Pipeline.Consumers;
using Pipeline.LoadGen;
using Pipeline.Reports;
using Pipeline.Schemas;
using Spectre.Console;

namespace Pipeline.Cli;

/// <summary>
/// <c>pipeline demo</c>: the whole pipeline on a scenario with an incident, end to end on the configured
/// servers, in a database of its own (<c>&lt;database&gt;_demo</c>, recreated each run).
/// </summary>
internal static class DemoCommand
{
    private static readonly Option<string> ScenarioName = new("--scenario") { Description = "Scenario to play", DefaultValueFactory = _ => "release-regression" };

    public static Command Create()
    {
        var command = new Command("demo", """
            Play a 90-minute scenario (default: a new prompt version whose p95 more than doubles, then a
            rollback) through the SDK, the aggregator and the alert worker, then show the alerts, the health
            table and a report. Uses the database <ClickHouse:Database>_demo, recreated on every run.

            Example: pipeline demo --scenario provider-outage
            """);
        command.Options.Add(ScenarioName);
        CommandRunner.SetHandler(command, async (config, parse, ct) =>
        {
            if (!Scenario.All.TryGetValue(parse.GetValue(ScenarioName)!, out var scenario))
            {
                await Console.Error.WriteLineAsync($"error: --scenario: unknown scenario (known: {string.Join(", ", Scenario.All.Keys)})");
                return ExitCodes.Usage;
            }
            await SmokeCommand.RequireServersAsync(config, ct);
            var time = TimeProvider.System;
            var runId = time.GetUtcNow().ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
            var chOptions = config.ClickHouse.WithDatabase(config.ClickHouse.Database + "_demo");
            using var clickHouse = new ClickHouseHttp(chOptions);
            await clickHouse.ExecuteAsync($"DROP DATABASE IF EXISTS {ClickHouseHttp.QuoteIdentifier(chOptions.Database)}", ct, useDatabase: false);
            await new Migrator(clickHouse, time).ApplyAsync(Migrator.Embedded, ct);
            Step($"database [bold]{Terminal.Safe(chOptions.Database)}[/] created at {Terminal.Safe(SecretMask.MaskUrl(chOptions.Url))}");

            var aggregator = config.Aggregator;
            aggregator.GroupId = $"demo-aggregator-{runId}";
            aggregator.FlushInterval = TimeSpan.FromMilliseconds(500);
            aggregator.Windowing.IdleTimeout = TimeSpan.FromSeconds(2);
            var alerting = config.Alerting;
            alerting.GroupId = $"demo-alerter-{runId}";
            alerting.PartitionIdleTimeout = TimeSpan.FromSeconds(2);
            // New groups start where the topics end now: earlier runs' records are not replayed.
            StartAtEnd(config, aggregator.GroupId, aggregator.Topic);
            StartAtEnd(config, alerting.GroupId, alerting.MetricsTopic);

            var end = time.GetUtcNow().AddMinutes(-3);
            var produced = await LoadGenCommand.ProduceAsync(config, scenario, end, seed: 42, ct);
            Step($"load generator: [bold]{produced}[/] calls of '{scenario.Name}': {Terminal.Safe(scenario.Description)}");
            foreach (var phase in scenario.Phases)
            {
                Console.WriteLine($"           minute {phase.From,2}-{phase.To,-2}  {phase.Description}");
            }

            using var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Error).AddSimpleConsole(o => o.SingleLine = true));
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using var aggregatorWorker = new AggregatorWorker(config.Kafka, clickHouse, aggregator, time, loggers.CreateLogger("aggregate"));
            using var alertWorker = new AlertWorker(config.Kafka, clickHouse, alerting, time, loggers.CreateLogger("alert"));
            var runs = new[]
            {
                Task.Factory.StartNew(() => aggregatorWorker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap(),
                Task.Factory.StartNew(() => alertWorker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap(),
            };
            var deadline = time.GetUtcNow().AddMinutes(4);
            double windows = 0;
            while (time.GetUtcNow() < deadline && !runs.Any(r => r.IsFaulted))
            {
                var counted = await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct);
                windows = await clickHouse.ScalarAsync("SELECT count() FROM metrics_1m", ct);
                if (counted >= produced && alertWorker.WindowsEvaluated >= windows) break;
                await Task.Delay(500, ct);
            }
            // Let idle partitions release event time, so a series that went quiet can resolve.
            await Task.Delay(alerting.PartitionIdleTimeout + TimeSpan.FromSeconds(1), ct);
            await stop.CancelAsync();
            await Task.WhenAll(runs);
            Step($"aggregator: {aggregatorWorker.EventsWritten} calls written, {aggregatorWorker.WindowsWritten} one-minute windows closed");
            Step($"alert worker: {alertWorker.WindowsEvaluated} windows evaluated against {alertWorker.RuleCount} rules, {alertWorker.AlertsPublished} alerts published to {Terminal.Safe(alerting.AlertsTopic)}");

            var alerts = await clickHouse.QueryAsync("SELECT window_end, state, severity, rule_id, summary FROM alerts FINAL ORDER BY window_end, state", ct);
            AnsiConsole.Write(new Rule("[bold]alerts[/]").LeftJustified());
            foreach (var a in alerts)
            {
                var state = a.GetProperty("state").GetString();
                var colour = state == "FIRING" ? "red" : "green";
                AnsiConsole.MarkupLine($"  {Terminal.Safe(a.GetProperty("window_end").GetString())}  [{colour}]{state,-8}[/]  {Terminal.Safe(a.GetProperty("severity").GetString()),-8}  {Terminal.Safe(a.GetProperty("rule_id").GetString())}: {Terminal.Safe(a.GetProperty("summary").GetString())}");
            }
            if (alerts.Count == 0) AnsiConsole.MarkupLine("  [grey]none[/]");

            var from = end.AddMinutes(-scenario.Minutes);
            var health = await PromptHealth.QueryAsync(clickHouse, from, end, new HealthThresholds(), SeriesScope.All, ct);
            var incident = scenario.Phases.Count > 1 ? scenario.Phases[1] : null;
            AnsiConsole.Write(new Rule($"[bold]health over the whole scenario ({scenario.Minutes} min)[/]").LeftJustified());
            AnsiConsole.Write(Terminal.HealthTable(health, await TopCommand.ActiveAlertsAsync(clickHouse, SeriesScope.All, ct), end));
            if (incident is not null)
            {
                var during = await PromptHealth.QueryAsync(clickHouse, from.AddMinutes(incident.From), from.AddMinutes(incident.To), new HealthThresholds(), SeriesScope.All, ct);
                AnsiConsole.Write(new Rule($"[bold]during the incident (minutes {incident.From}-{incident.To}): {Terminal.Safe(incident.Description)}[/]").LeftJustified());
                AnsiConsole.Write(Terminal.HealthTable(during, new Dictionary<string, int>(), end));
            }

            var reportDir = Path.Combine(config.RunDir, "reports", $"demo-{runId}");
            var report = await ReportCommand.Build(clickHouse, $"Pipeline demo report: {scenario.Name}", from, end, reportDir, SeriesScope.All, ct);
            var reportPath = Path.Combine(reportDir, "report.html");
            AnsiConsole.Write(new Rule("[bold]report[/]").LeftJustified());
            foreach (var c in report.Comparisons)
            {
                AnsiConsole.MarkupLine($"  A/B {Terminal.Safe(c.Prompt)}: {Terminal.Safe(c.Verdict)}");
            }
            AnsiConsole.Write(new Rule("[bold]where to look next[/]").LeftJustified());
            Console.WriteLine($"  report:        {reportPath}");
            Console.WriteLine($"  live view:     ./pipeline top --minutes 120 --set ClickHouse:Database={chOptions.Database}");
            Console.WriteLine($"  alerts:        ./pipeline alerts list --set ClickHouse:Database={chOptions.Database}");
            Console.WriteLine($"  SQL:           clickhouse-client --port {config.LocalClickHouse.TcpPort} --user {config.ClickHouse.AnalystUser} --password {config.ClickHouse.AnalystPassword} -q \"SELECT prompt_version, sum(calls), max(latency_p95_ms) FROM {chOptions.Database}.metrics_1m FINAL GROUP BY prompt_version\"");
            try
            {
                var dashboard = await DashboardCommands.StartDetachedAsync(config, config.Dashboard, parse, [$"ClickHouse:Database={chOptions.Database}"], ct);
                Console.WriteLine($"  dashboard:     {dashboard}  (the incident and its alert; './pipeline down' stops it)");
            }
            catch (InvalidOperationException ex)
            {
                Console.WriteLine($"  dashboard:     not started: {ex.Message}");
            }
            Console.WriteLine("  real servers:  PIPELINE__Kafka__bootstrap_servers=host:9092 PIPELINE__ClickHouse__Url=https://host:8443/ ./pipeline ... (see README)");
            var fired = alerts.Any(a => a.GetProperty("state").GetString() == "FIRING");
            var resolved = alerts.Any(a => a.GetProperty("state").GetString() == "RESOLVED");
            return scenario.Name == "steady" || (fired && resolved) ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return command;
    }

    private static void Step(string markup) => AnsiConsole.MarkupLine($"[blue]==>[/] {markup}");

    private static void StartAtEnd(PipelineConfig config, string group, string topic) => EvalRunner.StartAtEnd(config.Kafka, group, topic);

}
