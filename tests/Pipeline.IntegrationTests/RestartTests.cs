using Confluent.Kafka;
using Pipeline.Consumers;
using Pipeline.Schemas;

namespace Pipeline.IntegrationTests;

/// <summary>A clean restart after windows were written, then late events and duplicates: each window revision is published once and every written window is scored.</summary>
public sealed class RestartTests(ServersFixture servers)
{
    [Fact]
    public async Task CleanRestartAfterWindowsWritten_EachRevisionPublishedOnce_AnomalyRowsComplete()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 2, ct);
        var metrics = await servers.NewTopicAsync("metrics", 1, ct);
        var end = TimeProvider.System.GetUtcNow().AddMinutes(-1);
        var scenario = AggregationScenario.Create(3000, end, minutes: 8, seed: 404);
        var ordered = scenario.Events.OrderBy(e => e.OccurredAt).ToList();
        var first = ordered.Take(1500).ToList();
        var options = new AggregatorOptions
        {
            Topic = topic, GroupId = "g-" + topic, MetricsTopic = metrics, DeadLetterTopic = await servers.NewTopicAsync("dlq", 1, ct),
            FlushInterval = TimeSpan.FromMilliseconds(200), Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1) },
            Anomalies = new() { MinSamples = 2 },
        };
        await AggregationScenario.ProduceAsync(servers, topic, first, ct);
        using (await WorkerHarness.RunUntilAsync(servers, clickHouse, options,
            async () => await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= first.Count, TimeSpan.FromSeconds(60), ct)) { }

        // After the restart: the rest, late events for windows already written, and duplicates of written events.
        var late = first.Where((_, i) => i % 30 == 0).Select(e => e with { EventId = Guid.NewGuid() }).ToList();
        var duplicates = first.Where((_, i) => i % 25 == 0).ToList();
        scenario.Events.AddRange(late);
        await AggregationScenario.ProduceAsync(servers, topic, ordered.Skip(1500).Concat(late).Concat(duplicates), ct);
        using (await WorkerHarness.RunUntilAsync(servers, clickHouse, options,
            async () => await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= scenario.Events.Count, TimeSpan.FromSeconds(60), ct)) { }
        await scenario.AssertReconciledAsync(clickHouse, ct);

        // Every (series, window, revision) on the topic exactly once, and the topic's latest revision is the table's.
        var records = ReadAll(metrics);
        var counts = records.GroupBy(a => (a.Series, a.WindowStart, a.Revision)).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {g.Count()}").ToList();
        Assert.True(counts.Count == 0, "published more than once: " + string.Join("; ", counts.Take(5)));
        var stored = await clickHouse.QueryAsync("SELECT prompt_version, request_model, toUInt32(window_start) AS ws, revision FROM metrics_1m FINAL", ct);
        Assert.Contains(stored, r => r.GetProperty("revision").GetInt32() > 1); // the late events made new revisions
        foreach (var r in stored)
        {
            var latest = records.Where(a => a.Series.PromptVersion == r.GetProperty("prompt_version").GetString() && a.Series.RequestModel == r.GetProperty("request_model").GetString()
                && a.WindowStart.ToUnixTimeSeconds() == r.GetProperty("ws").GetInt64()).Max(a => a.Revision);
            Assert.Equal(r.GetProperty("revision").GetInt32(), latest);
        }

        // Every window with at least MinSamples earlier windows of its series has its scores, revisions after the reload included.
        var missing = await clickHouse.ScalarAsync("""
            SELECT count() FROM
            (
                SELECT prompt_version, request_model, window_start FROM metrics_1m FINAL
                WHERE (prompt_version, request_model, window_start) NOT IN (SELECT prompt_version, request_model, window_start FROM anomalies)
                  AND window_start >= (SELECT min(window_start) FROM metrics_1m) + 120
            )
            """, ct);
        Assert.Equal(0, missing);
    }

    private List<WindowAggregate> ReadAll(string topic)
    {
        var serializer = new WindowAggregateSerializer();
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(servers.Kafka.Consumer("read-" + Guid.NewGuid().ToString("N"))).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var end = consumer.QueryWatermarkOffsets(new TopicPartition(topic, 0), TimeSpan.FromSeconds(10)).High.Value;
        var result = new List<WindowAggregate>();
        while (result.Count < end)
        {
            var m = consumer.Consume(TimeSpan.FromSeconds(10)) ?? throw new InvalidOperationException($"read {result.Count} of {end}");
            result.Add(serializer.Deserialize(m.Message.Value));
        }
        return result;
    }
}
