using System.Text.Json;
using Pipeline.ClickHouse;
using Pipeline.Consumers;

namespace Pipeline.IntegrationTests;

/// <summary>What every producer example in another language must show: its calls land exactly in <c>calls</c> through the real aggregator.</summary>
internal static class ExampleLanding
{
    /// <summary>
    /// Aggregates <paramref name="topic"/> until <paramref name="sent"/> calls are in <c>calls FINAL</c>, then checks
    /// their ids, service, token total (from the example's <paramref name="summary"/>) and stages; nothing dead-lettered.
    /// </summary>
    public static async Task AssertLandsExactlyAsync(ServersFixture servers, ClickHouseHttp clickHouse, string topic, IReadOnlySet<string> sent,
        JsonElement summary, string service, string logName, CancellationToken ct)
    {
        var options = new AggregatorOptions
        {
            Topic = topic, GroupId = "g-" + topic, MetricsTopic = await servers.NewTopicAsync("metrics", 1, ct),
            DeadLetterTopic = await servers.NewTopicAsync("dlq", 1, ct), FlushInterval = TimeSpan.FromMilliseconds(300),
        };
        using var worker = new AggregatorWorker(servers.Kafka, clickHouse, options, TimeProvider.System, new FileLogger(logName));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();
        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(90);
        while (await clickHouse.ScalarAsync("SELECT count() FROM calls FINAL", ct) < sent.Count && worker.DeadLettered == 0)
        {
            Assert.False(run.IsCompleted, "the worker stopped: " + run.Exception?.GetBaseException().Message);
            Assert.True(TimeProvider.System.GetUtcNow() < deadline, $"timed out; {worker.RecordsConsumed} consumed");
            await Task.Delay(200, ct);
        }
        await stop.CancelAsync();
        await run;
        Assert.Equal(0, worker.DeadLettered);
        var rows = await clickHouse.QueryAsync("SELECT toString(event_id) AS id, service, input_tokens, length(stage_names) AS stages FROM calls FINAL", ct);
        Assert.Equal(sent.ToHashSet(StringComparer.Ordinal), rows.Select(r => r.GetProperty("id").GetString()!).ToHashSet(StringComparer.Ordinal));
        Assert.All(rows, r => Assert.Equal(service, r.GetProperty("service").GetString()));
        Assert.Equal(summary.GetProperty("input_tokens").GetInt64(), rows.Sum(r => StoredValues.Count(r, "input_tokens")));
        Assert.All(rows, r => Assert.Equal(2, StoredValues.Count(r, "stages")));
    }
}
