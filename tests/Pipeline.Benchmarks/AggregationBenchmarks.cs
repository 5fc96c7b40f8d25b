using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Aggregation;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.Benchmarks;

/// <summary>The per-event work of the aggregator: fold into a window, and the sketch under it.</summary>
[MemoryDiagnoser]
public class AggregationBenchmarks
{
    private readonly List<LlmCall> _calls = [];
    private readonly QuantileSketch _sketch = new();
    private readonly double[] _latencies = new double[4096];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        var t0 = new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
        for (var i = 0; i < 10_000; i++)
        {
            _calls.Add(Samples.FullCall() with
            {
                EventId = Guid.NewGuid(), OccurredAt = t0.AddMilliseconds(i * 10), PromptVersion = "v" + (i % 50), LatencyMs = 50 + random.NextDouble() * 3000,
            });
        }
        for (var i = 0; i < _latencies.Length; i++) _latencies[i] = 50 + random.NextDouble() * 3000;
    }

    [Benchmark(OperationsPerInvoke = 10_000)]
    public int FoldEventsIntoWindows()
    {
        var windows = new PartitionWindows(0, new WindowingOptions(), PriceTable.Default, new FakeTimeProvider());
        foreach (var c in _calls) windows.Add(c, 0);
        return windows.WindowCount;
    }

    [Benchmark(OperationsPerInvoke = 4096)]
    public long SketchAdd()
    {
        foreach (var v in _latencies) _sketch.Add(v);
        return _sketch.Count;
    }
}
