using Confluent.Kafka;
using Pipeline.Schemas;

namespace Pipeline.IntegrationTests;

/// <summary>Reads every alert record on partition 0 of an alert topic, stopping after 2 s without a new one.</summary>
internal static class AlertTopic
{
    public static List<Alert> ReadAll(ServersFixture servers, string topic, CancellationToken ct)
    {
        var serializer = new AlertSerializer();
        using var consumer = new ConsumerBuilder<byte[]?, byte[]>(servers.Kafka.Consumer("read-" + Guid.NewGuid().ToString("N"))).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var list = new List<Alert>();
        for (var idle = 0; idle < 10 && !ct.IsCancellationRequested;)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false, Message: { } m })
            {
                list.Add(serializer.Deserialize(m.Value));
                idle = 0;
            }
            else
            {
                idle++;
            }
        }
        return list;
    }
}
