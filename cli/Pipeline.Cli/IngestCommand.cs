using System.CommandLine;
using Microsoft.Extensions.Logging;
using Pipeline.Ingest;
using Pipeline.Producers;
using Pipeline.Schemas;

namespace Pipeline.Cli;

/// <summary><c>pipeline ingest</c>: the OTLP receiver.</summary>
internal static class IngestCommand
{
    private static readonly Option<string?> Http = new("--http") { Description = "OTLP/HTTP address IP:port (default Ingest:Http, 127.0.0.1:4318; '' turns it off)" };
    private static readonly Option<string?> Grpc = new("--grpc") { Description = "OTLP/gRPC address IP:port (default Ingest:Grpc, 127.0.0.1:4317; '' turns it off)" };

    public static Command Create()
    {
        var command = new Command("ingest", """
            Receive OpenTelemetry traces (OTLP/HTTP protobuf or JSON on 4318, OTLP/gRPC on 4317) and publish each
            GenAI client span as an LlmCall event through the producer SDK (acks=all, disk spill while Kafka is away).
            Spans that are not GenAI calls are counted and left out. Point any OTLP exporter at it:
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:4318/v1/traces. See docs/ingest.md. Ctrl+C stops it.

            Examples:
              pipeline ingest
              pipeline ingest --http 0.0.0.0:4318 --grpc 0.0.0.0:4317 --config ingest.json
              pipeline ingest --set Ingest:Mapping:Tags:feature=app.feature
            """);
        command.Options.Add(Http);
        command.Options.Add(Grpc);
        CommandRunner.SetHandler(command, async (config, parse, ct) =>
        {
            var options = config.Ingest;
            if (parse.GetValue(Http) is { } http) options.Http = http;
            if (parse.GetValue(Grpc) is { } grpc) options.Grpc = grpc;
            var problems = SettingsValidator.Validate(options, IngestOptions.Section);
            if (problems.Count > 0) throw new ConfigException(string.Join("; ", problems).Replace("Ingest:Http:", "--http / Ingest:Http:", StringComparison.Ordinal)
                .Replace("Ingest:Grpc:", "--grpc / Ingest:Grpc:", StringComparison.Ordinal));
            if (config.Kafka.BootstrapServers is null)
            {
                throw new ConfigException("Kafka:bootstrap.servers: not set, and no dev broker is running ('pipeline up' starts one)");
            }
            using var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Information)
                .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; }));
            var log = loggers.CreateLogger("Pipeline.Ingest");
            // First, before the producer's own line: where it listens and whether a key is needed.
            var startLine = IngestApp.StartLine(options);
            IngestApp.LogStarted(log, startLine);
            var producerOptions = IngestProducer.Options(options, config.Kafka.All, config.Aggregator.Topic, Path.Combine(config.RunDir, "ingest", "spill"));
            await using var producer = new LlmCallProducer(producerOptions, loggers.CreateLogger("Pipeline.Producers"), TimeProvider.System);
            await using var host = IngestApp.Create(options, producer, producerOptions, TimeProvider.System, b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; }).SetMinimumLevel(LogLevel.Warning));
            await host.StartAsync(ct);
            // ASP.NET Core's console lifetime takes Ctrl-C and SIGTERM itself (stopping the app), so wait for either.
            using var stopping = CancellationTokenSource.CreateLinkedTokenSource(ct, host.App.Lifetime.ApplicationStopping);
            try
            {
                await Task.Delay(Timeout.Infinite, stopping.Token);
            }
            catch (OperationCanceledException)
            {
            }
            await host.StopAsync(CancellationToken.None);
            Console.WriteLine($"ingest: {host.Ingest.Accepted} spans published, {host.Ingest.Ignored} not GenAI calls, {host.Ingest.Rejected} rejected");
            return ExitCodes.Ok;
        });
        return command;
    }
}
