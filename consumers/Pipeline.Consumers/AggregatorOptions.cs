using System.ComponentModel.DataAnnotations;
using Pipeline.Aggregation;
using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>Settings of the aggregator worker (<c>pipeline aggregate</c>).</summary>
public sealed class AggregatorOptions
{
    /// <summary>Topic to read. Default <c>llm.calls.v1</c>.</summary>
    public string Topic { get; set; } = SchemaCatalog.Topics.Calls;
    /// <summary>Dead-letter topic. Default <c>llm.calls.dlq.v1</c>.</summary>
    public string DeadLetterTopic { get; set; } = SchemaCatalog.Topics.CallsDeadLetter;
    /// <summary>Where closed windows are published. Default <c>llm.metrics.1m.v1</c>.</summary>
    public string MetricsTopic { get; set; } = SchemaCatalog.Topics.Metrics1m;
    /// <summary>Consumer group. Default <c>aggregator</c>.</summary>
    public string GroupId { get; set; } = "aggregator";
    /// <summary>Rows per ClickHouse insert at most. Default 100,000 (18.16 inserts fastest at this size).</summary>
    public int MaxBatchRows { get; set; } = 100_000;
    /// <summary>Longest a row waits before its batch is written. Default 1 s.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>Events older than this (by event time) go to the DLQ. Default 30 days.</summary>
    public TimeSpan MaxEventAge { get; set; } = TimeSpan.FromDays(30);
    /// <summary>Events further in the future than this go to the DLQ. Default 1 hour.</summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromHours(1);
    /// <summary>
    /// What to do when <see cref="Topic"/> does not exist: <c>Wait</c> (the default: report unready and keep
    /// waiting for it to be created) or <c>Fail</c> (one error line, exit code 69).
    /// </summary>
    public MissingTopicPolicy MissingTopic { get; set; } = MissingTopicPolicy.Wait;
    /// <summary>
    /// How often a write ClickHouse refuses for a deterministic reason (a dropped column, a missing table,
    /// access denied) is tried again while the partitions stay paused, so repairing the table resumes the
    /// worker without a restart. Default 10 s.
    /// </summary>
    public TimeSpan BlockedRetryInterval { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Window length, lateness, idle handling.</summary>
    public WindowingOptions Windowing { get; set; } = new();
    /// <summary>Anomaly baselines.</summary>
    public AnomalyOptions Anomalies { get; set; } = new();
}

/// <summary>Start-up checks of <see cref="AggregatorOptions"/>; each result names its key under <c>Aggregator:</c>.</summary>
public static class AggregatorOptionsValidation
{
    public static IEnumerable<ValidationResult> Validate(AggregatorOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (string.IsNullOrWhiteSpace(o.Topic)) yield return new("must not be empty", ["Topic"]);
        if (string.IsNullOrWhiteSpace(o.GroupId)) yield return new("must not be empty", ["GroupId"]);
        if (o.MaxBatchRows is < 1 or > 10_000_000) yield return new($"{o.MaxBatchRows} is outside 1..10000000", ["MaxBatchRows"]);
        if (o.FlushInterval <= TimeSpan.Zero) yield return new("must be positive", ["FlushInterval"]);
        var size = o.Windowing.WindowSize;
        if (size < TimeSpan.FromSeconds(1) || TimeSpan.FromHours(1).Ticks % size.Ticks != 0)
            yield return new($"{size} must be at least 1 s and divide one hour", ["Windowing:WindowSize"]);
        if (o.Windowing.AllowedLateness < TimeSpan.Zero) yield return new("must not be negative", ["Windowing:AllowedLateness"]);
        if (o.Windowing.IdleTimeout <= TimeSpan.Zero) yield return new("must be positive", ["Windowing:IdleTimeout"]);
        if (o.Anomalies.MinSamples < 2) yield return new("must be at least 2", ["Anomalies:MinSamples"]);
        if (o.Anomalies.BaselineWindows < o.Anomalies.MinSamples) yield return new("must be at least Anomalies:MinSamples", ["Anomalies:BaselineWindows"]);
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
