using System.Buffers;
using BenchmarkDotNet.Attributes;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.Benchmarks;

/// <summary>
/// The decode step every event passes through in the consumer, and the encode step in the SDK: the hand-written
/// codec the serializer uses, next to Apache.Avro's <c>GenericRecord</c> path it replaced, on the same event.
/// </summary>
[MemoryDiagnoser]
public class SerializerBenchmarks
{
    private readonly LlmCallSerializer _serializer = new();
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);
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

    /// <summary>Into a reused buffer: the steady state of a sender that pools its buffers.</summary>
    [Benchmark]
    public int SerializeIntoBuffer()
    {
        _buffer.ResetWrittenCount();
        _serializer.Serialize(_call, _buffer);
        return _buffer.WrittenCount;
    }

    [Benchmark]
    public LlmCall Deserialize() => _serializer.Deserialize(_bytes);

    [Benchmark]
    public byte[] SerializeApacheAvro() => _serializer.SerializeGeneric(_call);

    [Benchmark]
    public LlmCall DeserializeApacheAvro() => _serializer.DeserializeGeneric(_bytes);
}
