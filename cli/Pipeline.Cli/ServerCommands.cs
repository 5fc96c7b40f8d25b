using System.CommandLine;
using System.Text.Json;
using Confluent.Kafka;
using Pipeline.DevServers;
using Pipeline.Schemas;

namespace Pipeline.Cli;

/// <summary><c>pipeline up|down|status</c>: the local development servers.</summary>
internal static class ServerCommands
{
    private static readonly Option<bool> Json = new("--json") { Description = "Print machine-readable JSON" };

    public static Command Up()
    {
        var command = new Command("up", """
            Start the local ClickHouse (Debian's clickhouse-server, installed when missing) and the dev
            broker (librdkafka's mock Kafka cluster: development and tests only). Idempotent.

            Example: pipeline up
            """);
        CommandRunner.SetHandler(command, async (config, _, ct) =>
        {
            var time = TimeProvider.System;
            var clickHouse = new LocalClickHouse(config.LocalClickHouse, time, Console.Error.WriteLine);
            var ch = await clickHouse.StartAsync(ct);
            Print(ch);
            var broker = new LocalBroker(config.BrokerRunDir, BrokerAssembly, time);
            var kafka = await broker.StartAsync(ct);
            Print(kafka);
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Down()
    {
        var command = new Command("down", """
            Stop the local ClickHouse and dev broker started by 'pipeline up'. Data stays in the run folder
            (.run/); 'make clean' removes it.

            Example: pipeline down
            """);
        CommandRunner.SetHandler(command, async (config, _, ct) =>
        {
            var time = TimeProvider.System;
            if (await DashboardCommands.StopDetachedAsync(config, ct)) Console.WriteLine("dashboard   stopped");
            var brokerStopped = await new LocalBroker(config.BrokerRunDir, BrokerAssembly, time).StopAsync(ct);
            Console.WriteLine(brokerStopped ? "kafka       stopped" : "kafka       was not running");
            var chStopped = await new LocalClickHouse(config.LocalClickHouse, time).StopAsync(ct);
            Console.WriteLine(chStopped ? "clickhouse  stopped" : "clickhouse  was not running");
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Status()
    {
        var command = new Command("status", """
            Show whether ClickHouse and Kafka answer, and their addresses. Exit code 0 when both are up,
            69 when one is not.

            Examples:
              pipeline status
              pipeline status --json
            """);
        command.Options.Add(Json);
        CommandRunner.SetHandler(command, async (config, parse, ct) =>
        {
            var statuses = new[] { await ClickHouseStatusAsync(config, ct), await KafkaStatusAsync(config, ct) };
            if (parse.GetValue(Json))
            {
                Console.WriteLine(JsonSerializer.Serialize(statuses.Select(s => new { name = s.Name, up = s.Up, address = s.Address, pid = s.Pid, detail = s.Detail })));
            }
            else
            {
                foreach (var s in statuses)
                {
                    Print(s);
                }
            }
            return statuses.All(s => s.Up) ? ExitCodes.Ok : ExitCodes.Unavailable;
        });
        return command;
    }

    /// <summary>The dev broker's entry assembly, copied next to the CLI by the project reference.</summary>
    public static string BrokerAssembly => Path.Combine(AppContext.BaseDirectory, "Pipeline.DevBroker.dll");

    public static async Task<ServerStatus> ClickHouseStatusAsync(PipelineConfig config, CancellationToken ct)
    {
        if (config.ClickHouse.Url.IsLoopback && config.ClickHouse.Url.Port == config.LocalClickHouse.HttpPort)
        {
            return await new LocalClickHouse(config.LocalClickHouse, TimeProvider.System).GetStatusAsync(ct);
        }
        using var clickHouse = new Pipeline.ClickHouse.ClickHouseHttp(config.ClickHouse);
        try
        {
            var rows = await clickHouse.QueryAsync("SELECT version() AS v", ct);
            return new ServerStatus("clickhouse", true, SecretMask.MaskUrl(config.ClickHouse.Url), null, $"version {rows[0].GetProperty("v").GetString()}");
        }
        catch (Pipeline.ClickHouse.ClickHouseException ex)
        {
            return new ServerStatus("clickhouse", false, SecretMask.MaskUrl(config.ClickHouse.Url), null, ex.Message);
        }
    }

    public static async Task<ServerStatus> KafkaStatusAsync(PipelineConfig config, CancellationToken ct)
    {
        if (config.Kafka.BootstrapServers is null)
        {
            return new ServerStatus("kafka", false, "(none)", null, "no Kafka:bootstrap.servers and no dev broker; start one with './pipeline up'");
        }
        if (config.KafkaFromDevBroker)
        {
            return await new LocalBroker(config.BrokerRunDir, BrokerAssembly, TimeProvider.System).GetStatusAsync(ct);
        }
        return await Task.Run(() =>
        {
            try
            {
                var admin = new AdminClientConfig(config.Kafka.All.ToDictionary());
                using var client = new AdminClientBuilder(admin).SetLogHandler((_, _) => { }).Build();
                var metadata = client.GetMetadata(TimeSpan.FromSeconds(5));
                return new ServerStatus("kafka", true, config.Kafka.BootstrapServers, null, $"{metadata.Brokers.Count} brokers, {metadata.Topics.Count} topics");
            }
            catch (KafkaException ex)
            {
                return new ServerStatus("kafka", false, config.Kafka.BootstrapServers, null, $"not answering ({ex.Error.Reason})");
            }
        }, ct);
    }

    public static void Print(ServerStatus s) =>
        Console.WriteLine($"{s.Name,-11} {(s.Up ? "up  " : "DOWN")}  {s.Address}{(s.Pid is { } pid ? $"  pid {pid}" : "")}  {s.Detail}");
}
