using System.Diagnostics.Metrics;

namespace Pipeline.Consumers;

/// <summary>
/// The aggregator's self-metrics on meter <c>Pipeline.Aggregator</c>, OpenTelemetry-style names
/// (<c>pipeline.aggregator.*</c>, durations in seconds), every measurement tagged
/// <c>pipeline.instance</c> (<see cref="WorkerInstance"/>). One per worker: its gauges report that worker only.
/// </summary>
public sealed class AggregatorMetrics : IDisposable
{
    /// <summary>The meter's name, for <c>AddMeter</c>.</summary>
    public const string MeterName = "Pipeline.Aggregator";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    // Written by the consume thread once per flush, read by the observable gauges' callbacks.
    private long _lag;
    private double _watermarkDelaySeconds;

    /// <param name="factory">The host's meter factory; without one the metrics own a meter of their own.</param>
    /// <param name="instance">The <c>pipeline.instance</c> tag; default <see cref="WorkerInstance.Resolve"/>.</param>
    public AggregatorMetrics(IMeterFactory? factory = null, string? instance = null)
    {
        Instance = WorkerInstance.Resolve(MeterName, instance);
        (_meter, _ownsMeter) = WorkerInstance.CreateMeter(factory, MeterName);
        var tag = new KeyValuePair<string, object?>(WorkerInstance.TagName, Instance);
        TaggedCounter Counter(string name, string unit, string description) => new(_meter.CreateCounter<long>(name, unit, description), tag);
        EventsIn = Counter("pipeline.aggregator.events", "{event}", "Events decoded and written");
        DeadLetters = Counter("pipeline.aggregator.dead_letters", "{event}", "Records sent to the DLQ");
        WindowsOut = Counter("pipeline.aggregator.windows", "{window}", "Window revisions written");
        LateEvents = Counter("pipeline.aggregator.late_events", "{event}", "Events that reopened a closed window");
        ProcessingErrors = Counter("pipeline.aggregator.processing_errors", "{event}", "Records a bug met, dead-lettered (alert on any)");
        RejectedRows = Counter("pipeline.aggregator.rejected_rows", "{row}", "Rows ClickHouse refused, isolated and dead-lettered");
        SkippedRecords = Counter("pipeline.aggregator.records_skipped", "{record}", "Records jumped over by an offset reset: data loss");
        SaturatedWindows = Counter("pipeline.aggregator.saturated_windows", "{window}", "Windows whose sums reached their bound");
        EvictedWindows = Counter("pipeline.aggregator.evicted_windows", "{window}", "Written windows dropped from memory by Aggregator:Windowing:MaxRetainedWindows before their late retention ended");
        FlushSeconds = new(_meter.CreateHistogram<double>("pipeline.aggregator.flush.duration", "s", "Time to write one batch"), tag);
        BatchRows = new(_meter.CreateHistogram<long>("pipeline.aggregator.batch.size", "{event}", "Rows per insert into calls"), tag);
        _meter.CreateObservableGauge("pipeline.aggregator.consumer.lag",
            () => new Measurement<long>(Interlocked.Read(ref _lag), tag), "{record}", "Records behind the end of the assigned partitions");
        _meter.CreateObservableGauge("pipeline.aggregator.watermark.delay",
            () => new Measurement<double>(Volatile.Read(ref _watermarkDelaySeconds), tag), "s", "How far the slowest partition's watermark trails the clock");
    }

    /// <summary>The <c>pipeline.instance</c> tag of every measurement.</summary>
    public string Instance { get; }

    internal TaggedCounter EventsIn { get; }
    internal TaggedCounter DeadLetters { get; }
    internal TaggedCounter WindowsOut { get; }
    internal TaggedCounter LateEvents { get; }
    internal TaggedCounter ProcessingErrors { get; }
    internal TaggedCounter RejectedRows { get; }
    internal TaggedCounter SkippedRecords { get; }
    internal TaggedCounter SaturatedWindows { get; }
    internal TaggedCounter EvictedWindows { get; }
    internal TaggedHistogram<double> FlushSeconds { get; }
    internal TaggedHistogram<long> BatchRows { get; }

    /// <summary>Consumer lag and watermark delay as the gauges report them next.</summary>
    internal void SetProgress(long lag, double watermarkDelaySeconds)
    {
        Interlocked.Exchange(ref _lag, lag);
        Volatile.Write(ref _watermarkDelaySeconds, watermarkDelaySeconds);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsMeter) _meter.Dispose();
    }
}
