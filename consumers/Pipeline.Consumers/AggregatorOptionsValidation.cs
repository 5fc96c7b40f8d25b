using System.ComponentModel.DataAnnotations;

namespace Pipeline.Consumers;

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
