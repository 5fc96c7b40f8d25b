using System.Net;
using System.Text.Json.Nodes;
using Confluent.Kafka;
using Pipeline.Consumers;
using Pipeline.DevServers;
using Pipeline.Producers;
using Pipeline.Schemas;

namespace Pipeline.IntegrationTests;

/// <summary>
/// Producers that register their schema, into an aggregator that reads writer schemas from the same registry
/// (found from outside: with <c>Producer:SchemaRegistryUrl</c> set, every event was dead-lettered). The registry
/// is the in-repo stand-in numbering from 1, so its ids collide with the catalogue's: the SDK's llm_call gets
/// id 2, the catalogue's window schema.
/// </summary>
public sealed class SchemaRegistryAggregatorTests(ServersFixture servers)
{
    [Fact]
    public async Task SdkWithRegistry_EveryEventDecoded_EvolvedWriterToo_OutageWaitsWithoutDeadLetters()
    {
        var ct = TestContext.Current.CancellationToken;
        using var registry = new DevSchemaRegistry(firstId: 1);
        Assert.Equal(1, registry.Register("llm.alerts.v1-value", SchemaCatalog.Alert.ToString()));
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 3, ct);
        var options = new AggregatorOptions
        {
            Topic = topic, GroupId = "g-" + topic, MetricsTopic = await servers.NewTopicAsync("metrics", 1, ct),
            DeadLetterTopic = await servers.NewTopicAsync("dlq", 1, ct), FlushInterval = TimeSpan.FromMilliseconds(300),
            Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1) }, SchemaRegistryUrl = registry.Url,
        };
        using var worker = new AggregatorWorker(servers.Kafka, clickHouse, options, TimeProvider.System, new FileLogger("registry"));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();

        var now = TimeProvider.System.GetUtcNow().AddMinutes(-2);
        var sdkEvents = AggregationScenario.Create(300, now, minutes: 5, seed: 91);
        await using (var producer = new LlmCallProducer(new ProducerOptions
        {
            BootstrapServers = servers.Bootstrap, Topic = topic, SchemaRegistryUrl = registry.Url, Kafka = new() { ["log_level"] = "0" },
        }))
        {
            Assert.Equal(2, producer.SchemaId);
            foreach (var e in sdkEvents.Events) Assert.True(producer.Track(e));
            Assert.Equal(0, await producer.FlushAsync(TimeSpan.FromSeconds(60), ct));
        }

        await WaitAsync(() => Task.FromResult(worker.RecordsConsumed >= sdkEvents.Events.Count), run, ct);

        // Another producer with a newer schema (one added optional field), registered as id 3 (the catalogue's
        // alert schema), written while the registry answers 500: the worker waits, unready, and loses nothing.
        var evolvedId = registry.Register($"{topic}-value", Evolved());
        Assert.Equal(3, evolvedId);
        registry.FailWith = HttpStatusCode.InternalServerError;
        var evolvedEvents = AggregationScenario.Create(100, now, minutes: 5, seed: 92);
        var serializer = new LlmCallSerializer();
        using (var producer = new ProducerBuilder<byte[], byte[]>(servers.Kafka.Producer()).Build())
        {
            foreach (var e in evolvedEvents.Events)
            {
                producer.Produce(topic, new Message<byte[], byte[]> { Key = SeriesKey.Of(e).ToKafkaKey(), Value = WithRegion(serializer.Serialize(e), evolvedId) });
            }
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }
        await WaitAsync(() => Task.FromResult(worker.NotReadyReason?.Contains("schema registry", StringComparison.Ordinal) == true), run, ct);
        Assert.Contains("schema id 3", worker.NotReadyReason, StringComparison.Ordinal);
        await Task.Delay(TimeSpan.FromSeconds(2), ct);
        Assert.Equal(0, worker.DeadLettered);
        registry.FailWith = null;

        // An id the registry never issued: dead-lettered with the reason, and asked about once for both records.
        using (var producer = new ProducerBuilder<byte[], byte[]>(servers.Kafka.Producer()).Build())
        {
            var stray = serializer.Serialize(sdkEvents.Events[0] with { EventId = Guid.NewGuid() });
            WireFormat.WriteHeader(stray, 999);
            producer.Produce(topic, new Message<byte[], byte[]> { Key = [1], Value = stray });
            producer.Produce(topic, new Message<byte[], byte[]> { Key = [1], Value = stray });
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        var total = sdkEvents.Events.Count + evolvedEvents.Events.Count;
        await WaitAsync(async () => await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= total && worker.DeadLettered >= 2, run, ct);
        Assert.Null(worker.NotReadyReason);
        await stop.CancelAsync();
        await run;

        var all = AggregationScenario.Create(0, now, 1, 0);
        all.Events.AddRange(sdkEvents.Events);
        all.Events.AddRange(evolvedEvents.Events);
        await all.AssertReconciledAsync(clickHouse, ct);
        Assert.Equal(2, worker.DeadLettered);
        // Ids 2, 3 and 999 once each: known ids are cached, and so is "not found".
        Assert.Equal(3, registry.Lookups);
    }

    /// <summary>
    /// Found from outside: a mistyped registry URL (any server answering 404 without the registry's 40403)
    /// dead-lettered every event as "not in the registry"; a non-Avro schema under a colliding id was decoded
    /// against the catalogue. Now a 404 that is not the registry's waits, unready, and a non-Avro id is
    /// dead-lettered with its own reason.
    /// </summary>
    [Fact]
    public async Task MistypedRegistryPath_Waits_NonAvroRegistryId_DeadLetteredWithItsReason()
    {
        var ct = TestContext.Current.CancellationToken;
        using var registry = new DevSchemaRegistry(firstId: 1);
        Assert.Equal(1, registry.Register("llm.calls.v1-value", SchemaCatalog.LlmCall.ToString()));
        Assert.Equal(2, registry.Register("other-value", "syntax = \"proto3\"; message M { string a = 1; }", "PROTOBUF"));
        var serializer = new LlmCallSerializer();
        var scenario = AggregationScenario.Create(20, TimeProvider.System.GetUtcNow().AddMinutes(-2), minutes: 1, seed: 93);

        // 1. The path mistyped: the stand-in answers 404 with its own code, as any other web server would.
        using (var clickHouse = await servers.NewDatabaseAsync(ct))
        {
            var topic = await servers.NewTopicAsync("calls", 1, ct);
            await AggregationScenario.ProduceAsync(servers, topic, scenario.Events, ct);
            var (worker, stop, run, _) = await StartAsync(clickHouse, topic, registry.Url + "/sr", ct);
            using (worker)
            using (stop)
            {
                await WaitAsync(() => Task.FromResult(worker.NotReadyReason?.Contains("waiting for the schema registry", StringComparison.Ordinal) == true), run, ct);
                await Task.Delay(TimeSpan.FromSeconds(3), ct);
                Assert.Equal(0, worker.DeadLettered);
                Assert.Contains("HTTP 404", worker.NotReadyReason, StringComparison.Ordinal);
                await stop.CancelAsync();
                await run;
            }
        }

        // 2. The right URL, and one record framed with id 2, which the registry holds as Protobuf (and the catalogue as windows).
        using (var clickHouse = await servers.NewDatabaseAsync(ct))
        {
            var topic = await servers.NewTopicAsync("calls", 1, ct);
            var wrong = serializer.Serialize(scenario.Events[0] with { EventId = Guid.NewGuid() });
            WireFormat.WriteHeader(wrong, 2);
            using (var producer = new ProducerBuilder<byte[], byte[]>(servers.Kafka.Producer()).Build())
            {
                producer.Produce(topic, new Message<byte[], byte[]> { Key = [1], Value = wrong });
                Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
            }
            await AggregationScenario.ProduceAsync(servers, topic, scenario.Events, ct);
            var (worker, stop, run, dlqTopic) = await StartAsync(clickHouse, topic, registry.Url, ct);
            using (worker)
            using (stop)
            {
                await WaitAsync(async () => await clickHouse.ScalarAsync("SELECT count() FROM calls FINAL", ct) >= scenario.Events.Count && worker.DeadLettered >= 1, run, ct);
                await stop.CancelAsync();
                await run;
                Assert.Equal(1, worker.DeadLettered);
            }
            var dlq = new DeadLetterTopic(servers.Kafka, dlqTopic, topic, TimeProvider.System);
            var letter = Assert.Single(dlq.ReadToEnd(ct));
            Assert.Equal("UnknownSchemaId", letter.Failure);
            Assert.Contains("is a Protobuf schema in the registry", letter.Reason, StringComparison.Ordinal);
        }
    }

    private async Task<(AggregatorWorker Worker, CancellationTokenSource Stop, Task Run, string Dlq)> StartAsync(Pipeline.ClickHouse.ClickHouseHttp clickHouse, string topic, string registry, CancellationToken ct)
    {
        var options = new AggregatorOptions
        {
            Topic = topic, GroupId = "g-" + topic, MetricsTopic = await servers.NewTopicAsync("metrics", 1, ct), DeadLetterTopic = await servers.NewTopicAsync("dlq", 1, ct),
            FlushInterval = TimeSpan.FromMilliseconds(300), SchemaRegistryUrl = registry,
        };
        var worker = new AggregatorWorker(servers.Kafka, clickHouse, options, TimeProvider.System, new FileLogger("registry"));
        var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();
        return (worker, stop, run, options.DeadLetterTopic);
    }

    /// <summary>The llm_call schema with one more optional field at the end, as a newer producer would write it.</summary>
    private static string Evolved()
    {
        var schema = JsonNode.Parse(SchemaCatalog.LlmCall.ToString())!.AsObject();
        schema["fields"]!.AsArray().Add(new JsonObject { ["name"] = "region", ["type"] = new JsonArray("null", "string"), ["default"] = null });
        return schema.ToJsonString();
    }

    /// <summary>
    /// A record of the evolved schema: the same Avro body, then the trailing field (union branch 1, the string
    /// "eu"), framed with <paramref name="id"/>.
    /// </summary>
    private static byte[] WithRegion(byte[] record, int id)
    {
        byte[] region = [0x02, 0x04, (byte)'e', (byte)'u'];
        var evolved = new byte[record.Length + region.Length];
        record.CopyTo(evolved, 0);
        region.CopyTo(evolved, record.Length);
        WireFormat.WriteHeader(evolved, id);
        return evolved;
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, Task run, CancellationToken ct)
    {
        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(90);
        while (!await condition())
        {
            Assert.False(run.IsCompleted, "the worker stopped: " + run.Exception?.GetBaseException().Message);
            Assert.True(TimeProvider.System.GetUtcNow() < deadline, "timed out");
            await Task.Delay(200, ct);
        }
    }
}
