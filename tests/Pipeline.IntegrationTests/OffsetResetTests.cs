using Confluent.Kafka;
using Pipeline.Consumers;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.IntegrationTests;

/// <summary>
/// A committed offset that retention has deleted: librdkafka jumps to the earliest record it still has. That is
/// data loss, and the worker says so (log, <c>pipeline.aggregator.records_skipped</c>, <c>/readyz</c>) instead of
/// carrying on silently. The dev broker's own trap (it keeps about 5 MiB per partition) deletes the records.
/// </summary>
public sealed class OffsetResetTests(ServersFixture servers)
{
    [Fact]
    public async Task CommittedOffsetDeletedByRetention_SkippedRangeReported()
    {
        var ct = TestContext.Current.CancellationToken;
        if (servers.DevBroker is null)
        {
            Assert.Skip("relies on the dev broker dropping the oldest records of a full partition");
        }
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("reset", 1, ct);
        var group = "g-" + topic;
        // The group has read nothing: its committed offset is 0.
        using (var committer = new ConsumerBuilder<byte[]?, byte[]?>(servers.Kafka.Consumer(group)).Build())
        {
            committer.Commit([new TopicPartitionOffset(topic, 0, 0)]);
        }
        // About 8 MiB into one partition: the broker silently drops the oldest records, offset 0 among them.
        var serializer = new LlmCallSerializer();
        var at = TimeProvider.System.GetUtcNow().AddMinutes(-3);
        var random = new Random(8);
        var config = servers.Kafka.Producer();
        config.CompressionType = CompressionType.None; // incompressible bytes, really on the broker
        using (var producer = new ProducerBuilder<byte[]?, byte[]?>(config).Build())
        {
            var noise = new byte[700];
            for (var i = 0; i < 8_000; i++)
            {
                random.NextBytes(noise);
                var call = Samples.MinimalCall() with { EventId = Guid.NewGuid(), OccurredAt = at, ErrorMessage = Convert.ToBase64String(noise), Outcome = Outcome.Error };
                producer.Produce(topic, new Message<byte[]?, byte[]?> { Key = SeriesKey.Of(call).ToKafkaKey(), Value = serializer.Serialize(call) });
            }
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
        }
        using var probe = new ConsumerBuilder<byte[]?, byte[]?>(servers.Kafka.Consumer("probe-" + topic)).Build();
        var low = probe.QueryWatermarkOffsets(new TopicPartition(topic, 0), TimeSpan.FromSeconds(10)).Low.Value;
        Assert.True(low > 0, "the dev broker kept every record; the test needs the oldest ones gone");

        var options = new AggregatorOptions
        {
            Topic = topic, GroupId = group, MetricsTopic = await servers.NewTopicAsync("metrics", 1, ct),
            DeadLetterTopic = await servers.NewTopicAsync("dlq", 1, ct), FlushInterval = TimeSpan.FromMilliseconds(200),
        };
        using var worker = new AggregatorWorker(servers.Kafka, clickHouse, options, TimeProvider.System, new FileLogger("reset"));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();
        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(60);
        while (worker.RecordsConsumed == 0 && TimeProvider.System.GetUtcNow() < deadline) await Task.Delay(100, ct);
        await Task.Delay(500, ct);
        var reason = worker.NotReadyReason;
        await stop.CancelAsync();
        await run;
        Assert.NotNull(reason);
        Assert.Contains($"offsets 0..{low - 1} ({low} records) were skipped", reason, StringComparison.Ordinal);
    }
}
