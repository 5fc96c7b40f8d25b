using System.ComponentModel.DataAnnotations;
using Pipeline.Schemas;

namespace Pipeline.Producers;

/// <summary>
/// Settings of <see cref="LlmCallProducer"/>, bound from configuration section <c>Pipeline:Producer</c>
/// by <see cref="ServiceCollectionExtensions.AddPipelineProducer"/>. Every setting has a safe default
/// except <see cref="BootstrapServers"/>. Durations are read as TimeSpans by the host's binder (<c>00:00:30</c>);
/// each has an upper bound, so a value misread by orders of magnitude is refused at start-up.
/// </summary>
public sealed record ProducerOptions : IValidatableObject
{
    /// <summary>The configuration section <see cref="ServiceCollectionExtensions.AddPipelineProducer"/> binds.</summary>
    public const string Section = "Pipeline:Producer";

    /// <summary>Kafka bootstrap servers, <c>host:port[,host:port]</c>.</summary>
    public string BootstrapServers { get; set; } = "";

    /// <summary>Topic the calls go to. Default <c>llm.calls.v1</c>.</summary>
    [Required]
    public string Topic { get; set; } = SchemaCatalog.Topics.Calls;

    /// <summary>
    /// Extra librdkafka settings (security.protocol, sasl.*, ssl.*, linger.ms, ...), checked by librdkafka at
    /// start-up. In a key, <c>_</c> reads as <c>.</c> (environment variables cannot hold dots:
    /// <c>Pipeline__Producer__Kafka__linger_ms=5</c>), as in the CLI's <c>Kafka</c> section; see
    /// <see cref="LibrdkafkaKeys"/>. acks and enable.idempotence cannot be weakened here.
    /// </summary>
    public Dictionary<string, string> Kafka { get; set; } = [];

    /// <summary>Events held in memory between <c>Track</c> and the background sender, 1 to 100,000,000. Default 100,000.</summary>
    [Range(1, 100_000_000)]
    public int QueueCapacity { get; set; } = 100_000;

    /// <summary>
    /// Longest a <c>Track</c> call waits for room in a full memory queue before the event goes to the
    /// disk spill from the caller's thread, 0 to 1 minute. Zero (the default) never waits.
    /// </summary>
    [DurationRange("0", "1m")]
    public TimeSpan MaxBlock { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// Folder of the disk spill. Set it to a folder that survives restarts for events to survive them
    /// too; when empty, a private temporary folder is used and removed when the producer is disposed empty.
    /// </summary>
    public string? SpillDirectory { get; set; }

    /// <summary>Most bytes the spill holds, at least <see cref="SpillSegmentBytes"/>; past it events are dropped, counted and logged. Default 1 GiB.</summary>
    public long SpillMaxBytes { get; set; } = 1L << 30;

    /// <summary>Size at which a spill segment is closed and a new one started, 4 KiB to 1 GiB. Default 16 MiB.</summary>
    [Range(4096L, 1L << 30)]
    public long SpillSegmentBytes { get; set; } = 16L << 20;

    /// <summary>How long librdkafka keeps trying an event before handing it back to the spill, 1 s to 1 day. Default 30 s.</summary>
    [DurationRange("1s", "1d")]
    public TimeSpan DeliveryTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long <c>DisposeAsync</c> tries to deliver what is left, 0 to 1 hour; the rest stays in the spill. Default 10 s.</summary>
    [DurationRange("0", "1h")]
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Environment used when a tracked call has none.</summary>
    public string? DefaultEnvironment { get; set; }

    /// <summary>Service used when a tracked call has none.</summary>
    public string? DefaultService { get; set; }

    /// <summary>Longest name kept (prompt, model, tag values, ...), 1 to 256; longer ones are truncated. Default 256.</summary>
    [Range(1, LlmCallValidator.MaxNameLength)]
    public int MaxNameLength { get; set; } = LlmCallValidator.MaxNameLength;

    /// <summary>Longest error message kept, 0 to 1024; longer ones are truncated. Default 1024.</summary>
    [Range(0, LlmCallValidator.MaxErrorMessageLength)]
    public int MaxErrorMessageLength { get; set; } = LlmCallValidator.MaxErrorMessageLength;

    /// <summary>Most tags kept on one event (first by key order), 0 to 64. Default 64.</summary>
    [Range(0, LlmCallValidator.MaxMapEntries)]
    public int MaxTags { get; set; } = LlmCallValidator.MaxMapEntries;

    /// <summary>Head sampling (off by default): a rate per prompt, errors and slow calls always kept. See <see cref="SamplingOptions"/>.</summary>
    public SamplingOptions Sampling { get; set; } = new();

    /// <summary>
    /// Repeated librdkafka log lines (a broker that is down is reported several times a second) are let through
    /// at most once per this interval, 0 (every line) to 1 hour. Default 30 s.
    /// </summary>
    [DurationRange("0", "1h")]
    public TimeSpan LogRepeatInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Confluent Schema Registry URL. When set, the schema is registered under <c>{Topic}-value</c> at
    /// start-up and its id is written in every event; otherwise the catalogue id in <c>schemas/</c> is used.
    /// </summary>
    public string? SchemaRegistryUrl { get; set; }

    /// <summary>
    /// Every problem with these settings as <c>Key: reason</c>, joined by <c>; </c> (the caller prefixes the
    /// section), or null when there is none.
    /// </summary>
    public string? Validate() => SettingsValidator.Validate(this, "") is { Count: > 0 } problems ? string.Join("; ", problems) : null;

    /// <inheritdoc />
    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        var kafkaBootstrap = Kafka.FirstOrDefault(kv => LibrdkafkaKeys.Normalize(kv.Key) == "bootstrap.servers");
        if (string.IsNullOrWhiteSpace(BootstrapServers) && kafkaBootstrap.Key is null)
        {
            yield return new("required (host:port of a Kafka broker)", [nameof(BootstrapServers)]);
        }
        else if (!string.IsNullOrWhiteSpace(BootstrapServers) && kafkaBootstrap.Key is not null && kafkaBootstrap.Value != BootstrapServers)
        {
            yield return new($"'{kafkaBootstrap.Value}' contradicts BootstrapServers '{BootstrapServers}': set one of them", [$"Kafka:{kafkaBootstrap.Key}"]);
        }
        var servers = string.IsNullOrWhiteSpace(BootstrapServers) ? kafkaBootstrap.Value : BootstrapServers;
        foreach (var server in (servers ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            // host:port with a port librdkafka can use; "kafka1:notaport" would silently become port 0.
            var colon = server.LastIndexOf(':');
            var port = colon > 0 ? server[(colon + 1)..] : "";
            var scheme = server.IndexOf("://", StringComparison.Ordinal);
            if (colon <= 0 || !int.TryParse(port, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var p) || p is < 1 or > 65535
                || colon == scheme)
            {
                yield return new($"'{server}' is not host:port (a port from 1 to 65535)", [string.IsNullOrWhiteSpace(BootstrapServers) ? $"Kafka:{kafkaBootstrap.Key}" : nameof(BootstrapServers)]);
            }
        }
        if (SpillMaxBytes < SpillSegmentBytes)
        {
            yield return new($"{SpillMaxBytes} must be at least SpillSegmentBytes ({SpillSegmentBytes})", [nameof(SpillMaxBytes)]);
        }
        var kafkaProblems = false;
        foreach (var group in Kafka.Keys.GroupBy(LibrdkafkaKeys.Normalize, StringComparer.Ordinal))
        {
            if (group.Count() > 1)
            {
                kafkaProblems = true;
                yield return new($"set more than once ({string.Join(", ", group)}): '_' reads as '.'", [$"Kafka:{group.First()}"]);
            }
            if (group.Key is "acks" or "enable.idempotence" or "request.required.acks")
            {
                kafkaProblems = true;
                yield return new("cannot be set; the SDK always uses acks=all with idempotence", [$"Kafka:{group.First()}"]);
            }
        }
        // librdkafka judges its own keys and values (an unknown key, a value out of range), without connecting.
        if (!kafkaProblems && KafkaSender.Check(this) is { } kafka)
        {
            var colon = kafka.IndexOf(": ", StringComparison.Ordinal);
            yield return new(kafka[(colon + 2)..], [kafka[..colon]]);
        }
        if (SchemaRegistryUrl is { Length: > 0 } url && !Uri.TryCreate(url, UriKind.Absolute, out _))
        {
            yield return new($"'{SecretMask.MaskText(url)}' is not an absolute URL", [nameof(SchemaRegistryUrl)]);
        }
    }
}
