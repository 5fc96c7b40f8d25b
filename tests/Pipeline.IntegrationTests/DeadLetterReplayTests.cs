using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Pipeline.Consumers;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.IntegrationTests;

/// <summary>
/// The way back from the DLQ (<c>pipeline dlq</c>): records dead-lettered for a setting are replayed after the
/// setting is fixed and land exactly once, however often they are replayed; list groups, show filters.
/// </summary>
public sealed class DeadLetterReplayTests(ServersFixture servers) : IDisposable
{
    private readonly string _home = Directory.CreateTempSubdirectory("pipeline-dlq-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_home, recursive: true);
        }
        catch (IOException)
        {
            // Harmless leftovers in the temp folder.
        }
    }

    [Fact]
    public async Task Replay_AfterRaisingMaxEventAge_OldEventsLandOnce_EvenWhenReplayedTwice()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 2, ct);
        var dlq = await servers.NewTopicAsync("dlq", 2, ct);
        var serializer = new LlmCallSerializer();
        var now = TimeProvider.System.GetUtcNow();
        // Ten minutes old, so the windows close as soon as the partitions go idle.
        var good = Enumerable.Range(0, 30).Select(i => Call(i, now.AddMinutes(-10).AddSeconds(-i))).ToList();
        // Three days old: too old for MaxEventAge = 1 day, fine once it is raised to 7 days.
        var old = Enumerable.Range(0, 10).Select(i => Call(100 + i, now.AddDays(-3).AddSeconds(-i))).ToList();
        var validBytes = serializer.Serialize(good[0]);
        byte[][] unknownSchema = [[0, 0, 0, 0x7f, 0x7f, .. validBytes[5..]], [0, 0, 0, 0x7f, 0x7e, .. validBytes[5..]]];
        var nan = serializer.Serialize(Call(200, now.AddMinutes(-10)) with { LatencyMs = double.NaN });

        using (var producer = new ProducerBuilder<byte[]?, byte[]>(servers.Kafka.Producer()).Build())
        {
            foreach (var call in good.Concat(old))
            {
                await producer.ProduceAsync(topic, new Message<byte[]?, byte[]> { Key = SeriesKey.Of(call).ToKafkaKey(), Value = serializer.Serialize(call) }, ct);
            }
            foreach (var bytes in unknownSchema.Append(nan))
            {
                await producer.ProduceAsync(topic, new Message<byte[]?, byte[]> { Key = SeriesKey.Of(good[0]).ToKafkaKey(), Value = bytes }, ct);
            }
        }
        const int deadLettered = 10 + 2 + 1;

        var options = new AggregatorOptions
        {
            Topic = topic, DeadLetterTopic = dlq, MetricsTopic = await servers.NewTopicAsync("metrics", 1, ct), GroupId = "g-" + topic,
            FlushInterval = TimeSpan.FromMilliseconds(100), Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1) },
            MaxEventAge = TimeSpan.FromDays(1),
        };
        using (var first = await WorkerHarness.RunUntilAsync(servers, clickHouse, options,
            async w => w.RecordsConsumed >= good.Count + deadLettered && await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= good.Count,
            TimeSpan.FromSeconds(60), ct))
        {
            Assert.Equal(good.Count, first.EventsWritten);
            Assert.Equal(deadLettered, first.DeadLettered);
        }
        Assert.Equal(good.Count, await clickHouse.ScalarAsync("SELECT count() FROM calls FINAL", ct));

        // list: grouped by class and the reason's field; show-style filter picks the old events.
        var dlqTopic = new DeadLetterTopic(servers.Kafka, dlq, topic);
        var all = dlqTopic.ReadToEnd(ct).ToList();
        Assert.Equal(deadLettered, all.Count);
        var groups = DeadLetterTopic.Summarise(all);
        Assert.Equal(3, groups.Count);
        Assert.Equal(("InvalidField", "occurred_at", 10L), (groups[0].Failure, groups[0].Reason, groups[0].Count));
        Assert.Equal(("UnknownSchemaId", 2L), (groups[1].Failure, groups[1].Count));
        Assert.Contains("N", groups[1].Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("32639", groups[1].Reason, StringComparison.Ordinal);
        Assert.Equal(("InvalidField", "latency_ms", 1L), (groups[2].Failure, groups[2].Reason, groups[2].Count));
        var filter = new DeadLetterFilter { Failure = "invalidfield", Reason = "OCCURRED_AT" };
        var selected = all.Where(filter.Matches).ToList();
        Assert.Equal(old.Select(c => c.EventId).Order(), selected.Select(d => d.EventId!.Value).Order());
        Assert.All(all.Where(d => d.Failure == "UnknownSchemaId"), d => Assert.Null(d.EventId));

        // Dry run: counts, sends nothing.
        var before = HighWatermarks(topic, 2);
        var dry = dlqTopic.Replay(filter, dryRun: true, ct);
        Assert.Equal((13L, 10L, 10L, 0L, 0L), (dry.Read, dry.Matched, dry.Sent, dry.Duplicates, dry.Failed));
        Assert.Equal(before, HighWatermarks(topic, 2));

        // The fix: a longer MaxEventAge. Replay twice (an operator who was not sure the first one worked).
        var replayed = dlqTopic.Replay(filter, dryRun: false, ct);
        Assert.Equal((10L, 3L, 0L, 0L), (replayed.Sent, replayed.NotMatched, replayed.Duplicates, replayed.Failed));
        Assert.Equal(10L, replayed.ByTarget[topic]);
        var again = dlqTopic.Replay(filter, dryRun: false, ct);
        Assert.Equal(10L, again.Sent);
        var after = HighWatermarks(topic, 2);
        Assert.Equal(20L, after.Sum() - before.Sum());

        // Replayed records carry their DLQ address and went back to the partition they came from.
        var copies = ReadRange(topic, before, after);
        Assert.Equal(20, copies.Count);
        var byAddress = all.ToDictionary(d => d.Address);
        foreach (var (partition, message) in copies)
        {
            var from = Header(message, DeadLetterTopic.ReplayedFromHeader);
            Assert.True(byAddress.TryGetValue(from, out var original), from);
            Assert.Equal(original.SourceAddress!.Value.Partition, partition);
            Assert.Equal(original.Value, message.Value);
            Assert.Equal(original.Key, message.Key);
        }

        var fixedOptions = new AggregatorOptions
        {
            Topic = options.Topic, DeadLetterTopic = options.DeadLetterTopic, MetricsTopic = options.MetricsTopic, GroupId = options.GroupId,
            FlushInterval = options.FlushInterval, Windowing = options.Windowing, MaxEventAge = TimeSpan.FromDays(7),
        };
        var total = good.Count + old.Count;
        using (var second = await WorkerHarness.RunUntilAsync(servers, clickHouse, fixedOptions,
            async w => w.RecordsConsumed >= 20 && await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= total,
            TimeSpan.FromSeconds(60), ct))
        {
            Assert.Equal(0, second.DeadLettered);
        }
        // Exactly once: each old event once in calls and once in the window counts, whatever the replays did.
        Assert.Equal(total, await clickHouse.ScalarAsync("SELECT count() FROM calls FINAL", ct));
        Assert.Equal(total, await clickHouse.ScalarAsync("SELECT uniqExact(event_id) FROM calls", ct));
        Assert.Equal(old.Count, await clickHouse.ScalarAsync(
            $"SELECT count() FROM calls FINAL WHERE occurred_at < toDateTime({now.AddDays(-1).ToUnixTimeSeconds()})", ct));
        Assert.Equal(total, await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct));
        // Nothing new was dead-lettered: the DLQ still holds the 13 records, the 3 unfixed ones among them.
        Assert.Equal(deadLettered, dlqTopic.ReadToEnd(ct).Count());
    }

    [Fact]
    public async Task Cli_ListGroupsAndSince_ShowFilters_ReplayDryRun()
    {
        var ct = TestContext.Current.CancellationToken;
        var source = await servers.NewTopicAsync("calls", 3, ct);
        var dlq = await servers.NewTopicAsync("dlq", 2, ct);
        var serializer = new LlmCallSerializer();
        var now = TimeProvider.System.GetUtcNow();
        var records = new List<(int Partition, string Failure, string Reason, DateTimeOffset At, byte[] Value)>
        {
            (0, "InvalidField", "occurred_at: 2026-01-01T00:00:00Z is more than 30.00:00:00 in the past", now.AddMinutes(-30), serializer.Serialize(Call(1, now))),
            (1, "InvalidField", "occurred_at: 2026-01-02T00:00:00Z is more than 30.00:00:00 in the past", now.AddMinutes(-20), serializer.Serialize(Call(2, now))),
            (0, "InvalidField", "latency_ms: NaN is not a finite number", now.AddMinutes(-10), serializer.Serialize(Call(3, now))),
            (1, "TooShort", "record of 2 bytes is shorter than the 5-byte Confluent header", now.AddMinutes(-5), [0, 0]),
            (0, "TooShort", "record of 3 bytes is shorter than the 5-byte Confluent header", now.AddHours(-5), [0, 0, 0]),
        };
        using (var producer = new ProducerBuilder<byte[]?, byte[]>(servers.Kafka.Producer()).Build())
        {
            var i = 0;
            foreach (var r in records)
            {
                await producer.ProduceAsync(new TopicPartition(dlq, r.Partition), new Message<byte[]?, byte[]>
                {
                    Key = Encoding.UTF8.GetBytes("k" + i),
                    Value = r.Value,
                    Timestamp = new Timestamp(r.At),
                    Headers = new Headers
                    {
                        { AggregatorWorker.FailureHeader, Encoding.UTF8.GetBytes(r.Failure) },
                        { AggregatorWorker.ReasonHeader, Encoding.UTF8.GetBytes(r.Reason) },
                        { AggregatorWorker.SourceHeader, Encoding.UTF8.GetBytes($"{source}/{i % 3}/{1000 + i}") },
                    },
                }, ct);
                i++;
            }
        }
        string[] settings = ["--set", $"Kafka:bootstrap.servers={servers.Bootstrap}", "--set", $"Aggregator:DeadLetterTopic={dlq}",
            "--set", $"Aggregator:Topic={source}", "--set", $"Local:RunDir={_home}"];

        var list = await RunAsync(["dlq", "list", "--json", .. settings]);
        Assert.True(list.ExitCode == 0, list.Stderr + list.Stdout);
        var groups = JsonLines(list.Stdout);
        Assert.Equal(3, groups.Count);
        Assert.Equal(("InvalidField", "occurred_at", 2), Group(groups[0]));
        Assert.Equal(("TooShort", "record of N bytes is shorter than the N-byte Confluent header", 2), Group(groups[1]));
        Assert.Equal(("InvalidField", "latency_ms", 1), Group(groups[2]));
        Assert.Equal(records[0].At.ToUnixTimeMilliseconds(), groups[0].GetProperty("first").GetDateTimeOffset().ToUnixTimeMilliseconds());
        Assert.Equal(records[1].At.ToUnixTimeMilliseconds(), groups[0].GetProperty("last").GetDateTimeOffset().ToUnixTimeMilliseconds());

        var recent = JsonLines((await RunAsync(["dlq", "list", "--since", "2h", "--json", .. settings])).Stdout);
        Assert.Equal(("TooShort", "record of N bytes is shorter than the N-byte Confluent header", 1), Group(recent.Single(g => g.GetProperty("failure").GetString() == "TooShort")));

        var table = await RunAsync(["dlq", "list", .. settings]);
        Assert.True(table.ExitCode == 0, table.Stderr);
        Assert.Contains("occurred_at", table.Stdout, StringComparison.Ordinal);
        Assert.Contains("5 dead letters", table.Stdout, StringComparison.Ordinal);

        var shown = JsonLines((await RunAsync(["dlq", "show", "--failure", "InvalidField", "--reason", "occurred_at", "--json", .. settings])).Stdout);
        Assert.Equal([Call(1, now).EventId, Call(2, now).EventId], shown.Select(s => s.GetProperty("event_id").GetGuid()));
        Assert.Equal($"{source}/0/1000", shown[0].GetProperty("source").GetString());
        Assert.Equal($"{dlq}/1/0", shown[1].GetProperty("dlq").GetString());

        var limited = JsonLines((await RunAsync(["dlq", "show", "--limit", "2", "--json", .. settings])).Stdout);
        Assert.Equal(["latency_ms: NaN is not a finite number", records[3].Reason], limited.Select(s => s.GetProperty("reason").GetString()));
        var tooShort = JsonLines((await RunAsync(["dlq", "show", "--failure", "TooShort", "--json", .. settings])).Stdout);
        Assert.All(tooShort, s => Assert.Equal(JsonValueKind.Null, s.GetProperty("event_id").ValueKind));

        var dry = await RunAsync(["dlq", "replay", "--failure", "InvalidField", "--from", "45m", "--to", "15m", "--dry-run", .. settings]);
        Assert.True(dry.ExitCode == 0, dry.Stderr + dry.Stdout);
        Assert.Contains("would send 2", dry.Stdout, StringComparison.Ordinal);
        Assert.Contains("skipped 3", dry.Stdout, StringComparison.Ordinal);
        Assert.Equal([0L, 0L, 0L], HighWatermarks(source, 3));

        var bad = await RunAsync(["dlq", "replay", "--from", "last tuesday", .. settings]);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--from", bad.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_NoSourceHeader_GoesToTheFallbackTopic_ASourceDeadLetteredTwice_IsSentOnce()
    {
        var ct = TestContext.Current.CancellationToken;
        var source = await servers.NewTopicAsync("calls", 2, ct);
        var fallback = await servers.NewTopicAsync("fallback", 1, ct);
        var dlq = await servers.NewTopicAsync("dlq", 1, ct);
        using (var producer = new ProducerBuilder<byte[]?, byte[]>(servers.Kafka.Producer()).Build())
        {
            foreach (var (value, sourceHeader) in new (byte, string?)[] { (1, $"{source}/1/7"), (2, $"{source}/1/7"), (3, null), (4, "not-an-address") })
            {
                var headers = new Headers { { AggregatorWorker.FailureHeader, "MalformedAvro"u8.ToArray() }, { AggregatorWorker.ReasonHeader, "x"u8.ToArray() } };
                if (sourceHeader is not null) headers.Add(AggregatorWorker.SourceHeader, Encoding.UTF8.GetBytes(sourceHeader));
                await producer.ProduceAsync(dlq, new Message<byte[]?, byte[]> { Key = [value], Value = [value], Headers = headers }, ct);
            }
        }
        var result = new DeadLetterTopic(servers.Kafka, dlq, fallback).Replay(new DeadLetterFilter(), dryRun: false, ct);
        Assert.Equal((4L, 4L, 3L, 1L, 0L), (result.Read, result.Matched, result.Sent, result.Duplicates, result.Failed));
        Assert.Equal(1L, result.ByTarget[source]);
        Assert.Equal(2L, result.ByTarget[fallback]);
        Assert.Equal([0L, 1L], HighWatermarks(source, 2));
        var back = ReadRange(fallback, [0], [2]);
        Assert.Equal([$"{dlq}/0/2", $"{dlq}/0/3"], back.Select(m => Header(m.Message, DeadLetterTopic.ReplayedFromHeader)));
        Assert.Equal([[3], [4]], back.Select(m => m.Message.Value));
    }

    private static LlmCall Call(int i, DateTimeOffset at) =>
        Samples.MinimalCall() with { EventId = new Guid(i, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8]), OccurredAt = at, PromptVersion = (i % 4).ToString(System.Globalization.CultureInfo.InvariantCulture) };

    private static (string?, string?, int) Group(JsonElement g) =>
        (g.GetProperty("failure").GetString(), g.GetProperty("reason").GetString(), g.GetProperty("count").GetInt32());

    private static List<JsonElement> JsonLines(string stdout) =>
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

    private Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string[] args) => PipelineProcess.RunAsync(args, _home);

    private long[] HighWatermarks(string topic, int partitions)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(servers.Kafka.Consumer("marks")).Build();
        return Enumerable.Range(0, partitions).Select(p => consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10)).High.Value).ToArray();
    }

    private List<(int Partition, Message<byte[]?, byte[]?> Message)> ReadRange(string topic, long[] from, long[] to)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(servers.Kafka.Consumer("read-" + Guid.NewGuid().ToString("N"))).Build();
        consumer.Assign(from.Select((o, p) => new TopicPartitionOffset(topic, p, o)));
        var expected = to.Sum() - from.Sum();
        var messages = new List<(int, Message<byte[]?, byte[]?>)>();
        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(30);
        while (messages.Count < expected && TimeProvider.System.GetUtcNow() < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false, Message: { } m } r)
            {
                messages.Add((r.Partition.Value, m));
            }
        }
        return messages;
    }

    private static string Header(Message<byte[]?, byte[]?> m, string name) =>
        m.Headers.TryGetLastBytes(name, out var b) ? Encoding.UTF8.GetString(b) : "";
}
