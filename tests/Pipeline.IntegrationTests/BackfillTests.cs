using System.Diagnostics;
using Pipeline.Consumers;

namespace Pipeline.IntegrationTests;

/// <summary>
/// Late data at volume: after live traffic, two hours of events for the same series ending now (so the last
/// minutes land in windows already written), then the live events again (duplicates), through one worker:
/// <c>calls FINAL</c> and every window of <c>metrics_1m FINAL</c> exact. The long version is in <c>make bench</c>.
/// </summary>
public sealed class BackfillTests(ServersFixture servers)
{
    /// <param name="maxRetained">
    /// 2 evicts most written windows before their late retention ends, so the replayed duplicates must be
    /// recognised from storage rather than memory.
    /// </param>
    [Theory]
    [InlineData(20_000)]
    [InlineData(2)]
    public async Task BackfillIntoWrittenWindowsThenReplay_CountsExact(int maxRetained)
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 6, ct);
        // Ending two minutes ago, so every live window closes as soon as the partitions go idle.
        var now = TimeProvider.System.GetUtcNow().AddMinutes(-2);
        var live = AggregationScenario.Create(3000, now, minutes: 10, seed: 71);
        var backfill = AggregationScenario.Create(30_000, now, minutes: 120, seed: 72);
        var options = new AggregatorOptions
        {
            Topic = topic, GroupId = "g-" + topic, MetricsTopic = await servers.NewTopicAsync("metrics", 1, ct),
            DeadLetterTopic = await servers.NewTopicAsync("dlq", 1, ct), FlushInterval = TimeSpan.FromMilliseconds(500),
            Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1), MaxRetainedWindows = maxRetained },
        };
        using var worker = new AggregatorWorker(servers.Kafka, clickHouse, options, TimeProvider.System, new FileLogger("backfill"));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();

        await AggregationScenario.ProduceAsync(servers, topic, live.Events.OrderBy(e => e.OccurredAt), ct);
        await WaitAsync(async () => await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= live.Events.Count, run, ct);

        var started = Stopwatch.GetTimestamp();
        await AggregationScenario.ProduceAsync(servers, topic, backfill.Events.OrderBy(e => e.OccurredAt), ct);
        await AggregationScenario.ProduceAsync(servers, topic, live.Events.OrderBy(e => e.OccurredAt), ct); // replayed: duplicates
        var total = live.Events.Count + backfill.Events.Count;
        await WaitAsync(async () => await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= total
            && worker.RecordsConsumed >= total + live.Events.Count, run, ct);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        TestContext.Current.SendDiagnosticMessage($"backfill: {backfill.Events.Count + live.Events.Count} records in {seconds:F1} s ({(backfill.Events.Count + live.Events.Count) / seconds:F0}/s)");
        await stop.CancelAsync();
        await run;

        var all = AggregationScenario.Create(0, now, 1, 0);
        all.Events.AddRange(live.Events);
        all.Events.AddRange(backfill.Events);
        await all.AssertReconciledAsync(clickHouse, ct);
        Assert.Equal(0, worker.DeadLettered);
        if (maxRetained < 1000) Assert.True(worker.WindowsEvicted > 0, "the size bound never evicted a window");
        else Assert.Equal(0, worker.WindowsEvicted);
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, Task run, CancellationToken ct)
    {
        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(120);
        while (!await condition())
        {
            Assert.False(run.IsCompleted, "the worker stopped: " + run.Exception?.GetBaseException().Message);
            Assert.True(TimeProvider.System.GetUtcNow() < deadline, "timed out");
            await Task.Delay(200, ct);
        }
    }
}
