using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Consumers;

namespace Pipeline.UnitTests.Consumers;

public sealed class WorkerMetricsTests
{
    [Fact]
    public void ObservableGauges_TwoWorkersFromOneMeterFactory_ReportSeparateValuesTaggedByInstance()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var a = new AggregatorMetrics(factory, "worker-a");
        using var b = new AggregatorMetrics(factory, "worker-b");
        a.SetProgress(lag: 10, watermarkDelaySeconds: 1.5);
        b.SetProgress(lag: 20, watermarkDelaySeconds: 2.5);

        var seen = Observe(factory, listener => listener.RecordObservableInstruments());

        Assert.Equal(10, seen[("pipeline.aggregator.consumer.lag", "worker-a")]);
        Assert.Equal(20, seen[("pipeline.aggregator.consumer.lag", "worker-b")]);
        Assert.Equal(1.5, seen[("pipeline.aggregator.watermark.delay", "worker-a")]);
        Assert.Equal(2.5, seen[("pipeline.aggregator.watermark.delay", "worker-b")]);
    }

    [Fact]
    public void Counters_EveryMeasurement_CarriesTheInstanceTag()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var aggregator = new AggregatorMetrics(factory, "agg-1");
        using var alerts = new AlertMetrics(factory, "alert-1");

        var seen = Observe(factory, _ =>
        {
            aggregator.EventsIn.Add(3);
            aggregator.FlushSeconds.Record(0.25);
            alerts.Evaluations.Add(2);
        });

        Assert.Equal(3, seen[("pipeline.aggregator.events", "agg-1")]);
        Assert.Equal(0.25, seen[("pipeline.aggregator.flush.duration", "agg-1")]);
        Assert.Equal(2, seen[("pipeline.alerting.windows", "alert-1")]);
    }

    [Fact]
    public void Resolve_NoConfiguredInstance_HostAndPidThenNumberedPerKind()
    {
        var kind = "test-kind-" + Guid.NewGuid().ToString("N");
        Assert.Equal("custom", WorkerInstance.Resolve(kind, "custom"));
        Assert.Equal(WorkerInstance.ProcessDefault, WorkerInstance.Resolve(kind, null));
        Assert.Equal(WorkerInstance.ProcessDefault + "-2", WorkerInstance.Resolve(kind, " "));
        Assert.Contains(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), WorkerInstance.ProcessDefault, StringComparison.Ordinal);
    }

    /// <summary>Last value per (instrument, pipeline.instance) of the factory's meters while <paramref name="act"/> runs.</summary>
    private static Dictionary<(string, string), double> Observe(IMeterFactory factory, Action<MeterListener> act)
    {
        var seen = new Dictionary<(string, string), double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Scope == factory) l.EnableMeasurementEvents(instrument);
        };
        void Note(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var tag in tags)
            {
                if (tag.Key == WorkerInstance.TagName) seen[(instrument.Name, (string)tag.Value!)] = value;
            }
        }
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Note(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Note(i, v, t));
        listener.Start();
        act(listener);
        return seen;
    }
}
