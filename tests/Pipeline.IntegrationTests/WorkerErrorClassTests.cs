using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.ClickHouse;
using Pipeline.Consumers;

namespace Pipeline.IntegrationTests;

/// <summary>
/// ClickHouse failing the way real servers fail, and a topic that is not there yet: the worker stays
/// alive and in its group, says why it is not ready, resumes by itself, and loses or double counts nothing.
/// </summary>
public sealed class WorkerErrorClassTests(ServersFixture servers)
{
    [Fact]
    public async Task TooManyPartsLongerThanMaxPollInterval_PausesWithoutRebalance_ThenReconciles()
    {
        var ct = TestContext.Current.CancellationToken;
        using var direct = await servers.NewDatabaseAsync(ct);
        using var proxy = new FaultyClickHouseProxy(direct.Options.Url);
        using var clickHouse = new ClickHouseHttp(new ClickHouseOptions
        {
            Url = proxy.Url, User = direct.Options.User, Password = direct.Options.Password, Database = direct.Options.Database,
        });
        // A short max.poll.interval.ms: the outage outlasts it twice, so a blocked poll loop would be thrown out of the group.
        var kafka = new KafkaSettings(servers.Kafka.All.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value))
            .Append(new("max.poll.interval.ms", "8000")));
        var topic = await servers.NewTopicAsync("calls", 3, ct);
        var scenario = AggregationScenario.Create(3000, TimeProvider.System.GetUtcNow().AddMinutes(-2), minutes: 5, seed: 52);
        var options = Options(topic, await servers.NewTopicAsync("metrics", 1, ct), await servers.NewTopicAsync("dlq", 1, ct));
        using var worker = new AggregatorWorker(kafka, clickHouse, options, TimeProvider.System, NullLogger.Instance);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();

        var ordered = scenario.Events.OrderBy(e => e.OccurredAt).ToList();
        await AggregationScenario.ProduceAsync(servers, topic, ordered.Take(1500), ct);
        await WaitAsync(() => Task.FromResult(worker.EventsWritten > 0), ct);
        proxy.FailInserts(FaultyClickHouseProxy.TooManyParts);
        await AggregationScenario.ProduceAsync(servers, topic, ordered.Skip(1500), ct);
        await WaitAsync(() => Task.FromResult(worker.NotReadyReason is not null), ct);
        await Task.Delay(TimeSpan.FromSeconds(18), ct);
        Assert.False(run.IsCompleted, "the worker stopped: " + run.Exception?.GetBaseException().Message);
        Assert.Contains("unavailable", worker.NotReadyReason ?? "", StringComparison.Ordinal);
        Assert.Contains("Too many parts", worker.NotReadyReason ?? "", StringComparison.Ordinal);
        Assert.True(proxy.FaultedInserts > 3, $"only {proxy.FaultedInserts} inserts were tried during the outage");

        proxy.FailInserts(null);
        Assert.Equal(1, worker.Assignments); // never left the group
        await ResumedAndExactAsync(worker, stop, run, direct, scenario, ct);
    }

    [Fact]
    public async Task ColumnDroppedAndRestoredDuringLoad_WorkerBlocksUnready_ThenResumesWithoutLoss()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 2, ct);
        var scenario = AggregationScenario.Create(2000, TimeProvider.System.GetUtcNow().AddMinutes(-2), minutes: 4, seed: 16);
        var options = Options(topic, await servers.NewTopicAsync("metrics", 1, ct), await servers.NewTopicAsync("dlq", 1, ct));
        using var worker = new AggregatorWorker(servers.Kafka, clickHouse, options, TimeProvider.System, NullLogger.Instance);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();

        var ordered = scenario.Events.OrderBy(e => e.OccurredAt).ToList();
        await AggregationScenario.ProduceAsync(servers, topic, ordered.Take(1000), ct);
        await WaitAsync(() => Task.FromResult(worker.EventsWritten > 0), ct);
        await clickHouse.ExecuteAsync("ALTER TABLE calls DROP COLUMN cache_hit", ct);
        await AggregationScenario.ProduceAsync(servers, topic, ordered.Skip(1000), ct);
        await WaitAsync(() => Task.FromResult(worker.NotReadyReason?.Contains("refuses", StringComparison.Ordinal) == true), ct);
        Assert.Contains("cache_hit", worker.NotReadyReason, StringComparison.Ordinal);
        await Task.Delay(TimeSpan.FromSeconds(3), ct);
        Assert.False(run.IsCompleted, "the worker stopped: " + run.Exception?.GetBaseException().Message);
        Assert.Equal(0, worker.DeadLettered); // the table's fault, not the rows': nothing dead-lettered

        await clickHouse.ExecuteAsync("ALTER TABLE calls ADD COLUMN cache_hit UInt8 AFTER retry_count", ct);
        await ResumedAndExactAsync(worker, stop, run, clickHouse, scenario, ct);
    }

    [Fact]
    public async Task TopicCreatedAfterWorkerStarts_WaitsUnready_ThenConsumes()
    {
        var ct = TestContext.Current.CancellationToken;
        if (servers.DevBroker is null)
        {
            Assert.Skip("creates a topic late through the dev broker");
        }
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = "late-" + Guid.NewGuid().ToString("N")[..12];
        var kafka = new KafkaSettings(servers.Kafka.All.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value))
            .Append(new("topic.metadata.refresh.interval.ms", "1000")));
        var options = Options(topic, await servers.NewTopicAsync("metrics", 1, ct), await servers.NewTopicAsync("dlq", 1, ct));
        using var worker = new AggregatorWorker(kafka, clickHouse, options, TimeProvider.System, NullLogger.Instance);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();
        await WaitAsync(() => Task.FromResult(worker.NotReadyReason?.Contains("does not exist", StringComparison.Ordinal) == true || run.IsCompleted), ct);
        Assert.False(run.IsCompleted, "the worker stopped: " + run.Exception?.GetBaseException().Message);

        servers.DevBroker.Cluster.CreateTopic(topic, 2);
        var scenario = AggregationScenario.Create(500, TimeProvider.System.GetUtcNow().AddMinutes(-1), minutes: 2, seed: 5);
        await WaitAsync(() => Task.FromResult(worker.Assignments > 0), ct);
        await AggregationScenario.ProduceAsync(servers, topic, scenario.Events, ct);
        await ResumedAndExactAsync(worker, stop, run, clickHouse, scenario, ct);
    }

    [Fact]
    public async Task MissingTopicWithFailPolicy_StopsWithOneClearError()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = "absent-" + Guid.NewGuid().ToString("N")[..12];
        var options = Options(topic, await servers.NewTopicAsync("metrics", 1, ct), await servers.NewTopicAsync("dlq", 1, ct));
        options.MissingTopic = MissingTopicPolicy.Fail;
        using var worker = new AggregatorWorker(servers.Kafka, clickHouse, options, TimeProvider.System, NullLogger.Instance);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        var ex = await Assert.ThrowsAsync<MissingTopicException>(() => worker.RunAsync(timeout.Token));
        Assert.Contains(topic, ex.Message, StringComparison.Ordinal);
    }

    /// <summary>Waits until every event is in a closed window, then checks the worker is ready again, stops it and reconciles.</summary>
    private static async Task ResumedAndExactAsync(AggregatorWorker worker, CancellationTokenSource stop, Task run, ClickHouseHttp clickHouse,
        AggregationScenario scenario, CancellationToken ct)
    {
        await WaitAsync(async () => await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= scenario.Events.Count, ct);
        Assert.Null(worker.NotReadyReason);
        await stop.CancelAsync();
        await run;
        await scenario.AssertReconciledAsync(clickHouse, ct);
    }

    private static AggregatorOptions Options(string topic, string metrics, string dlq) => new()
    {
        Topic = topic, GroupId = "g-" + topic, MetricsTopic = metrics, DeadLetterTopic = dlq, MaxBatchRows = 400,
        FlushInterval = TimeSpan.FromMilliseconds(200), BlockedRetryInterval = TimeSpan.FromSeconds(1),
        Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1) },
    };

    private static async Task WaitAsync(Func<Task<bool>> condition, CancellationToken ct, int seconds = 90)
    {
        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(seconds);
        while (!await condition())
        {
            Assert.True(TimeProvider.System.GetUtcNow() < deadline, "timed out waiting");
            await Task.Delay(100, ct);
        }
    }
}
