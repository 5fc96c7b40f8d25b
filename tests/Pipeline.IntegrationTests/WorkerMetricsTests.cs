using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Consumers;

namespace Pipeline.IntegrationTests;

/// <summary>
/// Worker meters come from <c>IMeterFactory</c>, one set per worker tagged <c>pipeline.instance</c>: two workers in
/// one process report their own gauge values; and `pipeline aggregate` pushes them over OTLP/HTTP when configured.
/// </summary>
public sealed class WorkerMetricsTests(ServersFixture servers)
{
    [Fact]
    public async Task TwoAggregatorsInOneProcess_ReportSeparateWatermarkGauges()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var now = TimeProvider.System.GetUtcNow();
        // Worker a reads events that end 5 minutes ago, worker b events that end an hour ago: their watermarks differ by 55 minutes.
        var recent = AggregationScenario.Create(100, now.AddMinutes(-5), minutes: 2, seed: 31);
        var old = AggregationScenario.Create(100, now.AddMinutes(-60), minutes: 2, seed: 32);
        var topicA = await servers.NewTopicAsync("calls", 1, ct);
        var topicB = await servers.NewTopicAsync("calls", 1, ct);
        await AggregationScenario.ProduceAsync(servers, topicA, recent.Events, ct);
        await AggregationScenario.ProduceAsync(servers, topicB, old.Events, ct);

        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var metricsA = new AggregatorMetrics(factory, "worker-a");
        using var metricsB = new AggregatorMetrics(factory, "worker-b");
        using var workerA = new AggregatorWorker(servers.Kafka, clickHouse, await OptionsAsync(topicA, ct), TimeProvider.System, NullLogger.Instance, metrics: metricsA);
        using var workerB = new AggregatorWorker(servers.Kafka, clickHouse, await OptionsAsync(topicB, ct), TimeProvider.System, NullLogger.Instance, metrics: metricsB);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var runs = new[] { workerA, workerB }
            .Select(w => Task.Factory.StartNew(() => w.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap()).ToList();

        var gauges = new ConcurrentDictionary<(string Name, string Instance), double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Scope == factory && instrument.Name.StartsWith("pipeline.aggregator.", StringComparison.Ordinal)) l.EnableMeasurementEvents(instrument);
        };
        void Note(Instrument i, double v, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var tag in tags)
            {
                if (tag.Key == WorkerInstance.TagName) gauges[(i.Name, (string)tag.Value!)] = v;
            }
        }
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Note(i, v, t));
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Note(i, v, t));
        listener.Start();
        try
        {
            var deadline = TimeProvider.System.GetUtcNow().AddSeconds(60);
            while (workerA.EventsWritten < recent.Events.Count || workerB.EventsWritten < old.Events.Count
                || !gauges.ContainsKey(("pipeline.aggregator.watermark.delay", "worker-a")) || !gauges.ContainsKey(("pipeline.aggregator.watermark.delay", "worker-b"))
                || gauges[("pipeline.aggregator.watermark.delay", "worker-a")] == 0 || gauges[("pipeline.aggregator.watermark.delay", "worker-b")] == 0)
            {
                Assert.True(TimeProvider.System.GetUtcNow() < deadline, $"the workers did not report: {string.Join(", ", gauges)}");
                Assert.DoesNotContain(runs, r => r.IsCompleted);
                await Task.Delay(200, ct);
                listener.RecordObservableInstruments();
            }
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(runs);
        }
        // Watermark = newest event minus one minute of allowed lateness: about 6 and 61 minutes behind the clock.
        var delayA = gauges[("pipeline.aggregator.watermark.delay", "worker-a")];
        var delayB = gauges[("pipeline.aggregator.watermark.delay", "worker-b")];
        Assert.InRange(delayA, 5.5 * 60, 8 * 60);
        Assert.InRange(delayB, 60.5 * 60, 63 * 60);
        Assert.True(gauges.ContainsKey(("pipeline.aggregator.consumer.lag", "worker-a")) && gauges.ContainsKey(("pipeline.aggregator.consumer.lag", "worker-b")));
    }

    [Fact]
    public async Task Aggregate_WithOtlpEndpoint_PushesNamedMetricsOverOtlpHttp()
    {
        var ct = TestContext.Current.CancellationToken;
        var received = new ConcurrentQueue<(string Path, string ContentType, byte[] Body)>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        await using var receiver = builder.Build();
        // A minimal OTLP/HTTP receiver: the collector's metrics route, answering an empty ExportMetricsServiceResponse.
        receiver.Map("/{**path}", async (HttpContext http) =>
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body, ct);
            received.Enqueue((http.Request.Path.Value ?? "", http.Request.ContentType ?? "", body.ToArray()));
            return Results.Bytes([], "application/x-protobuf");
        });
        await receiver.StartAsync(ct);
        var address = receiver.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 1, ct);
        var scenario = AggregationScenario.Create(100, TimeProvider.System.GetUtcNow().AddMinutes(-3), minutes: 2, seed: 33);
        await AggregationScenario.ProduceAsync(servers, topic, scenario.Events, ct);
        var home = Directory.CreateTempSubdirectory("pipeline-otlp-").FullName;
        using var worker = PipelineProcess.Start(
        [
            "aggregate",
            "--set", $"ClickHouse:Url={servers.ClickHouse.Url}", "--set", $"ClickHouse:User={servers.ClickHouse.User}",
            "--set", $"ClickHouse:Password={servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={clickHouse.Options.Database}",
            "--set", $"Kafka:bootstrap.servers={servers.Bootstrap}", "--set", $"Aggregator:Topic={topic}", "--set", $"Aggregator:GroupId=g-{topic}",
            "--set", $"Aggregator:MetricsTopic={await servers.NewTopicAsync("metrics", 1, ct)}", "--set", $"Aggregator:DeadLetterTopic={await servers.NewTopicAsync("dlq", 1, ct)}",
            "--set", "Aggregator:FlushInterval=200ms",
            "--set", $"Metrics:OtlpEndpoint={address}/", "--set", "Metrics:OtlpProtocol=http/protobuf", "--set", "Metrics:OtlpExportInterval=500ms",
            "--set", "Metrics:Instance=otlp-agg-1",
        ], home);
        string[] expected =
        [
            "pipeline.aggregator.events", "pipeline.aggregator.batch.size", "pipeline.aggregator.flush.duration",
            "pipeline.aggregator.consumer.lag", "pipeline.aggregator.watermark.delay", WorkerInstance.TagName, "otlp-agg-1", "pipeline-aggregate",
        ];
        try
        {
            var deadline = TimeProvider.System.GetUtcNow().AddSeconds(60);
            while (!expected.All(name => received.Any(r => Contains(r.Body, name))))
            {
                Assert.True(TimeProvider.System.GetUtcNow() < deadline,
                    $"missing over OTLP after 60 s: {string.Join(", ", expected.Where(name => !received.Any(r => Contains(r.Body, name))))} ({received.Count} posts)");
                Assert.False(worker.HasExited, "the worker exited");
                await Task.Delay(200, ct);
            }
        }
        finally
        {
            PipelineProcess.Kill9(worker);
            Directory.Delete(home, recursive: true);
        }
        Assert.All(received, r =>
        {
            Assert.Equal("/v1/metrics", r.Path);
            Assert.Equal("application/x-protobuf", r.ContentType);
        });
    }

    private async Task<AggregatorOptions> OptionsAsync(string topic, CancellationToken ct) => new()
    {
        Topic = topic, GroupId = "g-" + topic, MetricsTopic = await servers.NewTopicAsync("metrics", 1, ct),
        DeadLetterTopic = await servers.NewTopicAsync("dlq", 1, ct), FlushInterval = TimeSpan.FromMilliseconds(200),
        // Partitions never follow the clock here, so each watermark stays where its events put it.
        Windowing = new() { IdleTimeout = TimeSpan.FromDays(1) },
    };

    private static bool Contains(byte[] body, string text) => body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;
}
