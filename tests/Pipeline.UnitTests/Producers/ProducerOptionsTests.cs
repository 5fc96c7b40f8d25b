using Pipeline.Producers;

namespace Pipeline.UnitTests.Producers;

public sealed class ProducerOptionsTests
{
    [Fact]
    public void Validate_Defaults_OnlyBootstrapServersMissing()
    {
        Assert.StartsWith("BootstrapServers:", new ProducerOptions().Validate(), StringComparison.Ordinal);
        Assert.Null(new ProducerOptions { BootstrapServers = "k:9092" }.Validate());
    }

    [Fact]
    public void Validate_SeveralProblems_ReportsEveryOne()
    {
        var problem = new ProducerOptions
        {
            BootstrapServers = "k:9092", QueueCapacity = 0, DeliveryTimeout = TimeSpan.FromDays(48), DrainTimeout = TimeSpan.FromSeconds(-1),
            Kafka = new() { ["acks"] = "1" },
        }.Validate();
        Assert.NotNull(problem);
        foreach (var key in new[] { "QueueCapacity:", "DeliveryTimeout:", "DrainTimeout:", "Kafka:acks:" })
        {
            Assert.Contains(key, problem, StringComparison.Ordinal);
        }
    }
}
