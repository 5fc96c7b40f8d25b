using System.Diagnostics;
using Pipeline.Consumers;

namespace Pipeline.IntegrationTests;

/// <summary>
/// The aggregator as a real process (<c>pipeline aggregate</c>), killed with SIGKILL mid-stream and
/// restarted, and two workers sharing the partitions: the results reconcile exactly every time.
/// </summary>
public sealed class CrashRecoveryTests(ServersFixture servers)
{
    [Fact]
    public async Task Kill9MidStream_Twice_RestartReconcilesExactly()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 4, ct);
        var metrics = await servers.NewTopicAsync("metrics", 2, ct);
        var dlq = await servers.NewTopicAsync("dlq", 1, ct);
        var scenario = AggregationScenario.Create(4000, TimeProvider.System.GetUtcNow().AddMinutes(-3), minutes: 8, seed: 11);
        await AggregationScenario.ProduceAsync(servers, topic, scenario.Events.OrderBy(e => e.OccurredAt), ct);

        string[] args =
        [
            "aggregate",
            "--set", $"ClickHouse:Url={servers.ClickHouse.Url}", "--set", $"ClickHouse:User={servers.ClickHouse.User}",
            "--set", $"ClickHouse:Password={servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={clickHouse.Options.Database}",
            "--set", $"Kafka:bootstrap.servers={servers.Bootstrap}", "--set", "Kafka:session.timeout.ms=6000",
            "--set", $"Aggregator:Topic={topic}", "--set", $"Aggregator:GroupId=g-{topic}", "--set", $"Aggregator:MetricsTopic={metrics}",
            "--set", $"Aggregator:DeadLetterTopic={dlq}", "--set", "Aggregator:MaxBatchRows=250", "--set", "Aggregator:FlushInterval=00:00:00.2",
            "--set", "Aggregator:Windowing:IdleTimeout=00:00:01",
        ];
        var home = Directory.CreateTempSubdirectory("pipeline-crash-").FullName;

        // Kill as soon as the first rows are written, then again once more have landed.
        foreach (var killAfterRows in new[] { 1, 1500 })
        {
            using var worker = PipelineProcess.Start(args, home);
            var deadline = TimeProvider.System.GetUtcNow().AddSeconds(60);
            while (await clickHouse.ScalarAsync("SELECT count() FROM calls", ct) < killAfterRows && TimeProvider.System.GetUtcNow() < deadline && !worker.HasExited)
            {
                await Task.Delay(20, ct);
            }
            Assert.False(worker.HasExited, "the worker exited by itself");
            await KillAsync(worker, ct); // SIGKILL: no flush, no commit, no goodbye
        }

        using (var last = PipelineProcess.Start(args, home))
        {
            try
            {
                var deadline = TimeProvider.System.GetUtcNow().AddSeconds(90);
                while (await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) < scenario.Events.Count && TimeProvider.System.GetUtcNow() < deadline)
                {
                    await Task.Delay(200, ct);
                }
            }
            finally
            {
                await KillAsync(last, ct);
            }
        }
        Directory.Delete(home, recursive: true);

        await scenario.AssertReconciledAsync(clickHouse, ct);
        Assert.True(await clickHouse.ScalarAsync("SELECT count() FROM calls", ct) >= scenario.Events.Count);
    }

    [Fact]
    public async Task TwoWorkersInOneGroup_SplitPartitions_SameResultAsOne()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 6, ct);
        var scenario = AggregationScenario.Create(3000, TimeProvider.System.GetUtcNow().AddMinutes(-3), minutes: 6, seed: 23);
        await AggregationScenario.ProduceAsync(servers, topic, scenario.Events.OrderBy(e => e.OccurredAt), ct);
        var options = new AggregatorOptions
        {
            Topic = topic, GroupId = "g-" + topic, MetricsTopic = await servers.NewTopicAsync("metrics", 1, ct),
            DeadLetterTopic = await servers.NewTopicAsync("dlq", 1, ct), FlushInterval = TimeSpan.FromMilliseconds(200),
            Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1) },
        };
        var a = WorkerHarness.RunUntilAsync(servers, clickHouse, options,
            async () => await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= scenario.Events.Count, TimeSpan.FromSeconds(90), ct);
        var b = WorkerHarness.RunUntilAsync(servers, clickHouse, options,
            async () => await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= scenario.Events.Count, TimeSpan.FromSeconds(90), ct);
        using var workerA = await a;
        using var workerB = await b;
        Assert.True(workerA.EventsWritten > 0 && workerB.EventsWritten > 0,
            $"both workers should have had partitions: {workerA.EventsWritten} and {workerB.EventsWritten} events");
        await scenario.AssertReconciledAsync(clickHouse, ct);
    }

    private static async Task KillAsync(Process process, CancellationToken ct)
    {
        Pipeline.DevServers.DetachedProcess.Kill(process.Id, 9);
        for (var i = 0; i < 200 && Pipeline.DevServers.DetachedProcess.IsAlive(process.Id) && !process.HasExited; i++)
        {
            await Task.Delay(50, ct);
        }
        Assert.True(process.HasExited || !Pipeline.DevServers.DetachedProcess.IsAlive(process.Id), $"worker {process.Id} survived SIGKILL");
    }
}
