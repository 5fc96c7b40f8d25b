using Confluent.Kafka;
using Pipeline.ClickHouse;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.IntegrationTests;

/// <summary>A known set of events and the exact answers the pipeline must reproduce from them.</summary>
internal sealed class AggregationScenario
{
    private static readonly string[] Models = ["gpt-4o", "gpt-4o-mini"];
    private static readonly string[] Versions = ["1.0", "1.1", "2.0"];

    public List<LlmCall> Events { get; } = [];

    /// <summary>Events spread over <paramref name="minutes"/> minutes ending <paramref name="end"/>, six series, varied shapes.</summary>
    public static AggregationScenario Create(int count, DateTimeOffset end, int minutes, int seed)
    {
        var random = new Random(seed);
        var scenario = new AggregationScenario();
        for (var i = 0; i < count; i++)
        {
            var at = end.AddMilliseconds(-random.NextInt64((long)TimeSpan.FromMinutes(minutes).TotalMilliseconds));
            var error = random.NextDouble() < 0.07;
            // Log-normal-ish latency between ~50 ms and ~20 s.
            var latency = Math.Round(Math.Exp(random.NextDouble() * 3 + random.NextDouble() * 3 + 4), 3);
            scenario.Events.Add(Samples.MinimalCall() with
            {
                EventId = Guid.NewGuid(),
                OccurredAt = DateTimeOffset.FromUnixTimeMilliseconds(at.ToUnixTimeMilliseconds()),
                Environment = "prod",
                Service = "svc",
                Provider = "openai",
                Operation = "chat",
                RequestModel = Models[i % 2],
                PromptName = "answer",
                PromptVersion = Versions[i % 3],
                LatencyMs = latency,
                TimeToFirstTokenMs = random.NextDouble() < 0.5 ? latency / 4 : null,
                InputTokens = random.Next(10, 4000),
                OutputTokens = random.Next(1, 800),
                CostUsd = random.NextDouble() < 0.5 ? Math.Round(random.NextDouble() / 100, 6) : null,
                Outcome = error ? Outcome.Error : Outcome.Success,
                ErrorType = error ? (ErrorType)random.Next(0, 9) : null,
                QualityScore = random.NextDouble() < 0.8 ? Math.Round(random.NextDouble(), 3) : null,
                Stages = [new Stage("retrieval", Math.Round(latency * 0.2, 3)), new Stage("generation", Math.Round(latency * 0.7, 3))],
            });
        }
        return scenario;
    }

    public static async Task ProduceAsync(ServersFixture servers, string topic, IEnumerable<LlmCall> events, CancellationToken ct)
    {
        var serializer = new LlmCallSerializer();
        using var producer = new ProducerBuilder<byte[], byte[]>(servers.Kafka.Producer()).Build();
        foreach (var e in events)
        {
            producer.Produce(topic, new Message<byte[], byte[]> { Key = SeriesKey.Of(e).ToKafkaKey(), Value = serializer.Serialize(e) });
        }
        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
        ct.ThrowIfCancellationRequested();
    }

    /// <summary>Exact per-window expectations, the way the pipeline defines them (each event_id once).</summary>
    public Dictionary<(string Version, string Model, DateTimeOffset Window), Expected> ExpectedWindows()
    {
        return Events.DistinctBy(e => e.EventId)
            .GroupBy(e => (e.PromptVersion, e.RequestModel, Window: new DateTimeOffset(e.OccurredAt.UtcTicks - e.OccurredAt.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero)))
            .ToDictionary(g => g.Key, g => new Expected(
                g.LongCount(),
                g.LongCount(e => e.Outcome == Outcome.Error),
                g.Sum(e => e.InputTokens),
                g.Sum(e => e.OutputTokens),
                g.Sum(e => Pipeline.Aggregation.PriceTable.Default.CostOf(e) ?? 0),
                g.Count(e => e.QualityScore is not null),
                g.Sum(e => e.QualityScore ?? 0)));
    }

    public sealed record Expected(long Calls, long Errors, long InputTokens, long OutputTokens, double Cost, long QualityCount, double QualitySum);

    /// <summary>Asserts every window in metrics_1m FINAL equals the exact expectation, and percentiles are within 1% of quantileExact.</summary>
    public async Task AssertReconciledAsync(ClickHouseHttp clickHouse, CancellationToken ct)
    {
        var distinct = Events.Select(e => e.EventId).Distinct().Count();
        Assert.Equal(distinct, await clickHouse.ScalarAsync("SELECT count() FROM calls FINAL", ct));
        var expected = ExpectedWindows();
        var rows = await clickHouse.QueryAsync("""
            SELECT prompt_version, request_model, toUInt32(window_start) AS ws, calls, errors, input_tokens, output_tokens, cost_usd,
                   quality_count, quality_sum, latency_p95_ms, latency_p99_ms, revision
            FROM metrics_1m FINAL
            """, ct);
        Assert.Equal(expected.Count, rows.Count);
        var exactQuantiles = (await clickHouse.QueryAsync("""
            SELECT prompt_version, request_model, toUInt32(toStartOfMinute(occurred_at)) AS ws,
                   quantileExact(0.95)(latency_ms) AS p95, quantileExact(0.99)(latency_ms) AS p99
            FROM calls FINAL GROUP BY prompt_version, request_model, ws
            """, ct)).ToDictionary(r => (r.GetProperty("prompt_version").GetString()!, r.GetProperty("request_model").GetString()!, r.GetProperty("ws").GetInt64()));
        foreach (var r in rows)
        {
            var version = r.GetProperty("prompt_version").GetString()!;
            var model = r.GetProperty("request_model").GetString()!;
            var ws = r.GetProperty("ws").GetInt64();
            var e = expected[(version, model, DateTimeOffset.FromUnixTimeSeconds(ws))];
            var where = $"{version}/{model}@{DateTimeOffset.FromUnixTimeSeconds(ws):HH:mm}";
            Assert.True(e.Calls == r.GetProperty("calls").GetInt64(), $"calls of {where}: expected {e.Calls}, got {r.GetProperty("calls").GetInt64()}");
            Assert.Equal(e.Errors, r.GetProperty("errors").GetInt64());
            Assert.Equal(e.InputTokens, r.GetProperty("input_tokens").GetInt64());
            Assert.Equal(e.OutputTokens, r.GetProperty("output_tokens").GetInt64());
            Assert.Equal(e.Cost, r.GetProperty("cost_usd").GetDouble(), 9);
            Assert.Equal(e.QualityCount, r.GetProperty("quality_count").GetInt64());
            Assert.Equal(e.QualitySum, r.GetProperty("quality_sum").GetDouble(), 9);
            var exact = exactQuantiles[(version, model, ws)];
            foreach (var (column, q) in new[] { ("latency_p95_ms", "p95"), ("latency_p99_ms", "p99") })
            {
                var exactValue = exact.GetProperty(q).GetDouble();
                var sketchValue = r.GetProperty(column).GetDouble();
                Assert.True(Math.Abs(sketchValue - exactValue) <= 0.01 * exactValue + 1e-9,
                    $"{q} of {where}: sketch {sketchValue}, quantileExact {exactValue}");
            }
        }
    }
}
