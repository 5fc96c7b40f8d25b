using BenchmarkDotNet.Attributes;
using Pipeline.DevServers;
using Pipeline.Producers;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.Benchmarks;

/// <summary>
/// What <c>Track</c> costs the caller: edge rules and the queue hand-off (serialization and Kafka happen
/// on the SDK's sender thread). Each iteration tracks 50,000 calls, then waits for the broker to take
/// them outside the measurement, so the queue never overflows to disk.
/// </summary>
[MemoryDiagnoser]
#pragma warning disable CA1001 // BenchmarkDotNet disposes through [GlobalCleanup]
public class ProducerBenchmarks
#pragma warning restore CA1001
{
    private const int PerIteration = 50_000;
    private DevBrokerHost _broker = null!;
    private LlmCallProducer _producer = null!;
    private LlmCall _call = null!;
    private readonly ProducerOptions _options = new() { BootstrapServers = "127.0.0.1:1" };

    [GlobalSetup]
    public void Setup()
    {
        _broker = DevBrokerHost.Start(1, null, [("bench", 4)]);
        _producer = new LlmCallProducer(new ProducerOptions { BootstrapServers = _broker.Bootstrap, Topic = "bench", Kafka = new() { ["log_level"] = "0" } });
        _call = Samples.FullCall();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _producer.Dispose();
        _broker.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [IterationCleanup(Target = nameof(Track))]
    public void Drain() => _producer.Flush(TimeSpan.FromMinutes(1));

    [Benchmark(OperationsPerInvoke = PerIteration)]
    [InvocationCount(1)]
    public void Track()
    {
        for (var i = 0; i < PerIteration; i++) _producer.Track(_call);
    }

    [Benchmark]
    public EdgeResult EdgeRulesApply() => EdgeRules.Apply(_call, _options);
}
