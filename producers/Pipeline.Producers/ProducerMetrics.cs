using System.Diagnostics.Metrics;

namespace Pipeline.Producers;

/// <summary>
/// The SDK's self-metrics on meter <c>Pipeline.Producers</c> (export them with OpenTelemetry or read them
/// with <c>dotnet-counters</c>), mirrored as plain counters on <see cref="LlmCallProducer"/> for code.
/// </summary>
internal sealed class ProducerMetrics : IDisposable
{
    public const string MeterName = "Pipeline.Producers";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly KeyValuePair<string, object?> _topic;
    private readonly Counter<long> _accepted;
    private readonly Counter<long> _sent;
    private readonly Counter<long> _spilled;
    private readonly Counter<long> _replayed;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _clamped;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _sampledOut;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<double> _deliveryLatency;

    public long Accepted;
    public long Sent;
    public long Spilled;
    public long Replayed;
    public long Dropped;
    public long Rejected;
    public long Clamped;
    public long Failed;
    public long SampledOut;

    public ProducerMetrics(IMeterFactory? factory, string topic, Func<long> queueDepth, Func<long> spillBytes)
    {
        _ownsMeter = factory is null;
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _topic = new("topic", topic);
        _accepted = _meter.CreateCounter<long>("pipeline.producer.events.accepted", "{event}", "Calls accepted by Track");
        _sent = _meter.CreateCounter<long>("pipeline.producer.events.sent", "{event}", "Calls acknowledged by Kafka (acks=all)");
        _spilled = _meter.CreateCounter<long>("pipeline.producer.events.spilled", "{event}", "Calls written to the disk spill");
        _replayed = _meter.CreateCounter<long>("pipeline.producer.events.replayed", "{event}", "Spilled calls acknowledged by Kafka");
        _dropped = _meter.CreateCounter<long>("pipeline.producer.events.dropped", "{event}", "Calls lost because the spill was full");
        _rejected = _meter.CreateCounter<long>("pipeline.producer.events.rejected", "{event}", "Calls refused at the edge (invalid)");
        _clamped = _meter.CreateCounter<long>("pipeline.producer.events.clamped", "{event}", "Calls sent with fields clamped at the edge");
        _failed = _meter.CreateCounter<long>("pipeline.producer.events.failed", "{event}", "Calls Kafka refused permanently");
        _sampledOut = _meter.CreateCounter<long>("pipeline.producer.events.sampled_out", "{event}", "Calls left out by sampling (the kept ones carry their weight)");
        _batchSize = _meter.CreateHistogram<int>("pipeline.producer.batch.size", "{event}", "Calls taken from the queue per send");
        _deliveryLatency = _meter.CreateHistogram<double>("pipeline.producer.delivery.duration", "s", "Track to Kafka acknowledgement");
        // Reported from zero, so an exporter shows every counter at once and "spilled went from 0 to n" can be alerted on.
        foreach (var counter in new[] { _accepted, _sent, _spilled, _replayed, _dropped, _rejected, _clamped, _failed, _sampledOut }) counter.Add(0, _topic);
        _meter.CreateObservableGauge("pipeline.producer.queue.depth", () => new Measurement<long>(queueDepth(), _topic), "{event}", "Calls waiting in memory");
        _meter.CreateObservableGauge("pipeline.producer.spill.bytes", () => new Measurement<long>(spillBytes(), _topic), "By", "Bytes waiting in the disk spill");
    }

    public void OnAccepted(bool clamped)
    {
        Interlocked.Increment(ref Accepted);
        _accepted.Add(1, _topic);
        if (clamped)
        {
            Interlocked.Increment(ref Clamped);
            _clamped.Add(1, _topic);
        }
    }

    public void OnSent(double latencySeconds)
    {
        Interlocked.Increment(ref Sent);
        _sent.Add(1, _topic);
        _deliveryLatency.Record(latencySeconds, _topic);
    }

    public void OnSpilled()
    {
        Interlocked.Increment(ref Spilled);
        _spilled.Add(1, _topic);
    }

    public void OnReplayed(int n)
    {
        Interlocked.Add(ref Replayed, n);
        Interlocked.Add(ref Sent, n);
        _replayed.Add(n, _topic);
        _sent.Add(n, _topic);
    }

    public void OnDropped()
    {
        Interlocked.Increment(ref Dropped);
        _dropped.Add(1, _topic);
    }

    public void OnRejected()
    {
        Interlocked.Increment(ref Rejected);
        _rejected.Add(1, _topic);
    }

    public void OnFailed()
    {
        Interlocked.Increment(ref Failed);
        _failed.Add(1, _topic);
    }

    public void OnSampledOut()
    {
        Interlocked.Increment(ref SampledOut);
        _sampledOut.Add(1, _topic);
    }

    public void OnBatch(int size) => _batchSize.Record(size, _topic);

    public void Dispose()
    {
        if (_ownsMeter) _meter.Dispose();
    }
}
