using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pipeline.Consumers;
using Pipeline.Producers;
using Pipeline.Tests;

namespace Pipeline.IntegrationTests;

/// <summary>The SDK started by a host, as a service team runs it, against the real broker and ClickHouse.</summary>
public sealed class ProducerHostTests(ServersFixture servers) : IDisposable
{
    private readonly string _spill = Path.Combine(Path.GetTempPath(), "pipeline-host-test-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_spill)) Directory.Delete(_spill, recursive: true);
    }

    [Fact]
    public async Task Restart_WithALeftoverSpill_ReplaysWithoutAnyRequest_ExactlyOnceInCallsFinal()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 3, ct);
        var prompt = "leftover_" + Guid.NewGuid().ToString("N")[..8];
        var now = TimeProvider.System.GetUtcNow();
        var calls = Enumerable.Range(0, 300).Select(i => Samples.MinimalCall() with
        {
            EventId = Guid.NewGuid(), OccurredAt = now.AddMilliseconds(-i * 10), PromptName = prompt, PromptVersion = "v" + (i % 3),
        }).ToList();

        // The first process runs while its broker address answers nothing, and stops: everything stays on disk.
        using (var first = Host("127.0.0.1:1", topic))
        {
            await first.StartAsync(ct);
            var tracker = first.Services.GetRequiredService<ILlmCallTracker>();
            foreach (var c in calls) Assert.True(tracker.Track(c));
            await first.StopAsync(ct);
        }
        Assert.Equal(300, Directory.GetFiles(_spill, "*.spill", SearchOption.AllDirectories).Sum(f => SpillStore.Read(f).Records.Count));

        // The next process starts with the broker reachable and is never called: the start alone sends the leftover.
        using var second = Host(servers.Bootstrap, topic);
        await second.StartAsync(ct);
        var producer = second.Services.GetRequiredService<LlmCallProducer>();
        Assert.Equal(0, await producer.FlushAsync(TimeSpan.FromSeconds(60), ct));
        Assert.Equal(300, producer.Replayed);
        await second.StopAsync(ct);
        Assert.Empty(Directory.GetFiles(_spill, "*.spill", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetDirectories(_spill)); // the stopped process's folder is removed once sent, and the second's own on stop

        var options = new AggregatorOptions { Topic = topic, GroupId = "g-" + topic, FlushInterval = TimeSpan.FromMilliseconds(100) };
        using var worker = await WorkerHarness.RunUntilAsync(servers, clickHouse, options,
            async () => await clickHouse.ScalarAsync("SELECT count() FROM calls", ct) >= 300, TimeSpan.FromSeconds(60), ct);
        Assert.Equal(300, await clickHouse.ScalarAsync($"SELECT count() FROM calls FINAL WHERE prompt_name = '{prompt}'", ct));
        Assert.Equal(300, await clickHouse.ScalarAsync($"SELECT uniqExact(event_id) FROM calls WHERE prompt_name = '{prompt}'", ct));
    }

    private IHost Host(string bootstrap, string topic)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Pipeline:Producer:BootstrapServers"] = bootstrap,
            ["Pipeline:Producer:Topic"] = topic,
            ["Pipeline:Producer:SpillDirectory"] = _spill,
            ["Pipeline:Producer:DeliveryTimeout"] = "00:00:02",
            ["Pipeline:Producer:DrainTimeout"] = "00:00:02",
            ["Pipeline:Producer:Kafka:log_level"] = "0",
        });
        builder.Services.AddPipelineProducer(builder.Configuration);
        return builder.Build();
    }
}
