using System.Diagnostics.Metrics;

namespace Pipeline.Consumers;

/// <summary>
/// The alert worker's self-metrics on meter <c>Pipeline.Alerting</c> (<c>pipeline.alerting.*</c>), every
/// measurement tagged <c>pipeline.instance</c> (<see cref="WorkerInstance"/>).
/// </summary>
public sealed class AlertMetrics : IDisposable
{
    /// <summary>The meter's name, for <c>AddMeter</c>.</summary>
    public const string MeterName = "Pipeline.Alerting";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;

    /// <param name="factory">The host's meter factory; without one the metrics own a meter of their own.</param>
    /// <param name="instance">The <c>pipeline.instance</c> tag; default <see cref="WorkerInstance.Resolve"/>.</param>
    public AlertMetrics(IMeterFactory? factory = null, string? instance = null)
    {
        Instance = WorkerInstance.Resolve(MeterName, instance);
        (_meter, _ownsMeter) = WorkerInstance.CreateMeter(factory, MeterName);
        var tag = new KeyValuePair<string, object?>(WorkerInstance.TagName, Instance);
        Evaluations = new(_meter.CreateCounter<long>("pipeline.alerting.windows", "{window}", "Closed windows evaluated"), tag);
        AlertsOut = new(_meter.CreateCounter<long>("pipeline.alerting.alerts", "{alert}", "Alert records published"), tag);
    }

    /// <summary>The <c>pipeline.instance</c> tag of every measurement.</summary>
    public string Instance { get; }

    internal TaggedCounter Evaluations { get; }
    internal TaggedCounter AlertsOut { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsMeter) _meter.Dispose();
    }
}
