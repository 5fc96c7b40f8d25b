using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pipeline.ClickHouse;
using Pipeline.Consumers;
using Pipeline.Schemas;

namespace Pipeline.Cli.Hosting;

/// <summary>
/// A worker as a hosted service. At start it waits (unready, with the reason) until ClickHouse and Kafka
/// answer, applies the migrations, then runs the worker on a thread of its own until the host stops, which
/// drains it (writes what is closed, commits what is safe). A worker that fails or ends by itself stops the
/// host through <see cref="IHostApplicationLifetime"/>; <see cref="Failure"/> then says why, and the command
/// turns it into one error line and its exit code.
/// </summary>
internal abstract partial class WorkerService(string name, PipelineConfig config, ClickHouseHttp clickHouse,
    IHostApplicationLifetime lifetime, ILogger log) : BackgroundService
{
    private volatile string? _starting = "starting: connecting to ClickHouse and Kafka";
    private volatile bool _stopped;

    /// <summary>What failed the worker, or null when it ran and stopped as asked.</summary>
    public Exception? Failure { get; private set; }

    /// <summary>Null while the worker makes progress, else why not (starting, waiting for a server, paused, stopped), for <c>/readyz</c>.</summary>
    public string? NotReadyReason => _starting ?? (_stopped ? "stopped" : WorkerProblem);

    /// <summary>The line printed after a stop: what the worker did.</summary>
    public abstract string Summary { get; }

    /// <summary>The worker's own reason for not being ready (paused on a server, data skipped), or null.</summary>
    protected abstract string? WorkerProblem { get; }

    /// <summary>Runs the worker until <paramref name="stoppingToken"/> is cancelled.</summary>
    protected abstract Task RunWorkerAsync(CancellationToken stoppingToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            // A worker started while a server is away waits for it (unready), as it would if the server left later.
            await SmokeCommand.WaitForServersAsync(config, reason => _starting = reason, stoppingToken);
            // Both servers answered: /readyz must no longer say "waiting" while the migrations run.
            _starting = "starting: applying ClickHouse migrations";
            await new Migrator(clickHouse, TimeProvider.System).ApplyAsync(Migrator.Embedded, stoppingToken);
            _starting = null;
            // The consume loop blocks in librdkafka: a thread of its own, not one of the pool's.
            await Task.Factory.StartNew(() => RunWorkerAsync(stoppingToken), CancellationToken.None,
                TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopped while waiting for a server or migrating: nothing to drain.
        }
        catch (Exception ex)
        {
            Failure = ex;
            var type = ex.GetType().Name;
            var reason = SecretMask.MaskText(ex.Message);
            LogFailed(log, name, type, reason);
        }
        finally
        {
            _stopped = true;
            _starting = null;
            // A worker that failed, or ended without being asked, takes the host down with it.
            if (!stoppingToken.IsCancellationRequested) lifetime.StopApplication();
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Critical, Message = "{Worker} failed, stopping: {Type}: {Reason}")]
    private static partial void LogFailed(ILogger log, string worker, string type, string reason);
}

/// <summary><c>pipeline aggregate</c>'s worker in the host.</summary>
internal sealed class AggregatorService(AggregatorWorker worker, PipelineConfig config, ClickHouseHttp clickHouse,
    IHostApplicationLifetime lifetime, ILoggerFactory loggers)
    : WorkerService("aggregator", config, clickHouse, lifetime, loggers.CreateLogger("aggregate"))
{
    public override string Summary => $"stopped: {worker.EventsWritten} events written, {worker.WindowsWritten} windows, {worker.DeadLettered} dead-lettered";
    protected override string? WorkerProblem => worker.NotReadyReason;
    protected override Task RunWorkerAsync(CancellationToken stoppingToken) => worker.RunAsync(stoppingToken);
}

/// <summary><c>pipeline alert</c>'s worker in the host.</summary>
internal sealed class AlertService(AlertWorker worker, PipelineConfig config, ClickHouseHttp clickHouse,
    IHostApplicationLifetime lifetime, ILoggerFactory loggers)
    : WorkerService("alert worker", config, clickHouse, lifetime, loggers.CreateLogger("alert"))
{
    public override string Summary => $"stopped: {worker.WindowsEvaluated} windows evaluated, {worker.AlertsPublished} alerts published, {worker.WebhookDeadLetters} webhook dead letters";
    protected override string? WorkerProblem => null;
    protected override Task RunWorkerAsync(CancellationToken stoppingToken) => worker.RunAsync(stoppingToken);
}
