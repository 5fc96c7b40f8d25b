using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Consumers;
using Pipeline.DevServers;
using Pipeline.Producers;

namespace Pipeline.IntegrationTests;

/// <summary>
/// Faults during load, each reconciled exactly afterwards against the scenario's known answers (the
/// answers one worker on a healthy broker gives).
/// </summary>
public sealed class FaultTests(ServersFixture servers)
{
    [Fact]
    public async Task SecondWorkerLeavesAndRejoinsDuringLoad_WithRedeliveries_ResultsIdenticalToOneWorker()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 6, ct);
        var scenario = AggregationScenario.Create(4000, TimeProvider.System.GetUtcNow().AddMinutes(-2), minutes: 6, seed: 41);
        var ordered = scenario.Events.OrderBy(e => e.OccurredAt).ToList();
        var options = new AggregatorOptions
        {
            Topic = topic, GroupId = "g-" + topic, MetricsTopic = await servers.NewTopicAsync("metrics", 1, ct),
            DeadLetterTopic = await servers.NewTopicAsync("dlq", 1, ct), FlushInterval = TimeSpan.FromMilliseconds(200),
            Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1) },
        };
        var kafka = servers.Kafka;
        await using var a = Worker.Start(kafka, clickHouse, options, ct);
        var b = Worker.Start(kafka, clickHouse, options, ct);

        await AggregationScenario.ProduceAsync(servers, topic, ordered.Take(1000), ct);
        await WaitUntilAsync(() => a.Instance.RecordsConsumed > 0 && b.Instance.RecordsConsumed > 0, "both workers to take partitions", ct);

        await AggregationScenario.ProduceAsync(servers, topic, ordered.Skip(1000).Take(1000), ct);
        await b.DisposeAsync(); // leaves the group: writes what is closed, commits, hands its partitions over
        await AggregationScenario.ProduceAsync(servers, topic, ordered.Skip(2000).Take(1000), ct);

        await using var rejoined = Worker.Start(kafka, clickHouse, options, ct);
        // The rest, plus 300 events delivered a second time (a producer retry after a lost acknowledgement).
        await AggregationScenario.ProduceAsync(servers, topic, ordered.Skip(3000).Concat(ordered.Take(3000).Where((_, i) => i % 10 == 0)), ct);
        await WaitUntilAsync(() => rejoined.Instance.RecordsConsumed > 0, "the rejoined worker to take partitions", ct);
        await WaitForWindowsAsync(clickHouse, scenario.Events.Count, ct);

        await scenario.AssertReconciledAsync(clickHouse, ct);
    }

    [Fact]
    public async Task BrokerRequestErrorsLatencyAndDisconnects_DuringLoad_CountsStayExact()
    {
        var ct = TestContext.Current.CancellationToken;
        // A broker of its own: its faults must not touch other tests.
        await using var broker = DevBrokerHost.Start(1, null, [("calls", 3), ("metrics", 1), ("dlq", 1)]);
        var kafka = new KafkaSettings([new("bootstrap.servers", broker.Bootstrap), new("session.timeout.ms", "6000"), new("log_level", "0")]);
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var scenario = AggregationScenario.Create(3000, TimeProvider.System.GetUtcNow().AddMinutes(-2), minutes: 5, seed: 43);
        var ordered = scenario.Events.OrderBy(e => e.OccurredAt).ToList();
        var options = new AggregatorOptions
        {
            Topic = "calls", GroupId = "g", DeadLetterTopic = "dlq", MetricsTopic = "metrics",
            FlushInterval = TimeSpan.FromMilliseconds(200), Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(2) },
        };
        await using var worker = Worker.Start(kafka, clickHouse, options, ct);
        var producerOptions = new ProducerOptions { BootstrapServers = broker.Bootstrap, Topic = "calls", DeliveryTimeout = TimeSpan.FromSeconds(5), Kafka = new() { ["log_level"] = "0" } };
        await using (var producer = new LlmCallProducer(producerOptions))
        {
            async Task Control(string command) => Assert.Equal("ok", await DevBrokerControl.SendAsync(broker.ControlPort, command, ct));

            // 1. Added latency on every request.
            await Control("rtt all 250");
            foreach (var e in ordered.Take(1000)) Assert.True(producer.Track(e));
            await producer.FlushAsync(TimeSpan.FromSeconds(60), ct);
            await Control("rtt all 0");

            // 2. Retriable produce errors (NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT) and fetch errors (NOT_LEADER_OR_FOLLOWER).
            await Control("errors 0 15 19");
            await Control("errors 0 10 7");
            await Control("errors 1 10 6");
            foreach (var e in ordered.Skip(1000).Take(1000)) Assert.True(producer.Track(e));
            await producer.FlushAsync(TimeSpan.FromSeconds(60), ct);

            // 3. A forced disconnect in the middle of a burst, and 200 events tracked twice (an application retry).
            foreach (var e in ordered.Skip(2000).Take(500)) Assert.True(producer.Track(e));
            await Control("down all");
            await Task.Delay(TimeSpan.FromSeconds(2), ct);
            await Control("up all");
            foreach (var e in ordered.Skip(2500).Concat(ordered.Take(200))) Assert.True(producer.Track(e));
            Assert.Equal(0, await producer.FlushAsync(TimeSpan.FromSeconds(90), ct));
            Assert.True(producer.Delivered >= 3200, $"delivered {producer.Delivered}");
            Assert.Equal(0, producer.Dropped);
        }
        await WaitForWindowsAsync(clickHouse, scenario.Events.Count, ct);
        await scenario.AssertReconciledAsync(clickHouse, ct);
    }

    private static async Task WaitForWindowsAsync(Pipeline.ClickHouse.ClickHouseHttp clickHouse, int events, CancellationToken ct)
    {
        for (var i = 0; i < 900 && await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) < events; i++)
        {
            await Task.Delay(100, ct);
        }
        // Settle: a wrong extra revision would show up now rather than after the assertion.
        await Task.Delay(TimeSpan.FromSeconds(2), ct);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what, CancellationToken ct)
    {
        for (var i = 0; i < 600 && !condition(); i++) await Task.Delay(100, ct);
        Assert.True(condition(), $"timed out waiting for {what}");
    }

    /// <summary>An aggregator worker running in the background until disposed (a graceful stop).</summary>
    private sealed class Worker : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop;
        private readonly Task _run;
        private int _disposed;

        private Worker(AggregatorWorker instance, CancellationTokenSource stop, Task run)
        {
            Instance = instance;
            _stop = stop;
            _run = run;
        }

        public AggregatorWorker Instance { get; }

        public static Worker Start(KafkaSettings kafka, Pipeline.ClickHouse.ClickHouseHttp clickHouse, AggregatorOptions options, CancellationToken ct)
        {
            var instance = new AggregatorWorker(kafka, clickHouse, options, TimeProvider.System, NullLogger.Instance);
            var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var run = Task.Factory.StartNew(() => instance.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();
            return new Worker(instance, stop, run);
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            await _stop.CancelAsync();
            await _run;
            Instance.Dispose();
            _stop.Dispose();
        }
    }
}
