using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Pipeline.Consumers;

/// <summary>
/// The <c>pipeline.instance</c> tag every worker measurement carries, so two workers (in one process or in
/// many) report separate series instead of overwriting each other's gauges.
/// </summary>
public static class WorkerInstance
{
    /// <summary>The tag's name.</summary>
    public const string TagName = "pipeline.instance";

    private static readonly ConcurrentDictionary<string, int> Started = new(StringComparer.Ordinal);

    /// <summary>Host name and process id, such as <c>worker-7-4242</c>: unique per process.</summary>
    public static string ProcessDefault { get; } = $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>
    /// <paramref name="configured"/> when given; else <see cref="ProcessDefault"/> for the first worker of
    /// <paramref name="kind"/> in this process and <c>ProcessDefault-2</c>, <c>-3</c>, ... for later ones.
    /// </summary>
    public static string Resolve(string kind, string? configured)
    {
        if (!string.IsNullOrWhiteSpace(configured)) return configured;
        var n = Started.AddOrUpdate(kind, 1, (_, count) => count + 1);
        return n == 1 ? ProcessDefault : $"{ProcessDefault}-{n}";
    }

    /// <summary>
    /// A meter from <paramref name="factory"/> (so the host's DI owns it), or a meter of the caller's own
    /// when there is no factory (the caller then disposes it).
    /// </summary>
    internal static (Meter Meter, bool Owned) CreateMeter(IMeterFactory? factory, string name) =>
        factory is null ? (new Meter(name), true) : (factory.Create(new MeterOptions(name)), false);
}

/// <summary>A counter whose every measurement carries the worker's instance tag.</summary>
internal readonly struct TaggedCounter(Counter<long> counter, KeyValuePair<string, object?> tag)
{
    public void Add(long delta) => counter.Add(delta, tag);
}

/// <summary>A histogram whose every measurement carries the worker's instance tag.</summary>
internal readonly struct TaggedHistogram<T>(Histogram<T> histogram, KeyValuePair<string, object?> tag) where T : struct
{
    public void Record(T value) => histogram.Record(value, tag);
}
