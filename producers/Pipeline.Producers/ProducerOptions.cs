using Pipeline.Schemas;

namespace Pipeline.Producers;

/// <summary>
/// Settings of <see cref="LlmCallProducer"/>, bound from configuration section <c>Pipeline:Producer</c>
/// by <see cref="ServiceCollectionExtensions.AddPipelineProducer"/>. Every setting has a safe default
/// except <see cref="BootstrapServers"/>.
/// </summary>
public sealed record ProducerOptions
{
    /// <summary>The configuration section <see cref="ServiceCollectionExtensions.AddPipelineProducer"/> binds.</summary>
    public const string Section = "Pipeline:Producer";

    /// <summary>Kafka bootstrap servers, <c>host:port[,host:port]</c>.</summary>
    public string BootstrapServers { get; set; } = "";

    /// <summary>Topic the calls go to.</summary>
    public string Topic { get; set; } = SchemaCatalog.Topics.Calls;

    /// <summary>
    /// Extra librdkafka settings passed through verbatim (security.protocol, sasl.*, ssl.*, linger.ms, ...).
    /// acks and enable.idempotence cannot be weakened here.
    /// </summary>
    public Dictionary<string, string> Kafka { get; set; } = [];

    /// <summary>Events held in memory between <c>Track</c> and the background sender.</summary>
    public int QueueCapacity { get; set; } = 100_000;

    /// <summary>
    /// Longest a <c>Track</c> call waits for room in a full memory queue before the event goes to the
    /// disk spill from the caller's thread. Zero (the default) never waits.
    /// </summary>
    public TimeSpan MaxBlock { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// Folder of the disk spill. Set it to a folder that survives restarts for events to survive them
    /// too; when empty, a private temporary folder is used and removed when the producer is disposed empty.
    /// </summary>
    public string? SpillDirectory { get; set; }

    /// <summary>Most bytes the spill holds; past it events are dropped, counted and logged.</summary>
    public long SpillMaxBytes { get; set; } = 1L << 30;

    /// <summary>Size at which a spill segment is closed and a new one started.</summary>
    public long SpillSegmentBytes { get; set; } = 16L << 20;

    /// <summary>How long librdkafka keeps trying an event before handing it back to the spill.</summary>
    public TimeSpan DeliveryTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long <c>DisposeAsync</c> tries to deliver what is left; the rest stays in the spill.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Environment used when a tracked call has none.</summary>
    public string? DefaultEnvironment { get; set; }

    /// <summary>Service used when a tracked call has none.</summary>
    public string? DefaultService { get; set; }

    /// <summary>Longest name kept (prompt, model, tag values, ...); longer ones are truncated.</summary>
    public int MaxNameLength { get; set; } = LlmCallValidator.MaxNameLength;

    /// <summary>Longest error message kept; longer ones are truncated.</summary>
    public int MaxErrorMessageLength { get; set; } = LlmCallValidator.MaxErrorMessageLength;

    /// <summary>Most tags kept on one event (first by key order).</summary>
    public int MaxTags { get; set; } = LlmCallValidator.MaxMapEntries;

    /// <summary>
    /// Confluent Schema Registry URL. When set, the schema is registered under <c>{Topic}-value</c> at
    /// start-up and its id is written in every event; otherwise the catalogue id in <c>schemas/</c> is used.
    /// </summary>
    public string? SchemaRegistryUrl { get; set; }

    /// <summary>Returns the first problem with these settings as <c>Key: reason</c>, or null.</summary>
    public string? Validate()
    {
        if (string.IsNullOrWhiteSpace(BootstrapServers) && !Kafka.ContainsKey("bootstrap.servers")) return "BootstrapServers: required (host:port of a Kafka broker)";
        if (string.IsNullOrWhiteSpace(Topic)) return "Topic: required";
        if (QueueCapacity < 1) return $"QueueCapacity: {QueueCapacity} must be at least 1";
        if (MaxBlock < TimeSpan.Zero || MaxBlock > TimeSpan.FromMinutes(1)) return $"MaxBlock: {MaxBlock} must be between 0 and 1 minute";
        if (SpillSegmentBytes < 4096) return $"SpillSegmentBytes: {SpillSegmentBytes} must be at least 4096";
        if (SpillMaxBytes < SpillSegmentBytes) return $"SpillMaxBytes: {SpillMaxBytes} must be at least SpillSegmentBytes ({SpillSegmentBytes})";
        if (DeliveryTimeout < TimeSpan.FromSeconds(1)) return $"DeliveryTimeout: {DeliveryTimeout} must be at least 1 second";
        if (DrainTimeout < TimeSpan.Zero) return $"DrainTimeout: {DrainTimeout} must not be negative";
        if (MaxNameLength is < 1 or > LlmCallValidator.MaxNameLength) return $"MaxNameLength: {MaxNameLength} must be between 1 and {LlmCallValidator.MaxNameLength}";
        if (MaxErrorMessageLength is < 0 or > LlmCallValidator.MaxErrorMessageLength) return $"MaxErrorMessageLength: {MaxErrorMessageLength} must be between 0 and {LlmCallValidator.MaxErrorMessageLength}";
        if (MaxTags is < 0 or > LlmCallValidator.MaxMapEntries) return $"MaxTags: {MaxTags} must be between 0 and {LlmCallValidator.MaxMapEntries}";
        foreach (var key in new[] { "acks", "enable.idempotence" })
        {
            if (Kafka.ContainsKey(key)) return $"Kafka:{key}: cannot be set; the SDK always uses acks=all with idempotence";
        }
        if (SchemaRegistryUrl is { Length: > 0 } url && !Uri.TryCreate(url, UriKind.Absolute, out _)) return $"SchemaRegistryUrl: '{url}' is not an absolute URL";
        return null;
    }
}
