using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.ClickHouse;
using Pipeline.Consumers;

namespace Pipeline.IntegrationTests;

/// <summary>Runs a <see cref="AggregatorWorker"/> in the background until a condition holds in ClickHouse.</summary>
internal static class WorkerHarness
{
    public static async Task<AggregatorWorker> RunUntilAsync(ServersFixture servers, ClickHouseHttp clickHouse, AggregatorOptions options,
        Func<Task<bool>> done, TimeSpan timeout, CancellationToken ct)
    {
        var worker = new AggregatorWorker(servers.Kafka, clickHouse, options, TimeProvider.System, NullLogger.Instance);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();
        var deadline = TimeProvider.System.GetUtcNow() + timeout;
        try
        {
            while (TimeProvider.System.GetUtcNow() < deadline && !run.IsCompleted && !await done())
            {
                await Task.Delay(200, ct);
            }
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
        return worker;
    }
}
