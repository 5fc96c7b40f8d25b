using System.Text;
using Confluent.Kafka;
using Pipeline.Consumers;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.IntegrationTests;

/// <summary>Bad records go to the DLQ with a reason; the good records around them are unaffected.</summary>
public sealed class DeadLetterTests(ServersFixture servers)
{
    [Fact]
    public async Task BadRecords_GoToDlqWithReason_GoodOnesLand_OffsetsCommitted()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 2, ct);
        var dlq = await servers.NewTopicAsync("dlq", 1, ct);
        var serializer = new LlmCallSerializer();
        // Ten minutes old, so the windows close as soon as the partition goes idle.
        var now = TimeProvider.System.GetUtcNow().AddMinutes(-10);
        var good = Enumerable.Range(0, 50).Select(i => Samples.MinimalCall() with { EventId = Guid.NewGuid(), OccurredAt = now.AddSeconds(-i) }).ToList();
        var validBytes = serializer.Serialize(good[0]);
        var bad = new (string Expected, byte[] Bytes)[]
        {
            ("TooShort", [0, 0]),
            ("BadMagicByte", [7, .. validBytes[1..]]),
            ("UnknownSchemaId", [0, 0, 0, 0x7f, 0x7f, .. validBytes[5..]]),
            ("MalformedAvro", validBytes[..(validBytes.Length / 2)]),
            ("InvalidField", serializer.Serialize(good[1] with { EventId = Guid.NewGuid(), LatencyMs = double.NaN })),
            ("InvalidField", serializer.Serialize(good[1] with { EventId = Guid.NewGuid(), OccurredAt = now.AddYears(5) })),
        };

        using (var producer = new ProducerBuilder<byte[]?, byte[]>(servers.Kafka.Producer()).Build())
        {
            var key = SeriesKey.Of(good[0]).ToKafkaKey();
            var i = 0;
            foreach (var call in good)
            {
                await producer.ProduceAsync(topic, new Message<byte[]?, byte[]> { Key = key, Value = serializer.Serialize(call) }, ct);
                if (i < bad.Length)
                {
                    await producer.ProduceAsync(topic, new Message<byte[]?, byte[]> { Key = key, Value = bad[i].Bytes }, ct);
                }
                i++;
            }
        }

        var options = new AggregatorOptions
        {
            Topic = topic, DeadLetterTopic = dlq, MetricsTopic = await servers.NewTopicAsync("metrics", 1, ct), GroupId = "g-" + topic,
            FlushInterval = TimeSpan.FromMilliseconds(100), Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1) },
        };
        using (var worker = await WorkerHarness.RunUntilAsync(servers, clickHouse, options,
            async () => await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= good.Count, TimeSpan.FromSeconds(60), ct))
        {
            Assert.Equal(good.Count, worker.EventsWritten);
            Assert.Equal(bad.Length, worker.DeadLettered);
        }
        Assert.Equal(good.Count, await clickHouse.ScalarAsync("SELECT count() FROM calls FINAL", ct));

        var dead = ReadAll(dlq, bad.Length, ct);
        Assert.Equal(bad.Select(b => b.Expected), dead.Select(m => Header(m, AggregatorWorker.FailureHeader)));
        for (var j = 0; j < bad.Length; j++)
        {
            Assert.Equal(bad[j].Bytes, dead[j].Value);
            Assert.False(string.IsNullOrWhiteSpace(Header(dead[j], AggregatorWorker.ReasonHeader)));
            Assert.StartsWith(topic + "/", Header(dead[j], AggregatorWorker.SourceHeader), StringComparison.Ordinal);
        }
        Assert.Contains("latency_ms", Header(dead[4], AggregatorWorker.ReasonHeader), StringComparison.Ordinal);
        Assert.Contains("occurred_at", Header(dead[5], AggregatorWorker.ReasonHeader), StringComparison.Ordinal);

        // Offsets were committed: the same group starting again has nothing left to write.
        using var again = await WorkerHarness.RunUntilAsync(servers, clickHouse, options, () => Task.FromResult(false), TimeSpan.FromSeconds(8), ct);
        Assert.Equal(0, again.EventsWritten);
        Assert.Equal(0, again.DeadLettered);
    }

    private List<Message<byte[]?, byte[]?>> ReadAll(string topic, int count, CancellationToken ct)
    {
        var config = servers.Kafka.Consumer("read-" + Guid.NewGuid().ToString("N"));
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var messages = new List<Message<byte[]?, byte[]?>>();
        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(30);
        while (messages.Count < count && TimeProvider.System.GetUtcNow() < deadline && !ct.IsCancellationRequested)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false, Message: { } m })
            {
                messages.Add(m);
            }
        }
        return messages;
    }

    private static string Header(Message<byte[]?, byte[]?> m, string name) =>
        m.Headers.TryGetLastBytes(name, out var b) ? Encoding.UTF8.GetString(b) : "";
}
