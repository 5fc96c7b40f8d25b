using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.ClickHouse;
using Pipeline.Consumers;

namespace Pipeline.IntegrationTests;

/// <summary>Runs a <see cref="AggregatorWorker"/> in the background until a condition holds in ClickHouse.</summary>
internal static class WorkerHarness
{
    public static Task<AggregatorWorker> RunUntilAsync(ServersFixture servers, ClickHouseHttp clickHouse, AggregatorOptions options,
        Func<Task<bool>> done, TimeSpan timeout, CancellationToken ct) =>
        RunUntilAsync(servers, clickHouse, options, _ => done(), timeout, ct);

    /// <summary>As above, with the running worker handed to <paramref name="done"/> (read only <see cref="AggregatorWorker.RecordsConsumed"/> from here: it is the thread-safe counter).</summary>
    public static async Task<AggregatorWorker> RunUntilAsync(ServersFixture servers, ClickHouseHttp clickHouse, AggregatorOptions options,
        Func<AggregatorWorker, Task<bool>> done, TimeSpan timeout, CancellationToken ct)
    {
        var worker = new AggregatorWorker(servers.Kafka, clickHouse, options, TimeProvider.System, NullLogger.Instance);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();
        var deadline = TimeProvider.System.GetUtcNow() + timeout;
        try
        {
            while (TimeProvider.System.GetUtcNow() < deadline && !run.IsCompleted && !await done(worker))
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

    /// <summary>Runs a worker over <paramref name="topic"/> (a fresh DLQ topic; a fresh metrics topic unless given) until every one of <paramref name="calls"/> is in a closed window.</summary>
    public static async Task AggregateAllAsync(ServersFixture servers, ClickHouseHttp clickHouse, string topic, int calls, CancellationToken ct, string? metricsTopic = null)
    {
        var options = new AggregatorOptions
        {
            Topic = topic, GroupId = "g-" + topic, MetricsTopic = metricsTopic ?? await servers.NewTopicAsync("metrics", 1, ct),
            DeadLetterTopic = await servers.NewTopicAsync("dlq", 1, ct), FlushInterval = TimeSpan.FromMilliseconds(200),
            Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1) },
        };
        using (await RunUntilAsync(servers, clickHouse, options,
            async () => await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= calls, TimeSpan.FromSeconds(60), ct)) { }
    }
}
