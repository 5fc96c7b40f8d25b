using System.Collections;
using System.CommandLine;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pipeline.ClickHouse;

namespace Pipeline.Cli.Hosting;

/// <summary>
/// Runs one worker in a generic host (Microsoft.Extensions.Hosting): ClickHouse, meters from
/// <c>IMeterFactory</c>, self-metrics export (<see cref="SelfMetrics"/>), <c>/healthz</c> and <c>/readyz</c>,
/// and the worker as a <see cref="WorkerService"/>. The host owns Ctrl-C and SIGTERM for these commands: a stop
/// drains the worker (up to <see cref="ShutdownTimeout"/>) and exits 0; a worker that fails stops the host and
/// its exception becomes the command's error line and exit code (<see cref="CommandRunner"/>).
/// </summary>
internal static class WorkerHost
{
    /// <summary>
    /// How long a stop may take: the aggregator gives a write that waits for a server 30 s, then flushes its
    /// producer for up to 10 s.
    /// </summary>
    public static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(60);

    private static readonly HashSet<Command> Hosted = [];

    /// <summary>Marks <paramref name="command"/> as one whose signals the host handles (System.CommandLine's 2 s cut-off would end a drain).</summary>
    public static Command Hosts(Command command)
    {
        Hosted.Add(command);
        return command;
    }

    /// <summary>Whether the parsed command runs a host, which then handles Ctrl-C and SIGTERM itself.</summary>
    public static bool HandlesSignals(ParseResult parse) => Hosted.Contains(parse.CommandResult.Command);

    /// <param name="service">OpenTelemetry's <c>service.name</c> of the worker, such as <c>pipeline-aggregate</c>.</param>
    /// <param name="addWorker">Registers the worker and its <typeparamref name="TService"/> dependencies.</param>
    public static async Task<int> RunAsync<TService>(PipelineConfig config, string service, Action<IServiceCollection> addWorker, CancellationToken ct)
        where TService : WorkerService
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Args = [] });
        // The pipeline's own settings are bound already; the host sees only the OTEL_* variables, which the
        // OpenTelemetry SDK reads under their full names (OTEL_EXPORTER_OTLP_HEADERS, ..._CERTIFICATE, ..._TIMEOUT).
        builder.Configuration.AddInMemoryCollection(Environment.GetEnvironmentVariables().Cast<DictionaryEntry>()
            .Select(e => new KeyValuePair<string, string?>((string)e.Key, (string?)e.Value))
            .Where(e => e.Key.StartsWith("OTEL_", StringComparison.Ordinal)));
        builder.Logging.ClearProviders()
            .AddFilter("Microsoft", LogLevel.Warning)
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
        builder.Services.AddMetrics();
        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton(_ => new ClickHouseHttp(config.ClickHouse));
        SelfMetrics.Add(builder.Services, config, service);
        addWorker(builder.Services);
        builder.Services.AddSingleton<TService>();
        builder.Services.AddSingleton<WorkerService>(sp => sp.GetRequiredService<TService>());
        builder.Services.AddHostedService<HealthService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TService>());

        using var host = builder.Build();
        // Resolved before the start, so a bad rule file or setting fails the command before anything listens.
        var worker = host.Services.GetRequiredService<TService>();
        await host.StartAsync(ct);
        await host.WaitForShutdownAsync(ct);
        if (worker.Failure is { } failure)
        {
            ExceptionDispatchInfo.Capture(failure).Throw();
        }
        Console.WriteLine(worker.Summary);
        return ExitCodes.Ok;
    }
}
