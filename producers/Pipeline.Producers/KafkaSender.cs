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
    private readonly ProducerOptions _options;
    private readonly KafkaLogRouter _logs;
    private readonly Action<Error> _onError;
    private readonly ILogger _log;
    private readonly Lock _gate = new();
    private volatile Instance _current;
    // The generation whose librdkafka instance raised a fatal error; it is replaced at the next use.
    private long _fatalGeneration = -1;

    public KafkaSender(ProducerOptions options, KafkaLogRouter logs, Action<Error> onError, ILogger log)
    {
        Topic = options.Topic;
        _options = options;
        _logs = logs;
        _onError = onError;
        _log = log;
        _current = Build(0);
    }

    public string Topic { get; }

    /// <summary>How many times a librdkafka instance was replaced after a fatal error.</summary>
    public long Rebuilds { get; private set; }

    // One librdkafka producer and the admin client on its handle.
    private sealed record Instance(long Generation, IProducer<byte[], byte[]> Producer, IAdminClient Admin) : IDisposable
    {
        public void Dispose()
        {
            Admin.Dispose();
            Producer.Dispose();
        }
    }

    private Instance Build(long generation)
    {
        var producer = new ProducerBuilder<byte[], byte[]>(Config(_options))
            .SetErrorHandler((_, e) =>
            {
                if (e.IsFatal) Interlocked.CompareExchange(ref _fatalGeneration, generation, -1);
                _onError(e);
            })
            .SetLogHandler((_, m) => _logs.Log(m))
            .Build();
        return new Instance(generation, producer, new DependentAdminClientBuilder(producer.Handle).Build());
    }

    /// <summary>
    /// The instance to use: after a fatal error (an idempotent producer whose sequence state broke, for example)
    /// librdkafka refuses everything for good, so a new one replaces it. The old one's queued and in-flight events
    /// are reported failed (not refused): the caller spills or retries them.
    /// </summary>
    private Instance Current()
    {
        var current = _current;
        if (Interlocked.Read(ref _fatalGeneration) != current.Generation) return current;
        lock (_gate)
        {
            current = _current;
            if (Interlocked.Read(ref _fatalGeneration) != current.Generation) return current;
            var next = Build(current.Generation + 1);
            _current = next;
            Interlocked.Exchange(ref _fatalGeneration, -1);
            Rebuilds++;
            LogRebuilt(_log, Rebuilds);
            // librdkafka fails every queued and in-flight event of a fatal instance (ERR__FATAL); Flush serves those
            // delivery reports, off this thread since they call back into the caller.
            _ = Task.Run(() =>
            {
                try
                {
                    current.Producer.Flush(TimeSpan.FromSeconds(10));
                }
                catch (KafkaException)
                {
                    // A fatal instance may refuse even this; what it still holds is reported on disposal.
                }
                current.Dispose();
            });
            return next;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka producer replaced after a fatal error (replacement {Count}); its unsent events are spilled and sent again")]
    private static partial void LogRebuilt(ILogger log, long count);

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
    public void Produce(Message<byte[], byte[]> message, Action<DeliveryReport<byte[], byte[]>> onDelivery) => Current().Producer.Produce(Topic, message, onDelivery);

    /// <summary>True when a broker answers a metadata request for the topic within 2 s.</summary>
    public Task<bool> BrokerAnswersAsync() => Task.Run(() =>
    {
        try
        {
            var metadata = Current().Admin.GetMetadata(Topic, TimeSpan.FromSeconds(2));
            return metadata.Brokers.Count > 0 && metadata.Topics.Any(t => !t.Error.IsError && t.Partitions.Count > 0);
        }
        catch (KafkaException)
        {
            return false;
        }
    });

    /// <summary>
    /// Errors librdkafka reports for an event that will never be accepted (retrying cannot help). A fatal
    /// error is not one of them: it breaks the producer instance, not the event, and <see cref="Current"/>
    /// replaces the instance (taking it as permanent once dropped every event after an idempotence failure).
    /// </summary>
    public static bool IsPermanent(Error error) => !error.IsFatal && error.Code is ErrorCode.MsgSizeTooLarge
        or ErrorCode.TopicAuthorizationFailed or ErrorCode.ClusterAuthorizationFailed or ErrorCode.InvalidRecord or ErrorCode.RecordListTooLarge
        or ErrorCode.Local_InvalidArg or ErrorCode.Local_BadMsg;

    /// <summary>The one line for an event Kafka refused for good (<see cref="IsPermanent"/>), from the live path and the replay alike.</summary>
    [LoggerMessage(Level = LogLevel.Error, Message = "Kafka refused an event permanently: {Code}: {Reason}")]
    public static partial void LogRefused(ILogger log, ErrorCode code, string reason);

    public void Dispose() => _current.Dispose();
}
