using Pipeline.Producers;

namespace Pipeline.Ingest;

/// <summary>The SDK settings the receiver publishes with.</summary>
internal static class IngestProducer
{
    /// <summary>
    /// acks=all and idempotence come with the SDK whatever the settings say; the spill is the receiver's own folder,
    /// so spans accepted while Kafka is away are on disk until it answers, across restarts too.
    /// </summary>
    public static ProducerOptions Options(IngestOptions options, IReadOnlyDictionary<string, string> kafka, string topic, string defaultSpill) => new()
    {
        Topic = topic,
        Kafka = kafka.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal),
        SpillDirectory = options.SpillDirectory.Length > 0 ? options.SpillDirectory : defaultSpill,
        DefaultEnvironment = options.Mapping.DefaultEnvironment,
        DefaultService = "unknown_service",
    };
}
