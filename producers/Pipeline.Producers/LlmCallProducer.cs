using Confluent.Kafka;
using Pipeline.Schemas;

namespace Pipeline.Producers;

/// <summary>
/// Publishes <see cref="LlmCall"/> events to <c>llm.calls.v1</c>, keyed by series so each series
/// stays in one partition. <see cref="Track"/> never blocks on the network and never throws for
/// delivery problems: librdkafka queues, batches and retries (acks=all, idempotence on).
/// </summary>
public sealed class LlmCallProducer : IDisposable
{
    private readonly IProducer<byte[], byte[]> _producer;
    private readonly LlmCallSerializer _serializer = new();
    private readonly string _topic;
    private long _delivered;
    private long _failed;
    private long _rejected;

    /// <summary>Creates a producer from librdkafka settings (at least <c>bootstrap.servers</c>).</summary>
    public LlmCallProducer(IEnumerable<KeyValuePair<string, string>> kafkaSettings, string topic = SchemaCatalog.Topics.Calls)
    {
        ArgumentNullException.ThrowIfNull(kafkaSettings);
        var config = new ProducerConfig
        {
            Acks = Acks.All,
            EnableIdempotence = true,
            LingerMs = 20,
            CompressionType = CompressionType.Lz4,
            // Hold events through broker outages rather than expiring them after the default 5 minutes.
            MessageTimeoutMs = 0,
        };
        foreach (var (k, v) in kafkaSettings)
        {
            config.Set(k, v);
        }
        _topic = topic;
        _producer = new ProducerBuilder<byte[], byte[]>(config).Build();
    }

    /// <summary>Events the broker acknowledged.</summary>
    public long Delivered => Interlocked.Read(ref _delivered);
    /// <summary>Events the broker permanently refused.</summary>
    public long Failed => Interlocked.Read(ref _failed);
    /// <summary>Events that could not be queued (invalid or local queue full).</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>Queues one event for delivery; returns false when it could not be queued.</summary>
    public bool Track(LlmCall call)
    {
        ArgumentNullException.ThrowIfNull(call);
        try
        {
            var message = new Message<byte[], byte[]>
            {
                Key = SeriesKey.Of(call).ToKafkaKey(),
                Value = _serializer.Serialize(call),
                Timestamp = new Timestamp(call.OccurredAt),
            };
            _producer.Produce(_topic, message, OnDelivery);
            return true;
        }
        catch (Exception ex) when (ex is ProduceException<byte[], byte[]> or KafkaException or ArgumentException or InvalidOperationException)
        {
            Interlocked.Increment(ref _rejected);
            return false;
        }
    }

    /// <summary>Waits until queued events are delivered; returns how many are still in flight.</summary>
    public int Flush(TimeSpan timeout) => _producer.Flush(timeout);

    /// <inheritdoc />
    public void Dispose()
    {
        _producer.Flush(TimeSpan.FromSeconds(10));
        _producer.Dispose();
    }

    private void OnDelivery(DeliveryReport<byte[], byte[]> report)
    {
        if (report.Error.IsError)
        {
            Interlocked.Increment(ref _failed);
        }
        else
        {
            Interlocked.Increment(ref _delivered);
        }
    }
}
