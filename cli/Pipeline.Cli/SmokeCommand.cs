using System.CommandLine;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Cli.Hosting;
using Pipeline.ClickHouse;
using Pipeline.Consumers;
using Pipeline.Producers;
using Pipeline.Schemas;

namespace Pipeline.Cli;

/// <summary>
/// <c>pipeline smoke</c>: the walking skeleton. One Avro event goes producer → Kafka → consumer →
/// ClickHouse and is read back, proving every hop with the configured servers.
/// </summary>
internal static class SmokeCommand
{
    private static readonly Option<TimeSpan> Timeout = DurationFlag.Create("--timeout", "How long to wait for the event to land in ClickHouse", TimeSpan.FromSeconds(60));

    public static Command Create()
    {
        var command = new Command("smoke", """
            Send one LLM call event through the whole pipeline (Avro → Kafka llm.calls.v1 → consumer →
            ClickHouse calls) and print the row read back. Exit code 0 when it arrived, 1 when not,
            69 when a server is not reachable.

            Example: pipeline smoke
            """);
        command.Options.Add(Timeout);
        CommandRunner.SetHandler(command, async (config, parse, ct) =>
        {
            var time = TimeProvider.System;
            await RequireServersAsync(config, ct);
            using var clickHouse = new ClickHouseHttp(config.ClickHouse);
            await new Migrator(clickHouse, time).ApplyAsync(Migrator.Embedded, ct);

            var call = SampleCall(time.GetUtcNow());
            using (var producer = new LlmCallProducer(config.Kafka.All))
            {
                producer.Track(call);
                if (producer.Flush(TimeSpan.FromSeconds(30)) > 0 || producer.Delivered != 1)
                {
                    throw new ServerUnavailableException($"Kafka at {config.Kafka.BootstrapServers} did not acknowledge the event; check './pipeline status'");
                }
            }
            Console.WriteLine($"produced  event {call.EventId} to {SchemaCatalog.Topics.Calls} at {config.Kafka.BootstrapServers}");

            var options = new AggregatorOptions { GroupId = "aggregator", FlushInterval = TimeSpan.FromMilliseconds(200) };
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using var worker = new AggregatorWorker(config.Kafka, clickHouse, options, time, NullLogger.Instance);
            var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();
            var sql = $"SELECT * FROM calls FINAL WHERE event_id = toUUID({ClickHouseHttp.Quote(call.EventId.ToString())})";
            var deadline = time.GetUtcNow() + parse.GetValue(Timeout);
            IReadOnlyList<System.Text.Json.JsonElement> rows = [];
            while (time.GetUtcNow() < deadline && !run.IsCompleted)
            {
                rows = await clickHouse.QueryAsync(sql, ct);
                if (rows.Count > 0) break;
                await Task.Delay(TimeSpan.FromMilliseconds(200), time, ct);
            }
            await stop.CancelAsync();
            await run;
            if (rows.Count == 0)
            {
                await Console.Error.WriteLineAsync($"error: event {call.EventId} did not reach {config.ClickHouse.Database}.calls within {Durations.Format(parse.GetValue(Timeout))}");
                return ExitCodes.Failed;
            }
            Console.WriteLine($"landed    in {config.ClickHouse.Database}.calls at {SecretMask.MaskUrl(config.ClickHouse.Url)}:");
            Console.WriteLine($"          {rows[0]}");
            Console.WriteLine($"query it: clickhouse-client --port {config.LocalClickHouse.TcpPort} --user {config.ClickHouse.AnalystUser} --password {config.ClickHouse.AnalystPassword} -q \"SELECT * FROM {config.ClickHouse.Database}.calls FINAL ORDER BY occurred_at DESC LIMIT 5 FORMAT Vertical\"");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Waits until both servers answer, reporting why not through <paramref name="status"/> and a line every 30 s.</summary>
    public static async Task WaitForServersAsync(PipelineConfig config, Action<string> status, CancellationToken ct)
    {
        var lastLine = long.MinValue;
        while (true)
        {
            try
            {
                await RequireServersAsync(config, ct);
                return;
            }
            catch (ServerUnavailableException ex)
            {
                status("waiting: " + ex.Message);
                if (lastLine == long.MinValue || TimeProvider.System.GetElapsedTime(lastLine) > TimeSpan.FromSeconds(30))
                {
                    lastLine = TimeProvider.System.GetTimestamp();
                    await Console.Error.WriteLineAsync($"waiting: {ex.Message} (retrying every 5 s; Ctrl-C stops)");
                }
                await Task.Delay(TimeSpan.FromSeconds(5), TimeProvider.System, ct);
            }
        }
    }

    /// <summary>Fails with one line naming the address and the command that starts the server.</summary>
    public static async Task RequireServersAsync(PipelineConfig config, CancellationToken ct)
    {
        var ch = await ServerCommands.ClickHouseStatusAsync(config, ct);
        if (!ch.Up)
        {
            throw new ServerUnavailableException($"ClickHouse is not reachable at {SecretMask.MaskUrl(config.ClickHouse.Url)}; start it with './pipeline up' (or set ClickHouse:Url)");
        }
        var kafka = await ServerCommands.KafkaStatusAsync(config, ct);
        if (!kafka.Up)
        {
            throw new ServerUnavailableException($"Kafka is not reachable at {kafka.Address}; start the dev broker with './pipeline up' (or set Kafka:bootstrap.servers)");
        }
    }

    private static LlmCall SampleCall(DateTimeOffset now) => new()
    {
        EventId = Guid.NewGuid(),
        OccurredAt = DateTimeOffset.FromUnixTimeMilliseconds(now.ToUnixTimeMilliseconds()),
        Environment = "demo",
        Service = "smoke-test",
        Operation = "chat",
        Provider = "openai",
        RequestModel = "gpt-4o-mini",
        ResponseModel = "gpt-4o-mini-2024-07-18",
        PromptName = "support_answer",
        PromptVersion = "1.0.0",
        Tags = new Dictionary<string, string> { ["feature"] = "smoke", ["ab_variant"] = "A" },
        LatencyMs = 412.5,
        TimeToFirstTokenMs = 120.0,
        InputTokens = 350,
        OutputTokens = 120,
        CostUsd = 0.000125,
        Outcome = Outcome.Success,
        QualityScore = 0.92,
        Stages = [new Stage("retrieval", 80.0), new Stage("generation", 320.0)],
    };
}

/// <summary><c>pipeline aggregate</c>: run the consumer worker in a generic host until Ctrl-C or SIGTERM.</summary>
internal static class AggregateCommand
{
    private static readonly Option<string?> Group = new("--group") { Description = "Consumer group id (default: Aggregator:GroupId, 'aggregator')" };

    public static Command Create()
    {
        var command = new Command("aggregate", """
            Run a worker of the aggregator consumer group: reads llm.calls.v1, writes raw events to
            ClickHouse 'calls', closed one-minute windows to 'metrics_1m' and llm.metrics.1m.v1, anomaly
            scores to 'anomalies', and dead-letters bad records to llm.calls.dlq.v1. Settings under
            Aggregator: (see 'pipeline config show'). Stops cleanly on Ctrl-C or SIGTERM (writes and
            commits what is safe). Start several to split the partitions.

            Example: pipeline aggregate --group aggregator
            """);
        command.Options.Add(Group);
        WorkerHost.Hosts(command);
        CommandRunner.SetHandler(command, (config, parse, ct) =>
        {
            var options = config.Aggregator;
            if (parse.GetValue(Group) is { } group)
            {
                options.GroupId = group;
            }
            return WorkerHost.RunAsync<AggregatorService>(config, "pipeline-aggregate", services => services
                .AddSingleton(sp => new AggregatorMetrics(sp.GetRequiredService<IMeterFactory>(), config.Metrics.Instance))
                .AddSingleton(sp => new AggregatorWorker(config.Kafka, sp.GetRequiredService<ClickHouseHttp>(), options, TimeProvider.System,
                    sp.GetRequiredService<ILoggerFactory>().CreateLogger("aggregate"), metrics: sp.GetRequiredService<AggregatorMetrics>())), ct);
        });
        return command;
    }

}
