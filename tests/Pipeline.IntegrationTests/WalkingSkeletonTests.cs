using System.Text.Json;
using Pipeline.Consumers;
using Pipeline.Producers;
using Pipeline.Tests;

namespace Pipeline.IntegrationTests;

/// <summary>One event, Avro over the real broker, into the real ClickHouse, checked field by field.</summary>
public sealed class WalkingSkeletonTests(ServersFixture servers)
{
    [Fact]
    public async Task OneEvent_TravelsProducerKafkaConsumerClickHouse_EveryFieldIntact()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 4, ct);
        var now = DateTimeOffset.FromUnixTimeMilliseconds(TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds());
        var call = Samples.FullCall(now) with { EventId = Guid.NewGuid() };

        using (var producer = new LlmCallProducer(servers.Kafka.All, topic))
        {
            Assert.True(producer.Track(call));
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
            Assert.Equal(1, producer.Delivered);
        }

        var options = new AggregatorOptions { Topic = topic, GroupId = "g-" + topic, FlushInterval = TimeSpan.FromMilliseconds(100) };
        using var worker = await WorkerHarness.RunUntilAsync(servers, clickHouse, options,
            async () => await clickHouse.ScalarAsync("SELECT count() FROM calls", ct) >= 1, TimeSpan.FromSeconds(60), ct);

        var rows = await clickHouse.QueryAsync("SELECT * FROM calls FINAL", ct);
        var row = Assert.Single(rows);
        Assert.Equal(call.EventId.ToString(), S(row, "event_id"));
        Assert.Equal(now.ToUnixTimeMilliseconds(), row.GetProperty("occurred_at_ms").GetInt64());
        Assert.Equal(now.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture), S(row, "occurred_at"));
        Assert.Equal("prod", S(row, "environment"));
        Assert.Equal("support-bot", S(row, "service"));
        Assert.Equal("chat", S(row, "operation"));
        Assert.Equal("openai", S(row, "provider"));
        Assert.Equal("gpt-4o", S(row, "request_model"));
        Assert.Equal("gpt-4o-2024-08-06", S(row, "response_model"));
        Assert.Equal("answer_ticket", S(row, "prompt_name"));
        Assert.Equal("2.1.0", S(row, "prompt_version"));
        Assert.Equal("req-42", S(row, "request_id"));
        Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", S(row, "trace_id"));
        Assert.Equal(["ab_variant", "cohort", "feature"], Strings(row, "tag_keys"));
        Assert.Equal(["B", "enterprise", "tickets"], Strings(row, "tag_values"));
        Assert.Equal(1234.5, row.GetProperty("latency_ms").GetDouble());
        Assert.Equal(210.25, row.GetProperty("time_to_first_token_ms").GetDouble());
        Assert.Equal(1500, row.GetProperty("input_tokens").GetInt64());
        Assert.Equal(320, row.GetProperty("output_tokens").GetInt64());
        Assert.Equal(1024, row.GetProperty("cached_input_tokens").GetInt64());
        Assert.Equal(0.0123, row.GetProperty("cost_usd").GetDouble(), 12);
        Assert.Equal("ERROR", S(row, "outcome"));
        Assert.Equal("RATE_LIMITED", S(row, "error_type"));
        Assert.Equal("rate limited: retry after 2s", S(row, "error_message"));
        Assert.Equal(429, row.GetProperty("http_status").GetInt32());
        Assert.Equal(0.75, row.GetProperty("quality_score").GetDouble());
        Assert.Equal(2, row.GetProperty("retry_count").GetInt32());
        Assert.Equal(1, row.GetProperty("cache_hit").GetInt32());
        Assert.Equal(["retrieval", "generation"], Strings(row, "stage_names"));
        Assert.Equal([150.5, 1010.0], row.GetProperty("stage_durations_ms").EnumerateArray().Select(e => e.GetDouble()).ToArray());
        Assert.Equal(["output_chars", "user_feedback"], Strings(row, "custom_keys"));
        Assert.Equal([1840.0, 1.0], row.GetProperty("custom_values").EnumerateArray().Select(e => e.GetDouble()).ToArray());
        Assert.Equal(0.5, row.GetProperty("sample_rate").GetDouble());
        Assert.Equal(0, row.GetProperty("kafka_offset").GetInt64());
        Assert.Equal(1, worker.EventsWritten);
        Assert.Equal(0, worker.DeadLettered);
    }

    [Fact]
    public async Task Replay_SameEventsTwice_CountsOnceWithFinal()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 3, ct);
        var now = TimeProvider.System.GetUtcNow();
        var calls = Enumerable.Range(0, 200).Select(i => Samples.MinimalCall() with
        {
            EventId = Guid.NewGuid(), OccurredAt = now.AddSeconds(-i), PromptName = "p" + (i % 7),
        }).ToList();
        using (var producer = new LlmCallProducer(servers.Kafka.All, topic))
        {
            // Every event twice, as an at-least-once producer retry would.
            foreach (var c in calls.Concat(calls))
            {
                producer.Track(c);
            }
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }
        // Two different consumer groups read the whole topic: every row is written four times.
        foreach (var group in new[] { "a-", "b-" })
        {
            var options = new AggregatorOptions { Topic = topic, GroupId = group + topic, FlushInterval = TimeSpan.FromMilliseconds(100) };
            var expected = group == "a-" ? 400 : 800;
            using var _ = await WorkerHarness.RunUntilAsync(servers, clickHouse, options,
                async () => await clickHouse.ScalarAsync("SELECT count() FROM calls", ct) >= expected, TimeSpan.FromSeconds(60), ct);
        }
        Assert.Equal(800, await clickHouse.ScalarAsync("SELECT count() FROM calls", ct));
        Assert.Equal(200, await clickHouse.ScalarAsync("SELECT count() FROM calls FINAL", ct));
        Assert.Equal(200, await clickHouse.ScalarAsync("SELECT uniqExact(event_id) FROM calls", ct));
    }

    private static string? S(JsonElement row, string name) => row.GetProperty(name).GetString();

    private static string[] Strings(JsonElement row, string name) =>
        row.GetProperty(name).EnumerateArray().Select(e => e.GetString()!).ToArray();
}
