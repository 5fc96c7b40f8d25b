using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Consumers;
using Pipeline.Producers;
using Pipeline.Tests;
using Testcontainers.Kafka;

namespace Pipeline.IntegrationTests;

/// <summary>
/// The walking skeleton on real Apache Kafka through Testcontainers. Runs wherever a Docker engine is
/// reachable; elsewhere it is reported as skipped with the reason.
/// </summary>
public sealed class RealKafkaTests(ServersFixture servers)
{
    [Fact]
    public async Task OneEvent_OnRealKafka_LandsInClickHouse()
    {
        var ct = TestContext.Current.CancellationToken;
        var docker = Environment.GetEnvironmentVariable("DOCKER_HOST");
        if (string.IsNullOrEmpty(docker) && !File.Exists("/var/run/docker.sock"))
        {
            Assert.Skip("no Docker engine reachable (no DOCKER_HOST, no /var/run/docker.sock): real-Kafka tests need Testcontainers");
        }
        await using var kafka = new KafkaBuilder("confluentinc/cp-kafka:7.6.1").Build();
        await kafka.StartAsync(ct);
        var settings = new KafkaSettings([new("bootstrap.servers", kafka.GetBootstrapAddress()), new("session.timeout.ms", "6000")]);

        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var call = Samples.FullCall(TimeProvider.System.GetUtcNow()) with { EventId = Guid.NewGuid() };
        using (var producer = new LlmCallProducer(settings.All, "llm.calls.v1"))
        {
            producer.Track(call);
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
            Assert.Equal(1, producer.Delivered);
        }
        var options = new AggregatorOptions { GroupId = "aggregator", FlushInterval = TimeSpan.FromMilliseconds(100) };
        using var worker = new AggregatorWorker(settings, clickHouse, options, TimeProvider.System, NullLogger.Instance);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();
        for (var i = 0; i < 300 && await clickHouse.ScalarAsync("SELECT count() FROM calls", ct) < 1; i++)
        {
            await Task.Delay(200, ct);
        }
        await stop.CancelAsync();
        await run;
        Assert.Equal(1, await clickHouse.ScalarAsync($"SELECT count() FROM calls FINAL WHERE event_id = toUUID('{call.EventId}')", ct));
    }
}
