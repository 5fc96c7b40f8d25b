using Microsoft.Extensions.Hosting;
using Pipeline.ClickHouse;

namespace Pipeline.Cli.Hosting;

/// <summary><see cref="HealthEndpoint"/> for the life of the host: listening before the worker waits for servers, closed after it drained.</summary>
internal sealed class HealthService(PipelineConfig config, ClickHouseHttp clickHouse, WorkerService worker) : IHostedService, IDisposable
{
    private HealthEndpoint? _endpoint;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _endpoint = HealthEndpoint.Start(config, clickHouse, () => worker.NotReadyReason);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _endpoint?.Dispose();
        _endpoint = null;
    }
}
