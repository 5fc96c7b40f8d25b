using System.ComponentModel.DataAnnotations;
using Pipeline.Aggregation;
using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>Settings of the aggregator worker (<c>pipeline aggregate</c>). Section <c>Aggregator</c>.</summary>
public sealed class AggregatorOptions : IValidatableObject
{
    /// <summary>Topic to read. Default <c>llm.calls.v1</c>.</summary>
    [Required]
    public string Topic { get; set; } = SchemaCatalog.Topics.Calls;
    /// <summary>Dead-letter topic. Default <c>llm.calls.dlq.v1</c>.</summary>
    [Required]
    public string DeadLetterTopic { get; set; } = SchemaCatalog.Topics.CallsDeadLetter;
    /// <summary>Where closed windows are published. Default <c>llm.metrics.1m.v1</c>.</summary>
    [Required]
    public string MetricsTopic { get; set; } = SchemaCatalog.Topics.Metrics1m;
    /// <summary>Consumer group. Default <c>aggregator</c>.</summary>
    [Required]
    public string GroupId { get; set; } = "aggregator";
    /// <summary>Rows per ClickHouse insert at most, 1 to 10,000,000. Default 100,000 (18.16 inserts fastest at this size).</summary>
    [Range(1, 10_000_000)]
    public int MaxBatchRows { get; set; } = 100_000;
    /// <summary>Longest a row waits before its batch is written, 1 ms to 10 minutes. Default 1 s.</summary>
    [DurationRange("1ms", "10m")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>
    /// Events older than this (by event time) go to the DLQ, 1 minute to 3650 days (zero or negative would
    /// dead-letter every event). Default 30 days.
    /// </summary>
    [DurationRange("1m", "3650d")]
    public TimeSpan MaxEventAge { get; set; } = TimeSpan.FromDays(30);
    /// <summary>
    /// Events further in the future than this go to the DLQ, 1 s to 1 day (zero would dead-letter every
    /// event from a producer whose clock is a millisecond ahead). Default 1 hour.
    /// </summary>
    [DurationRange("1s", "1d")]
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromHours(1);
    /// <summary>
    /// What to do when <see cref="Topic"/> does not exist: <c>Wait</c> (the default: report unready and keep
    /// waiting for it to be created) or <c>Fail</c> (one error line, exit code 69).
    /// </summary>
    public MissingTopicPolicy MissingTopic { get; set; } = MissingTopicPolicy.Wait;
    /// <summary>
    /// How often a write ClickHouse refuses for a deterministic reason (a dropped column, a missing table,
    /// access denied) is tried again while the partitions stay paused, so repairing the table resumes the
    /// worker without a restart, 100 ms to 10 minutes. Default 10 s.
    /// </summary>
    [DurationRange("100ms", "10m")]
    public TimeSpan BlockedRetryInterval { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>
    /// Model prices added to or overriding the built-in table, for calls without <c>cost_usd</c>
    /// (<c>Aggregator:Prices:N:Provider</c>, <c>Model</c>, <c>InputPerMillion</c>, <c>OutputPerMillion</c>,
    /// <c>CachedInputPerMillion</c>, <c>EffectiveFrom</c>; see <see cref="PriceOptions"/>). Default: none.
    /// </summary>
    public List<PriceOptions> Prices { get; set; } = [];
    /// <summary>
    /// A YAML or JSON file of more prices (format: <see cref="PriceFile"/>), read at start-up from the working
    /// directory when relative. Default: none.
    /// </summary>
    public string PricesFile { get; set; } = "";
    /// <summary>
    /// A Confluent Schema Registry (<c>http://host:8081</c>) to read writer schemas from, for producers that
    /// register theirs (<c>Producer:SchemaRegistryUrl</c>). When set it is authoritative for every schema id (a
    /// registry numbers from 1, like the catalogue); while it is away the worker waits, unready, and dead-letters
    /// nothing. Default: none (the built-in catalogue).
    /// </summary>
    public string? SchemaRegistryUrl { get; set; }
    /// <summary>Window length, lateness, idle handling.</summary>
    public WindowingOptions Windowing { get; set; } = new();
    /// <summary>Anomaly baselines.</summary>
    public AnomalyOptions Anomalies { get; set; } = new();

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        // Empty means unset (how an environment variable or --set clears it); several URLs are comma-separated.
        if (string.IsNullOrWhiteSpace(SchemaRegistryUrl)) yield break;
        foreach (var url in SchemaRegistryUrl.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                yield return new ValidationResult($"must be http:// or https:// URLs, comma-separated (got '{SecretMask.MaskText(url)}')", [nameof(SchemaRegistryUrl)]);
            }
        }
    }
}

/// <summary>What a worker does when its input topic does not exist.</summary>
public enum MissingTopicPolicy
{
    /// <summary>Report unready and wait for the topic to be created.</summary>
    Wait,
    /// <summary>Stop with one error line naming the topic.</summary>
    Fail,
}
