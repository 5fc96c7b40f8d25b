using System.CommandLine;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pipeline.Cli.Hosting;
using Pipeline.ClickHouse;
using Pipeline.Consumers;
using Pipeline.Schemas;

namespace Pipeline.Cli;

/// <summary><c>pipeline alert</c> (the worker) and <c>pipeline alerts tail|list</c>.</summary>
internal static class AlertCommands
{
    private static readonly Option<string?> Rules = new("--rules") { Description = "A YAML rule file (default: Alerting:RulesFile, else the built-in rules)" };
    private static readonly Option<bool> FromBeginning = new("--from-beginning") { Description = "Print the alerts already on the topic too" };
    private static readonly Option<TimeSpan?> ExitWhenIdle = DurationFlag.CreateOptional("--exit-when-idle", "Stop after this long without a new alert (for scripts)");
    private static readonly Option<bool> Json = new("--json") { Description = "One JSON object per alert" };

    public static Command Worker()
    {
        var command = new Command("alert", """
            Run the alert worker: reads closed windows from llm.metrics.1m.v1, evaluates the rules (rolling
            windows against baselines or thresholds), and publishes FIRING/RESOLVED records to llm.alerts.v1
            and the ClickHouse 'alerts' table. Rebuilds open incidents from ClickHouse on start. Settings under
            Alerting: (see 'pipeline config show'); a broken rule file stops it at start with file:line: reason.
            Started while ClickHouse or Kafka is away, it waits for them (unready on /readyz). Stops cleanly
            on Ctrl-C or SIGTERM (commits what it published).

            Examples:
              pipeline alert
              pipeline alert --rules my-rules.yaml
            """);
        command.Options.Add(Rules);
        WorkerHost.Hosts(command);
        CommandRunner.SetHandler(command, (config, parse, ct) =>
        {
            var options = config.Alerting;
            if (parse.GetValue(Rules) is { } rules) options.RulesFile = rules;
            return WorkerHost.RunAsync<AlertService>(config, "pipeline-alert", services => services
                .AddSingleton(sp => new AlertMetrics(sp.GetRequiredService<IMeterFactory>(), config.Metrics.Instance))
                .AddSingleton(sp =>
                {
                    try
                    {
                        return new AlertWorker(config.Kafka, sp.GetRequiredService<ClickHouseHttp>(), options, TimeProvider.System,
                            sp.GetRequiredService<ILoggerFactory>().CreateLogger("alert"), sp.GetRequiredService<AlertMetrics>());
                    }
                    catch (Pipeline.Alerting.RuleFileException ex)
                    {
                        throw new ConfigException("Alerting:RulesFile: " + ex.Message);
                    }
                }), ct);
        });
        return command;
    }

    public static Command Alerts()
    {
        var tail = new Command("tail", """
            Print alerts from llm.alerts.v1 as they arrive (a private consumer that commits nothing).

            Examples:
              pipeline alerts tail
              pipeline alerts tail --from-beginning --exit-when-idle 5s --json
            """);
        tail.Options.Add(FromBeginning);
        tail.Options.Add(ExitWhenIdle);
        tail.Options.Add(Json);
        CommandRunner.SetHandler(tail, (config, parse, ct) => Task.Run(() =>
        {
            var settings = config.Kafka.Consumer("alerts-tail-" + Guid.NewGuid().ToString("N"));
            settings.AutoOffsetReset = parse.GetValue(FromBeginning) ? AutoOffsetReset.Earliest : AutoOffsetReset.Latest;
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(settings).SetLogHandler((_, _) => { }).Build();
            consumer.Subscribe(config.Alerting.AlertsTopic);
            var serializer = new AlertSerializer();
            var idle = parse.GetValue(ExitWhenIdle);
            var lastSeen = TimeProvider.System.GetTimestamp();
            while (!ct.IsCancellationRequested && (idle is null || TimeProvider.System.GetElapsedTime(lastSeen) < idle))
            {
                if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is not { Message.Value: { } value }) continue;
                lastSeen = TimeProvider.System.GetTimestamp();
                Alert a;
                try
                {
                    a = serializer.Deserialize(value);
                }
                catch (EventDecodeException ex)
                {
                    Console.Error.WriteLine($"skipped an undecodable record: {ex.Message}");
                    continue;
                }
                Console.WriteLine(parse.GetValue(Json) ? JsonSerializer.Serialize(ToJson(a)) : Line(a));
            }
            consumer.Close();
            return ExitCodes.Ok;
        }, ct));

        var list = new Command("list", """
            List incidents from the ClickHouse 'alerts' table, newest first.

            Example: pipeline alerts list --json
            """);
        list.Options.Add(Json);
        CommandRunner.SetHandler(list, async (config, parse, ct) =>
        {
            using var clickHouse = new ClickHouseHttp(config.ClickHouse);
            var rows = await clickHouse.QueryAsync("SELECT * FROM alerts FINAL ORDER BY recorded_at DESC, state DESC LIMIT 200", ct);
            foreach (var r in rows)
            {
                Console.WriteLine(parse.GetValue(Json) ? r.GetRawText() : string.Join("  ",
                    r.GetProperty("window_end").GetString(), r.GetProperty("state").GetString(), r.GetProperty("severity").GetString(),
                    r.GetProperty("rule_id").GetString(), Terminal.Plain(r.GetProperty("summary").GetString())));
            }
            return ExitCodes.Ok;
        });

        var command = new Command("alerts", "Inspect alerts: tail the alert topic, list incidents");
        command.Subcommands.Add(tail);
        command.Subcommands.Add(list);
        return command;
    }

    public static string Line(Alert a) =>
        $"{a.WindowEnd:yyyy-MM-dd HH:mm}  {(a.State == AlertState.Firing ? "FIRING  " : "RESOLVED")}  {a.Severity,-8}  {a.RuleId,-24}  {Terminal.Plain(a.Summary)}";

    private static object ToJson(Alert a) => new
    {
        alert_id = a.AlertId, rule_id = a.RuleId, fingerprint = a.Fingerprint, state = a.State == AlertState.Firing ? "FIRING" : "RESOLVED",
        severity = a.Severity, environment = a.Series.Environment, service = a.Series.Service, prompt_name = a.Series.PromptName,
        prompt_version = a.Series.PromptVersion, request_model = a.Series.RequestModel, metric = a.Metric, observed = a.Observed,
        baseline = a.Baseline, threshold = a.Threshold, window_start = a.WindowStart, window_end = a.WindowEnd, started_at = a.StartedAt,
        resolved_at = a.ResolvedAt, summary = a.Summary, runbook_url = a.RunbookUrl,
    };
}
