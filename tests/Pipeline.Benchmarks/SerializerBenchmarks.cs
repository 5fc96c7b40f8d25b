using BenchmarkDotNet.Attributes;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.Benchmarks;

/// <summary>The decode step every event passes through in the consumer, and the encode step in the SDK.</summary>
[MemoryDiagnoser]
public class SerializerBenchmarks
{
    private readonly LlmCallSerializer _serializer = new();
    private LlmCall _call = null!;
    private byte[] _bytes = [];

    [GlobalSetup]
    public void Setup()
    {
        _call = Samples.FullCall();
        _bytes = _serializer.Serialize(_call);
    }

    [Benchmark]
    public byte[] Serialize() => _serializer.Serialize(_call);

    [Benchmark]
    public LlmCall Deserialize() => _serializer.Deserialize(_bytes);
}
