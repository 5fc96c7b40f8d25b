using System.Text;
using Confluent.Kafka;
using Pipeline.Consumers;
using Pipeline.DevServers;
using Pipeline.Producers;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.IntegrationTests;

/// <summary>Hostile records among good ones, and a broker outage during load: nothing crashes, nothing is lost.</summary>
public sealed class HostileInputTests(ServersFixture servers)
{
    [Fact]
    public async Task FuzzedAndHostileRecords_AllDeadLettered_GoodOnesExact()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 3, ct);
        var dlq = await servers.NewTopicAsync("dlq", 1, ct);
        var serializer = new LlmCallSerializer();
        var random = new Random(99);
        var now = TimeProvider.System.GetUtcNow().AddMinutes(-5);
        var good = Enumerable.Range(0, 300).Select(i => Samples.FullCall(now.AddSeconds(i % 120)) with { EventId = Guid.NewGuid(), SampleRate = 1 }).ToList();
        var valid = serializer.Serialize(good[0]);
        var bad = new List<byte[]>();
        for (var i = 0; i < 100; i++)
        {
            var fuzz = new byte[random.Next(0, 400)];
            random.NextBytes(fuzz);
            if (i % 2 == 0 && fuzz.Length >= 5) { fuzz[0] = 0; fuzz[1] = 0; fuzz[2] = 0; fuzz[3] = 0; fuzz[4] = 1; } // valid header, garbage body
            bad.Add(fuzz);
        }
        for (var cut = 5; cut < valid.Length; cut += 17) bad.Add(valid[..cut]); // truncated Avro
        LlmCall Hostile(Func<LlmCall, LlmCall> f) => f(Samples.FullCall(now) with { EventId = Guid.NewGuid() });
        foreach (var h in new[]
                 {
                     Hostile(c => c with { LatencyMs = double.NaN }), Hostile(c => c with { LatencyMs = double.PositiveInfinity }),
                     Hostile(c => c with { CostUsd = -1 }), Hostile(c => c with { InputTokens = -5 }),
                     Hostile(c => c with { PromptName = new string('x', 900_000) }),
                     Hostile(c => c with { Tags = Enumerable.Range(0, 3000).ToDictionary(i => "k" + i, i => "v") }),
                     Hostile(c => c with { OccurredAt = now.AddYears(50) }), Hostile(c => c with { OccurredAt = now.AddYears(-50) }),
                     Hostile(c => c with { Service = "svc\u001b[2J\u0007" }), Hostile(c => c with { PromptVersion = "" }),
                 })
        {
            bad.Add(serializer.Serialize(h));
        }
        using (var producer = new ProducerBuilder<byte[]?, byte[]>(servers.Kafka.Producer()).SetLogHandler((_, _) => { }).Build())
        {
            var all = good.Select(g => (Key: SeriesKey.Of(g).ToKafkaKey(), Value: serializer.Serialize(g))).Concat(bad.Select(b => (Key: (byte[])[1], Value: b)))
                .OrderBy(_ => random.Next()).ToList();
            foreach (var (key, value) in all)
            {
                producer.Produce(topic, new Message<byte[]?, byte[]> { Key = key, Value = value });
            }
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
        }
        var options = new AggregatorOptions
        {
            Topic = topic, GroupId = "g-" + topic, DeadLetterTopic = dlq, MetricsTopic = await servers.NewTopicAsync("metrics", 1, ct),
            FlushInterval = TimeSpan.FromMilliseconds(200), Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1) },
        };
        using (var worker = await WorkerHarness.RunUntilAsync(servers, clickHouse, options,
            async () => await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= good.Count, TimeSpan.FromSeconds(60), ct))
        {
            Assert.Equal(bad.Count, worker.DeadLettered);
            Assert.Equal(good.Count, worker.EventsWritten);
        }
        Assert.Equal(good.Count, await clickHouse.ScalarAsync("SELECT count() FROM calls FINAL", ct));
        Assert.Equal(good.Count, await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct));

        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(servers.Kafka.Consumer("read-" + Guid.NewGuid().ToString("N"))).Build();
        consumer.Assign(new TopicPartitionOffset(dlq, 0, Offset.Beginning));
        var reasons = 0;
        for (var idle = 0; idle < 10 && reasons < bad.Count;)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false, Message: { } m })
            {
                Assert.True(m.Headers.TryGetLastBytes(AggregatorWorker.ReasonHeader, out var reason) && reason.Length > 0);
                Assert.DoesNotContain('\u001b', Encoding.UTF8.GetString(reason));
                reasons++;
                idle = 0;
            }
            else
            {
                idle++;
            }
        }
        Assert.Equal(bad.Count, reasons);
    }

    [Fact]
    public async Task BrokerDownDuringLoad_ProducerHoldsEvents_NothingLostOrDoubleCounted()
    {
        var ct = TestContext.Current.CancellationToken;
        // A broker of its own: the outage must not touch the other tests.
        await using var broker = DevBrokerHost.Start(1, null, [("calls", 2), ("metrics", 1), ("dlq", 1)]);
        var kafka = new KafkaSettings([new("bootstrap.servers", broker.Bootstrap), new("session.timeout.ms", "6000")]);
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var scenario = AggregationScenario.Create(2000, TimeProvider.System.GetUtcNow().AddMinutes(-3), minutes: 4, seed: 77);
        var options = new AggregatorOptions
        {
            Topic = "calls", GroupId = "g", DeadLetterTopic = "dlq", MetricsTopic = "metrics",
            FlushInterval = TimeSpan.FromMilliseconds(200), Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(2) },
        };
        using var worker = new AggregatorWorker(kafka, clickHouse, options, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();
        using (var producer = new LlmCallProducer(kafka.All.Append(new("log_level", "0")), "calls"))
        {
            var ordered = scenario.Events.OrderBy(e => e.OccurredAt).ToList();
            foreach (var e in ordered.Take(1000)) producer.Track(e);
            producer.Flush(TimeSpan.FromSeconds(30));
            Assert.Equal("ok", await DevBrokerControl.SendAsync(broker.ControlPort, "down all", ct));
            foreach (var e in ordered.Skip(1000)) Assert.True(producer.Track(e)); // the SDK queues while the broker is away
            await Task.Delay(TimeSpan.FromSeconds(8), ct);
            Assert.Equal("ok", await DevBrokerControl.SendAsync(broker.ControlPort, "up all", ct));
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
            Assert.True(scenario.Events.Count == producer.Delivered, $"delivered {producer.Delivered}, accepted {producer.Accepted}, rejected {producer.Rejected}, spilled {producer.Spilled}, replayed {producer.Replayed}, failed {producer.Failed}, dropped {producer.Dropped}");
        }
        for (var i = 0; i < 600 && await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) < scenario.Events.Count; i++)
        {
            await Task.Delay(100, ct);
        }
        await stop.CancelAsync();
        await run;
        await scenario.AssertReconciledAsync(clickHouse, ct);
    }
}
