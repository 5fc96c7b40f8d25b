using Confluent.Kafka;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Pipeline.DevServers;
using Pipeline.Producers;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.IntegrationTests;

/// <summary>
/// The SDK across broker outages on a dev broker of its own: events spill to disk, replay when the broker
/// returns, survive a restart, and the caller is never held up.
/// </summary>
public sealed class ProducerSpillTests : IDisposable
{
    private readonly string _spill = Path.Combine(Path.GetTempPath(), "pipeline-spill-test-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_spill)) Directory.Delete(_spill, recursive: true);
    }

    [Fact]
    public async Task BrokerDownDuringLoad_EventsSpillAndReplay_EveryEventDeliveredOnce()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var broker = DevBrokerHost.Start(1, null, [("calls", 3)]);
        var calls = Calls(3000);
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        using var spilledMetric = new MetricCollector<long>(meters, "Pipeline.Producers", "pipeline.producer.events.spilled");
        using var replayedMetric = new MetricCollector<long>(meters, "Pipeline.Producers", "pipeline.producer.events.replayed");
        using var sentMetric = new MetricCollector<long>(meters, "Pipeline.Producers", "pipeline.producer.events.sent");
        await using (var producer = new LlmCallProducer(Options(broker), new TestLogger(), meterFactory: meters))
        {
            foreach (var c in calls.Take(1000)) Assert.True(producer.Track(c));
            Assert.Equal(0, await producer.FlushAsync(TimeSpan.FromSeconds(30), ct));

            Assert.Equal("ok", await DevBrokerControl.SendAsync(broker.ControlPort, "down all", ct));
            foreach (var c in calls.Skip(1000).Take(1000)) Assert.True(producer.Track(c));
            // Delivery times out after 3 s while the broker is down: those events go to disk.
            await WaitUntilAsync(() => producer.Spilled >= 1000, ct);
            Assert.True(producer.IsSpilling);
            foreach (var c in calls.Skip(2000)) Assert.True(producer.Track(c));
            await WaitUntilAsync(() => producer.Spilled >= 2000, ct);
            Assert.NotEmpty(Directory.GetFiles(_spill, "*.spill", SearchOption.AllDirectories));

            Assert.Equal("ok", await DevBrokerControl.SendAsync(broker.ControlPort, "up all", ct));
            Assert.Equal(0, await producer.FlushAsync(TimeSpan.FromSeconds(90), ct));
            Assert.Equal(3000, producer.Delivered);
            Assert.Equal(2000, producer.Replayed);
            Assert.Equal(0, producer.Dropped);
            // Drained is not yet live: the producer goes live once a metadata request confirms the broker answers.
            await WaitUntilAsync(() => !producer.IsSpilling, ct);
            Assert.False(producer.IsSpilling);
            // The same counts through System.Diagnostics.Metrics, as an exporter sees them.
            Assert.Equal(producer.Spilled, spilledMetric.GetMeasurementSnapshot().Sum(m => m.Value));
            Assert.Equal(2000, replayedMetric.GetMeasurementSnapshot().Sum(m => m.Value));
            Assert.Equal(3000, sentMetric.GetMeasurementSnapshot().Sum(m => m.Value));
        }
        Assert.Empty(Directory.GetFiles(_spill, "*.spill", SearchOption.AllDirectories));
        AssertTopicHoldsEachOnce(broker.Bootstrap, "calls", calls);
    }

    [Fact]
    public async Task Restart_WithNonEmptySpill_DeliversWhatThePreviousProcessLeft()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var broker = DevBrokerHost.Start(1, null, [("calls", 2)]);
        var calls = Calls(500);
        Assert.Equal("ok", await DevBrokerControl.SendAsync(broker.ControlPort, "down all", ct));
        var first = new LlmCallProducer(Options(broker) with { DrainTimeout = TimeSpan.FromSeconds(1) });
        foreach (var c in calls) Assert.True(first.Track(c));
        await first.DisposeAsync(); // the broker is still down: everything stays on disk
        Assert.Equal(0, first.Delivered);
        Assert.Equal(500, first.Spilled);
        Assert.NotEmpty(Directory.GetFiles(_spill, "*.spill", SearchOption.AllDirectories));

        Assert.Equal("ok", await DevBrokerControl.SendAsync(broker.ControlPort, "up all", ct));
        await using (var second = new LlmCallProducer(Options(broker)))
        {
            Assert.True(second.IsSpilling); // what is on disk goes first
            Assert.Equal(0, await second.FlushAsync(TimeSpan.FromSeconds(60), ct));
            Assert.Equal(500, second.Replayed);
        }
        Assert.Empty(Directory.GetFiles(_spill, "*.spill", SearchOption.AllDirectories));
        AssertTopicHoldsEachOnce(broker.Bootstrap, "calls", calls);
    }

    [Fact]
    public async Task BrokerDown_QueueFull_TrackNeverWaitsAndNothingIsLost()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var broker = DevBrokerHost.Start(1, null, [("calls", 1)]);
        Assert.Equal("ok", await DevBrokerControl.SendAsync(broker.ControlPort, "down all", ct));
        var calls = Calls(20_000);
        // A tiny queue the sender cannot keep empty: callers overflow to disk themselves instead of waiting.
        var options = Options(broker) with { QueueCapacity = 8 };
        var log = new TestLogger();
        await using (var producer = new LlmCallProducer(options, log))
        {
            foreach (var c in calls) Assert.True(producer.Track(c));
            Assert.Equal(20_000, producer.Accepted);
            Assert.Equal(0, producer.Dropped);
            Assert.Equal("ok", await DevBrokerControl.SendAsync(broker.ControlPort, "up all", ct));
            Assert.Equal(0, await producer.FlushAsync(TimeSpan.FromSeconds(90), ct));
            Assert.True(producer.Delivered == 20_000, $"delivered {producer.Delivered}, failed {producer.Failed}, dropped {producer.Dropped}, spilled {producer.Spilled}, replayed {producer.Replayed}, on disk {producer.SpilledOnDisk}; {string.Join(" | ", log.Errors)}");
        }
        AssertTopicHoldsEachOnce(broker.Bootstrap, "calls", calls);
    }

    /// <summary>
    /// A broker answering a produce request with an error librdkafka's idempotent producer cannot recover from
    /// makes the librdkafka instance unusable (a fatal error). That used to count every later event as refused
    /// for good, and the replay deleted them from the spill: they must instead be spilled, the instance
    /// replaced, and every event delivered.
    /// </summary>
    [Theory]
    [InlineData(45)] // OUT_OF_ORDER_SEQUENCE_NUMBER
    [InlineData(59)] // UNKNOWN_PRODUCER_ID
    public async Task FatalProducerError_InstanceReplaced_NothingRefusedOrLost(int errorCode)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var broker = DevBrokerHost.Start(1, null, [("calls", 1)]);
        var calls = Calls(3000);
        var log = new TestLogger();
        await using (var producer = new LlmCallProducer(Options(broker), log))
        {
            foreach (var c in calls.Take(1000)) Assert.True(producer.Track(c));
            Assert.Equal(0, await producer.FlushAsync(TimeSpan.FromSeconds(30), ct));
            Assert.Equal("ok", await DevBrokerControl.SendAsync(broker.ControlPort, $"errors 0 3 {errorCode}", ct));
            foreach (var c in calls.Skip(1000)) Assert.True(producer.Track(c));
            Assert.Equal(0, await producer.FlushAsync(TimeSpan.FromSeconds(90), ct));
            Assert.True(producer.Failed == 0 && producer.Delivered == 3000,
                $"delivered {producer.Delivered}, failed {producer.Failed}, spilled {producer.Spilled}; errors: {string.Join(" | ", log.Errors)}");
        }
        TestContext.Current.SendDiagnosticMessage($"error {errorCode}: {string.Join(" | ", log.Errors)}");
        AssertTopicHoldsEachOnce(broker.Bootstrap, "calls", calls);
    }

    [Fact]
    public async Task SpillCapReached_ExtraEventsAreDroppedAndCounted()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var broker = DevBrokerHost.Start(1, null, [("calls", 1)]);
        Assert.Equal("ok", await DevBrokerControl.SendAsync(broker.ControlPort, "down all", ct));
        var calls = Calls(400);
        var options = Options(broker) with { QueueCapacity = 1, SpillSegmentBytes = 8192, SpillMaxBytes = 16384, DrainTimeout = TimeSpan.Zero };
        var producer = new LlmCallProducer(options);
        foreach (var c in calls) producer.Track(c);
        await WaitUntilAsync(() => producer.Spilled + producer.Dropped + producer.Delivered >= 400, ct);
        Assert.True(producer.Dropped > 0, "nothing was dropped although the spill is far too small");
        Assert.True(producer.Spilled > 0, "nothing was spilled");
        Assert.Equal(400, producer.Spilled + producer.Dropped);
        await producer.DisposeAsync();
        Assert.True(Directory.GetFiles(_spill, "*.spill", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) <= 16384);
    }

    private ProducerOptions Options(DevBrokerHost broker) => new()
    {
        BootstrapServers = broker.Bootstrap,
        Topic = "calls",
        SpillDirectory = _spill,
        DeliveryTimeout = TimeSpan.FromSeconds(3),
        Kafka = new() { ["log_level"] = "0" },
    };

    private static List<LlmCall> Calls(int n)
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds());
        return Enumerable.Range(0, n).Select(i => Samples.FullCall(now.AddMilliseconds(i)) with
        {
            EventId = Guid.NewGuid(),
            PromptName = "p" + (i % 7),
        }).ToList();
    }

    private static void AssertTopicHoldsEachOnce(string bootstrap, string topic, List<LlmCall> calls)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = bootstrap, GroupId = "check-" + Guid.NewGuid().ToString("N"), AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false, EnablePartitionEof = true,
        }).Build();
        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        var partitions = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics[0].Partitions.Count;
        consumer.Assign(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        var serializer = new LlmCallSerializer();
        var seen = new Dictionary<Guid, int>();
        var eof = new HashSet<int>();
        var deadline = TimeProvider.System.GetTimestamp();
        while (eof.Count < partitions && TimeProvider.System.GetElapsedTime(deadline) < TimeSpan.FromSeconds(60))
        {
            var r = consumer.Consume(TimeSpan.FromMilliseconds(500));
            if (r is null) continue;
            if (r.IsPartitionEOF)
            {
                eof.Add(r.Partition.Value);
                continue;
            }
            var id = serializer.Deserialize(r.Message.Value).EventId;
            seen[id] = seen.GetValueOrDefault(id) + 1;
        }
        Assert.Equal(calls.Count, seen.Count);
        Assert.All(calls, c => Assert.Equal(1, seen.GetValueOrDefault(c.EventId)));
    }

    private static async Task WaitUntilAsync(Func<bool> condition, CancellationToken ct)
    {
        for (var i = 0; i < 600 && !condition(); i++) await Task.Delay(100, ct);
        Assert.True(condition(), "condition not met within 60 s");
    }

    private sealed class TestLogger : ILogger
    {
        /// <summary>Warning and error lines, for failure messages.</summary>
        public System.Collections.Concurrent.ConcurrentQueue<string> Errors { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var line = $"{logLevel}: {formatter(state, exception)}";
            if (logLevel >= LogLevel.Warning && Errors.Count < 50) Errors.Enqueue(line);
            TestContext.Current.TestOutputHelper?.WriteLine(line);
        }
    }
}
