using Confluent.Kafka;
using Pipeline.Consumers;
using Pipeline.Schemas;

namespace Pipeline.IntegrationTests;

/// <summary>The aggregator on the real servers: exact sums, percentiles within bound, duplicates, late data.</summary>
public sealed class AggregatorTests(ServersFixture servers)
{
    private async Task<AggregatorOptions> OptionsAsync(string topic, CancellationToken ct) => new()
    {
        Topic = topic,
        GroupId = "g-" + topic,
        MetricsTopic = await servers.NewTopicAsync("metrics", 2, ct),
        DeadLetterTopic = await servers.NewTopicAsync("dlq", 1, ct),
        FlushInterval = TimeSpan.FromMilliseconds(200),
        Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1) },
    };

    [Fact]
    public async Task KnownEvents_WithDuplicatesAndLateOnes_ReconcileExactly()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 4, ct);
        var options = await OptionsAsync(topic, ct);
        var end = TimeProvider.System.GetUtcNow().AddMinutes(-5);
        var scenario = AggregationScenario.Create(3000, end, minutes: 6, seed: 7);

        // On-time events, then every 15th produced again (a producer retry).
        var onTime = scenario.Events.Take(2500).OrderBy(e => e.OccurredAt).ToList();
        await AggregationScenario.ProduceAsync(servers, topic, onTime.Concat(onTime.Where((_, i) => i % 15 == 0)), ct);
        var total = onTime.Count;
        using (var first = await WorkerHarness.RunUntilAsync(servers, clickHouse, options,
            async () => await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= total, TimeSpan.FromSeconds(90), ct))
        {
            Assert.True(first.WindowsWritten > 0);
        }

        // Late events for windows that already closed, with some duplicates of already counted events.
        var late = scenario.Events.Skip(2500).ToList();
        await AggregationScenario.ProduceAsync(servers, topic, late.Concat(onTime.Take(20)), ct);
        using (var second = await WorkerHarness.RunUntilAsync(servers, clickHouse, options,
            async () => await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= scenario.Events.Count, TimeSpan.FromSeconds(90), ct))
        {
            Assert.Equal(late.Count + 20, second.EventsWritten);
        }

        await scenario.AssertReconciledAsync(clickHouse, ct);
        Assert.True(await clickHouse.ScalarAsync("SELECT max(revision) FROM metrics_1m FINAL", ct) >= 2, "late events should have produced revision 2");

        // The topic carries the same windows: the highest revision of each key matches the table.
        var aggregates = ReadAggregates(options.MetricsTopic, ct);
        var latest = aggregates.GroupBy(a => (a.Series, a.WindowStart)).Select(g => g.MaxBy(a => a.Revision)!).ToList();
        Assert.Equal(await clickHouse.ScalarAsync("SELECT count() FROM metrics_1m FINAL", ct), latest.Count);
        Assert.Equal(scenario.Events.Count, latest.Sum(a => a.Calls));
    }

    [Fact]
    public async Task AnomalyScores_AreWrittenWithTheirBaseline()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 1, ct);
        var options = await OptionsAsync(topic, ct);
        options.Anomalies = new() { MinSamples = 5 };
        var start = TimeProvider.System.GetUtcNow().AddMinutes(-30);
        start = new DateTimeOffset(start.UtcTicks - start.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero);
        // Twelve steady minutes at ~200 ms, then one minute at ~800 ms.
        var events = Enumerable.Range(0, 13).SelectMany(m => Enumerable.Range(0, 40).Select(i => Pipeline.Tests.Samples.MinimalCall() with
        {
            EventId = Guid.NewGuid(), OccurredAt = start.AddMinutes(m).AddSeconds(i), LatencyMs = (m == 12 ? 800 : 200) + i % 7,
        })).ToList();
        await AggregationScenario.ProduceAsync(servers, topic, events, ct);
        using var _ = await WorkerHarness.RunUntilAsync(servers, clickHouse, options,
            async () => await clickHouse.ScalarAsync("SELECT count() FROM metrics_1m FINAL", ct) >= 13, TimeSpan.FromSeconds(60), ct);

        var spike = await clickHouse.QueryAsync(
            $"SELECT score, is_anomaly, baseline_median, baseline_samples FROM anomalies FINAL WHERE metric = 'latency_p95' AND window_start = {start.AddMinutes(12).ToUnixTimeSeconds()}", ct);
        var row = Assert.Single(spike);
        Assert.Equal(1, row.GetProperty("is_anomaly").GetInt32());
        Assert.InRange(row.GetProperty("baseline_median").GetDouble(), 200, 210);
        Assert.Equal(12, row.GetProperty("baseline_samples").GetInt32());
        Assert.Equal(0, await clickHouse.ScalarAsync(
            $"SELECT count() FROM anomalies FINAL WHERE is_anomaly = 1 AND metric = 'latency_p95' AND window_start < {start.AddMinutes(12).ToUnixTimeSeconds()}", ct));
    }

    private List<WindowAggregate> ReadAggregates(string topic, CancellationToken ct)
    {
        var serializer = new WindowAggregateSerializer();
        using var consumer = new ConsumerBuilder<byte[]?, byte[]>(servers.Kafka.Consumer("read-" + Guid.NewGuid().ToString("N"))).Build();
        consumer.Assign([new TopicPartitionOffset(topic, 0, Offset.Beginning), new TopicPartitionOffset(topic, 1, Offset.Beginning)]);
        var list = new List<WindowAggregate>();
        var idle = 0;
        while (idle < 10 && !ct.IsCancellationRequested)
        {
            var r = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (r is { IsPartitionEOF: false, Message: { } m })
            {
                list.Add(serializer.Deserialize(m.Value));
                idle = 0;
            }
            else
            {
                idle++;
            }
        }
        return list;
    }
}
