using Confluent.Kafka;
using Pipeline.DevServers;

namespace Pipeline.IntegrationTests;

/// <summary>The dev broker's control channel really breaks and heals the broker.</summary>
public sealed class DevBrokerTests
{
    [Fact]
    public async Task ControlChannel_DownThenUp_ProduceWaitsThenDelivers()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var host = DevBrokerHost.Start(brokers: 1, runDir: null, [("faults", 1)]);
        Assert.StartsWith("ok", await DevBrokerControl.SendAsync(host.ControlPort, "ping", ct), StringComparison.Ordinal);
        Assert.StartsWith("error", await DevBrokerControl.SendAsync(host.ControlPort, "no-such-command", ct), StringComparison.Ordinal);

        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig
        {
            BootstrapServers = host.Bootstrap, Acks = Acks.All, EnableIdempotence = true, MessageTimeoutMs = 60_000,
        }).Build();
        await producer.ProduceAsync("faults", new Message<Null, string> { Value = "before" }, ct);

        Assert.Equal("ok", await DevBrokerControl.SendAsync(host.ControlPort, "down all", ct));
        var pending = producer.ProduceAsync("faults", new Message<Null, string> { Value = "during" }, ct);
        await Task.Delay(1500, ct);
        Assert.False(pending.IsCompleted, "a produce completed while the broker was down");

        Assert.Equal("ok", await DevBrokerControl.SendAsync(host.ControlPort, "up all", ct));
        var delivered = await pending.WaitAsync(TimeSpan.FromSeconds(30), ct);
        Assert.Equal(PersistenceStatus.Persisted, delivered.Status);
        Assert.Equal(1, delivered.Offset.Value);
    }

    [Fact]
    public async Task ControlChannel_PushedProduceErrors_AreRetriedByIdempotentProducer()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var host = DevBrokerHost.Start(brokers: 1, runDir: null, [("errors", 1)]);
        // Produce (API key 0) fails twice with NOT_ENOUGH_REPLICAS (19), a retriable error.
        Assert.Equal("ok", await DevBrokerControl.SendAsync(host.ControlPort, "errors 0 2 19", ct));
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = host.Bootstrap, Acks = Acks.All, EnableIdempotence = true }).Build();
        var result = await producer.ProduceAsync("errors", new Message<Null, string> { Value = "x" }, ct);
        Assert.Equal(PersistenceStatus.Persisted, result.Status);
    }
}
