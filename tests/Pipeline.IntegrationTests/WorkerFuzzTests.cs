using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Pipeline.Consumers;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.IntegrationTests;

/// <summary>
/// The whole worker against records mutated at every layer (bytes, framing, schema ids, Avro of other
/// schemas, truncation, every field at and beyond its bound), interleaved with known-good events, on the
/// real servers: the worker never stops, every record is in <c>calls FINAL</c> or in the DLQ with a reason
/// (by partition and offset, exactly one of the two), good events reconcile exactly, and nothing stored
/// exceeds <see cref="FieldBounds"/>.
/// </summary>
public sealed class WorkerFuzzTests(ServersFixture servers)
{
    private const int Partitions = 4;

    [Fact]
    public async Task MutatedRecordsAtEveryLayer_WorkerNeverStops_EveryRecordStoredOrDeadLettered()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("fuzz", Partitions, ct);
        var dlq = await servers.NewTopicAsync("fuzz-dlq", Partitions, ct);
        var metrics = await servers.NewTopicAsync("fuzz-metrics", 1, ct);
        var random = new Random(20261201);
        var serializer = new LlmCallSerializer();
        var now = TimeProvider.System.GetUtcNow();
        var start = now.AddMinutes(-4);
        var records = new List<(byte[] Key, byte[] Value)>();

        // Known-good events: 8 series, exact sums to reconcile.
        var good = Enumerable.Range(0, 10_000).Select(i => Samples.FullCall(start.AddMilliseconds(random.Next(0, 180_000))) with
        {
            EventId = Guid.NewGuid(), Environment = "fuzz-good", PromptVersion = "v" + (i % 8), SampleRate = 1, InputTokens = 100 + (i % 7),
        }).ToList();
        records.AddRange(good.Select(g => (SeriesKey.Of(g).ToKafkaKey(), serializer.Serialize(g))));

        // Valid at the bounds: stored, and 300 calls of weight 1e6 with 1e8 tokens each in one window saturate its sums.
        LlmCall Edge(Func<LlmCall, LlmCall> f) => f(Samples.FullCall(start.AddSeconds(30)) with { EventId = Guid.NewGuid(), Environment = "fuzz-edge" });
        var edge = new List<LlmCall>();
        edge.AddRange(Enumerable.Range(0, 300).Select(_ => Edge(c => c with
        {
            PromptVersion = "saturate", SampleRate = FieldBounds.MinSampleRate, InputTokens = FieldBounds.MaxTokens,
            OutputTokens = FieldBounds.MaxTokens, CachedInputTokens = FieldBounds.MaxTokens, CostUsd = FieldBounds.MaxCostUsd,
        })));
        edge.AddRange(
        [
            Edge(c => c with { LatencyMs = 0, TimeToFirstTokenMs = 0, InputTokens = 0, OutputTokens = 0, CostUsd = 0 }),
            Edge(c => c with { LatencyMs = FieldBounds.MaxDurationMs, TimeToFirstTokenMs = FieldBounds.MaxDurationMs }),
            Edge(c => c with { Custom = new Dictionary<string, double> { ["m"] = FieldBounds.MaxCustomMagnitude, ["n"] = -FieldBounds.MaxCustomMagnitude } }),
            Edge(c => c with { RetryCount = FieldBounds.MaxRetryCount, HttpStatus = FieldBounds.MaxHttpStatus, QualityScore = 0 }),
            Edge(c => c with { Stages = [new Stage("s", FieldBounds.MaxDurationMs)], QualityScore = 1 }),
            Edge(c => c with { Tags = Enumerable.Range(0, LlmCallValidator.MaxMapEntries).ToDictionary(i => "k" + i, i => "v") }),
        ]);
        records.AddRange(edge.Select(e => (SeriesKey.Of(e).ToKafkaKey(), serializer.Serialize(e))));

        var bad = new List<byte[]>();
        // Random bytes, some with a valid header.
        for (var i = 0; i < 5_000; i++)
        {
            var b = new byte[random.Next(0, 300)];
            random.NextBytes(b);
            if (i % 2 == 0 && b.Length >= 5) WriteHeader(b, SchemaCatalog.LlmCallV1);
            bad.Add(b);
        }
        // Every schema id 0..10 and large ones, over an LlmCall body; Avro of the other schemas under their own ids.
        foreach (var id in new[] { 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 123_456_789, int.MaxValue, -1 })
        {
            for (var i = 0; i < 60; i++)
            {
                var b = serializer.Serialize(Samples.FullCall(now) with { EventId = Guid.NewGuid() });
                WriteHeader(b, id);
                bad.Add(b);
            }
        }
        var window = new WindowAggregateSerializer().Serialize(new WindowAggregate
        {
            Series = new SeriesKey("e", "s", "p", "v", "m"), WindowStart = start, WindowSeconds = 60, Revision = 1, PriceVersion = "t",
        });
        var alert = new AlertSerializer().Serialize(new Alert
        {
            AlertId = "a", RuleId = "r", Fingerprint = "f", State = AlertState.Firing, Severity = "WARNING", Series = new SeriesKey("e", "s", "p", "v", "m"), Metric = "m", Summary = "s",
            RunbookUrl = "", WindowStart = start, WindowEnd = start, StartedAt = start,
        });
        for (var i = 0; i < 200; i++)
        {
            bad.Add(window);
            bad.Add(alert);
        }
        // Truncations of valid records.
        for (var i = 0; i < 1_000; i++)
        {
            var b = serializer.Serialize(Samples.FullCall(now) with { EventId = Guid.NewGuid() });
            bad.Add(b[..random.Next(0, b.Length - 1)]);
        }
        // Every field at and beyond its bound.
        Func<LlmCall, LlmCall>[] beyond =
        [
            c => c with { LatencyMs = double.NaN }, c => c with { LatencyMs = double.PositiveInfinity }, c => c with { LatencyMs = -1 },
            c => c with { LatencyMs = 1e300 }, c => c with { LatencyMs = FieldBounds.MaxDurationMs * 1.01 },
            c => c with { TimeToFirstTokenMs = double.NegativeInfinity }, c => c with { CostUsd = -1e-300 }, c => c with { CostUsd = 1e300 },
            c => c with { CostUsd = double.NaN }, c => c with { InputTokens = long.MaxValue }, c => c with { OutputTokens = -1 },
            c => c with { CachedInputTokens = long.MinValue }, c => c with { InputTokens = FieldBounds.MaxTokens + 1 },
            c => c with { SampleRate = 1e-300 }, c => c with { SampleRate = 0 }, c => c with { SampleRate = -0.5 }, c => c with { SampleRate = double.NaN },
            c => c with { SampleRate = 1.0000001 }, c => c with { QualityScore = 1e-300 - 1 }, c => c with { QualityScore = double.NaN },
            c => c with { RetryCount = int.MinValue }, c => c with { RetryCount = int.MaxValue }, c => c with { HttpStatus = 70_000 },
            c => c with { HttpStatus = -1 }, c => c with { Custom = new Dictionary<string, double> { ["x"] = double.NaN } },
            c => c with { Custom = new Dictionary<string, double> { ["x"] = 1e300 } }, c => c with { Stages = [new Stage("s", -1)] },
            c => c with { Stages = [new Stage("s", 1e300)] }, c => c with { OccurredAt = now.AddYears(-40) }, c => c with { OccurredAt = now.AddYears(60) },
            c => c with { OccurredAt = DateTimeOffset.UnixEpoch.AddSeconds(-1) }, c => c with { OccurredAt = now.AddDays(-31) },
            c => c with { Environment = "" }, c => c with { PromptName = new string('p', 257) }, c => c with { Service = "a\u0000b" },
            c => c with { EventId = Guid.Empty }, c => c with { ErrorType = (ErrorType)99 }, c => c with { Outcome = (Outcome)7 },
            c => c with { Tags = Enumerable.Range(0, 65).ToDictionary(i => "k" + i, i => "v") },
        ];
        for (var i = 0; i < 1_200; i++)
        {
            bad.Add(SerializeLoose(serializer, beyond[i % beyond.Length](Samples.FullCall(now) with { EventId = Guid.NewGuid() })));
        }
        // Huge ones: 900 KB strings and 10,000 tags, a few per partition.
        for (var i = 0; i < 2; i++) bad.Add(serializer.Serialize(Samples.FullCall(now) with { EventId = Guid.NewGuid(), PromptName = new string('x', 900_000) }));
        for (var i = 0; i < 3; i++) bad.Add(serializer.Serialize(Samples.FullCall(now) with { EventId = Guid.NewGuid(), Tags = Enumerable.Range(0, 10_000).ToDictionary(t => "k" + t, t => "v") }));
        records.AddRange(bad.Select((b, i) => (BitConverter.GetBytes(i), b)));
        var shuffled = records.OrderBy(_ => random.Next()).ToList();

        // The DLQ is read while the worker runs (the dev broker keeps about 5 MiB per partition).
        var dead = new ConcurrentDictionary<(int, long), (string Failure, string Reason)>();
        using var stopReading = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var reader = Task.Factory.StartNew(() =>
        {
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(servers.Kafka.Consumer("dlq-" + Guid.NewGuid().ToString("N"))).SetLogHandler((_, _) => { }).Build();
            consumer.Assign(Enumerable.Range(0, Partitions).Select(p => new TopicPartitionOffset(dlq, p, Offset.Beginning)));
            while (!stopReading.IsCancellationRequested)
            {
                if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { IsPartitionEOF: false, Message: { } m })
                {
                    var source = Header(m, AggregatorWorker.SourceHeader).Split('/');
                    dead[(int.Parse(source[1], CultureInfo.InvariantCulture), long.Parse(source[2], CultureInfo.InvariantCulture))] =
                        (Header(m, AggregatorWorker.FailureHeader), Header(m, AggregatorWorker.ReasonHeader));
                }
            }
        }, TaskCreationOptions.LongRunning);

        var options = new AggregatorOptions
        {
            Topic = topic, GroupId = "g-" + topic, DeadLetterTopic = dlq, MetricsTopic = metrics,
            FlushInterval = TimeSpan.FromMilliseconds(300), Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1) },
        };
        using var worker = new AggregatorWorker(servers.Kafka, clickHouse, options, TimeProvider.System, new FileLogger("fuzz"));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();

        var produced = new long[Partitions];
        using (var producer = new ProducerBuilder<byte[]?, byte[]?>(servers.Kafka.Producer()).SetLogHandler((_, _) => { }).Build())
        {
            foreach (var (key, value) in shuffled)
            {
                producer.Produce(topic, new Message<byte[]?, byte[]?> { Key = key, Value = value }, r =>
                {
                    Assert.False(r.Error.IsError, r.Error.Reason);
                    Interlocked.Increment(ref produced[r.Partition.Value]);
                });
            }
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
        }
        Assert.Equal(shuffled.Count, produced.Sum());

        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(120);
        while (TimeProvider.System.GetUtcNow() < deadline)
        {
            Assert.False(run.IsCompleted, $"the worker stopped: {run.Exception?.GetBaseException()}");
            if (dead.Count == bad.Count
                && await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL WHERE environment = 'fuzz-good'", ct) >= good.Count
                && await clickHouse.ScalarAsync("SELECT sum(events) FROM metrics_1m FINAL WHERE environment = 'fuzz-edge'", ct) >= edge.Count)
            {
                break;
            }
            await Task.Delay(250, ct);
        }
        Assert.False(run.IsCompleted, $"the worker stopped: {run.Exception?.GetBaseException()}");
        var progress = $"consumed {worker.RecordsConsumed} of {shuffled.Count}, written {worker.EventsWritten}, dead-lettered {worker.DeadLettered} (read {dead.Count} of {bad.Count} bad), not ready: {worker.NotReadyReason}; "
            + string.Join(", ", dead.Values.GroupBy(d => d.Failure).Select(g => $"{g.Key} {g.Count()}"));
        Assert.True(worker.NotReadyReason is null, progress);
        Assert.True(dead.Count == bad.Count, progress);
        await stop.CancelAsync();
        await run;
        await stopReading.CancelAsync();
        await reader;

        // Every record exactly once: in calls (by partition and offset) or in the DLQ with a reason.
        var stored = (await clickHouse.QueryAsync("SELECT kafka_partition AS p, kafka_offset AS o FROM calls FINAL", ct))
            .Select(r => (r.GetProperty("p").GetInt32(), r.GetProperty("o").GetInt64())).ToHashSet();
        Assert.Equal(good.Count + edge.Count, stored.Count);
        Assert.Equal(bad.Count, dead.Count);
        Assert.Empty(stored.Intersect(dead.Keys));
        var all = Enumerable.Range(0, Partitions).SelectMany(p => Enumerable.Range(0, (int)produced[p]).Select(o => (p, (long)o))).ToHashSet();
        Assert.True(all.SetEquals(stored.Union(dead.Keys)), "some records are neither stored nor dead-lettered");
        Assert.All(dead.Values, d => Assert.False(string.IsNullOrWhiteSpace(d.Reason)));
        Assert.DoesNotContain(dead.Values, d => d.Failure == "ProcessingError");
        Assert.Contains(dead.Values, d => d.Failure == nameof(DecodeFailure.SchemaMismatch));

        // Good events exact.
        Assert.Equal(good.Count, await clickHouse.ScalarAsync("SELECT count() FROM calls FINAL WHERE environment = 'fuzz-good'", ct));
        Assert.Equal(good.Count, await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL WHERE environment = 'fuzz-good'", ct));
        Assert.Equal(good.Sum(g => g.InputTokens), await clickHouse.ScalarAsync("SELECT sum(input_tokens) FROM metrics_1m FINAL WHERE environment = 'fuzz-good'", ct));

        // Nothing stored beyond its bound; the saturated window stopped at the bound instead of wrapping.
        var max = (await clickHouse.QueryAsync(
            "SELECT max(calls) AS calls, max(input_tokens) AS input, max(output_tokens) AS output, max(cached_input_tokens) AS cached, max(errors) AS errors,"
            + " max(latency_max_ms) AS latency, max(ttft_max_ms) AS ttft, max(cost_usd) AS cost, min(isFinite(cost_usd) AND isFinite(latency_sum_ms) AND isFinite(quality_sum)) AS finite"
            + " FROM metrics_1m FINAL", ct)).Single();
        foreach (var column in new[] { "calls", "input", "output", "cached", "errors" })
        {
            Assert.True(MetricsRowsMax(max, column) <= FieldBounds.MaxWindowSum, $"{column} = {max.GetProperty(column)}");
        }
        Assert.Equal(FieldBounds.MaxWindowSum, await clickHouse.ScalarAsync("SELECT max(input_tokens) FROM metrics_1m FINAL WHERE prompt_version = 'saturate'", ct));
        Assert.True(max.GetProperty("latency").GetDouble() <= FieldBounds.MaxDurationMs * 1.01);
        Assert.True(max.GetProperty("ttft").GetDouble() <= FieldBounds.MaxDurationMs * 1.01);
        Assert.True(max.GetProperty("cost").GetDouble() <= FieldBounds.MaxCostUsd * FieldBounds.MaxWeight * edge.Count);
        Assert.Equal(1, max.GetProperty("finite").GetInt32());
        var calls = (await clickHouse.QueryAsync(
            "SELECT max(latency_ms) AS latency, max(input_tokens) AS input, min(sample_rate) AS rate, max(retry_count) AS retries, max(length(prompt_name)) AS name"
            + " FROM calls FINAL", ct)).Single();
        Assert.True(calls.GetProperty("latency").GetDouble() <= FieldBounds.MaxDurationMs);
        Assert.True(calls.GetProperty("input").GetInt64() <= FieldBounds.MaxTokens);
        Assert.True(calls.GetProperty("rate").GetDouble() >= FieldBounds.MinSampleRate);
        Assert.True(calls.GetProperty("retries").GetInt64() <= FieldBounds.MaxRetryCount);
        Assert.True(calls.GetProperty("name").GetInt64() <= LlmCallValidator.MaxNameLength);
    }

    private static long MetricsRowsMax(System.Text.Json.JsonElement row, string column) =>
        row.GetProperty(column).TryGetInt64(out var v) ? v : long.MaxValue;

    private static void WriteHeader(byte[] record, int schemaId)
    {
        record[0] = 0;
        BinaryPrimitives.WriteInt32BigEndian(record.AsSpan(1, 4), schemaId);
    }

    /// <summary>Serializes values the serializer itself may refuse (an enum out of range) by falling back to garbage with a valid header.</summary>
    private static byte[] SerializeLoose(LlmCallSerializer serializer, LlmCall call)
    {
        try
        {
            return serializer.Serialize(call);
        }
        catch (Exception ex) when (ex is IndexOutOfRangeException or Avro.AvroException or ArgumentException)
        {
            var b = new byte[40];
            WriteHeader(b, SchemaCatalog.LlmCallV1);
            return b;
        }
    }

    private static string Header(Message<byte[]?, byte[]?> m, string name) =>
        m.Headers.TryGetLastBytes(name, out var b) ? Encoding.UTF8.GetString(b) : "";
}
