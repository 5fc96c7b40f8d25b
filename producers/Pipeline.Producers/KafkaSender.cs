using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Pipeline.Schemas;

namespace Pipeline.Producers;

/// <summary>
/// The librdkafka producer of <see cref="LlmCallProducer"/>, with its settings: the SDK's defaults (lz4,
/// 20 ms linger), the user's <see cref="ProducerOptions.Kafka"/> keys (an <c>_</c> reads as <c>.</c>, see
/// <see cref="LibrdkafkaKeys"/>), then acks=all and idempotence, which configuration cannot weaken.
/// Its log lines go through <see cref="KafkaLogRouter"/>.
/// </summary>
internal sealed partial class KafkaSender : IDisposable
{
    private readonly IProducer<byte[], byte[]> _producer;
    private readonly IAdminClient _admin;

    public KafkaSender(ProducerOptions options, KafkaLogRouter logs, Action<Error> onError)
    {
        Topic = options.Topic;
        _producer = new ProducerBuilder<byte[], byte[]>(Config(options))
            .SetErrorHandler((_, e) => onError(e))
            .SetLogHandler((_, m) => logs.Log(m))
            .Build();
        _admin = new DependentAdminClientBuilder(_producer.Handle).Build();
    }

    public string Topic { get; }

    /// <summary>The librdkafka settings the SDK runs with.</summary>
    public static ProducerConfig Config(ProducerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var config = new ProducerConfig
        {
            LingerMs = 20,
            CompressionType = CompressionType.Lz4,
            MessageTimeoutMs = (int)options.DeliveryTimeout.TotalMilliseconds,
        };
        if (!string.IsNullOrWhiteSpace(options.BootstrapServers)) config.BootstrapServers = options.BootstrapServers;
        foreach (var (k, v) in options.Kafka) config.Set(LibrdkafkaKeys.Normalize(k), v);
        // Set last: configuration may add settings but never weaken durability.
        config.Acks = Acks.All;
        config.EnableIdempotence = true;
        return config;
    }

    /// <summary>
    /// librdkafka's verdict on the <see cref="ProducerOptions.Kafka"/> keys, as <c>Kafka:key: reason</c>, or null.
    /// Builds a producer without brokers (it connects to nothing) and disposes it.
    /// </summary>
    public static string? Check(ProducerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (Probe(options) is not { } problem) return null;
        // Name the key as the user wrote it (linger_ms, not linger.ms; librdkafka may name an alias's canonical
        // key): the first key that fails on its own.
        foreach (var (key, value) in options.Kafka)
        {
            if (Probe(options with { Kafka = new() { [key] = value } }) is { } alone) return $"Kafka:{key}: {alone}";
        }
        return $"Kafka: {problem}";
    }

    private static string? Probe(ProducerOptions options)
    {
        var config = Config(options);
        config.BootstrapServers = null;
        try
        {
            using var probe = new ProducerBuilder<byte[], byte[]>(config).SetLogHandler((_, _) => { }).Build();
            return null;
        }
        catch (Exception ex) when (ex is ArgumentException or KafkaException or InvalidOperationException)
        {
            return ex.Message;
        }
    }

    /// <inheritdoc cref="IProducer{TKey, TValue}.Produce(string, Message{TKey, TValue}, Action{DeliveryReport{TKey, TValue}})"/>
    public void Produce(Message<byte[], byte[]> message, Action<DeliveryReport<byte[], byte[]>> onDelivery) => _producer.Produce(Topic, message, onDelivery);

    /// <summary>True when a broker answers a metadata request for the topic within 2 s.</summary>
    public Task<bool> BrokerAnswersAsync() => Task.Run(() =>
    {
        try
        {
            var metadata = _admin.GetMetadata(Topic, TimeSpan.FromSeconds(2));
            return metadata.Brokers.Count > 0 && metadata.Topics.Any(t => !t.Error.IsError && t.Partitions.Count > 0);
        }
        catch (KafkaException)
        {
            return false;
        }
    });

    /// <summary>Errors librdkafka reports for an event that will never be accepted (retrying cannot help).</summary>
    public static bool IsPermanent(Error error) => error.IsFatal || error.Code is ErrorCode.MsgSizeTooLarge
        or ErrorCode.TopicAuthorizationFailed or ErrorCode.ClusterAuthorizationFailed or ErrorCode.InvalidRecord or ErrorCode.RecordListTooLarge
        or ErrorCode.Local_InvalidArg or ErrorCode.Local_BadMsg;

    /// <summary>The one line for an event Kafka refused for good (<see cref="IsPermanent"/>), from the live path and the replay alike.</summary>
    [LoggerMessage(Level = LogLevel.Error, Message = "Kafka refused an event permanently: {Code}: {Reason}")]
    public static partial void LogRefused(ILogger log, ErrorCode code, string reason);

    public void Dispose()
    {
        _admin.Dispose();
        _producer.Dispose();
    }
}
