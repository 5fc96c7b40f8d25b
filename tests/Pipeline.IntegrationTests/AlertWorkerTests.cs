using Pipeline.Consumers;
using Pipeline.LoadGen;
using Pipeline.Schemas;

namespace Pipeline.IntegrationTests;

/// <summary>The alert worker as a real process, killed with SIGKILL between FIRING and RESOLVED.</summary>
public sealed class AlertWorkerTests(ServersFixture servers)
{
    [Fact]
    public async Task Kill9BetweenFiringAndResolved_ExactlyOneFiringAndOneResolved()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var calls = await servers.NewTopicAsync("calls", 4, ct);
        var metrics = await servers.NewTopicAsync("metrics", 2, ct);
        var alertsTopic = await servers.NewTopicAsync("alerts", 1, ct);
        var aggregator = new AggregatorOptions
        {
            Topic = calls, GroupId = "g-" + calls, MetricsTopic = metrics, DeadLetterTopic = await servers.NewTopicAsync("dlq", 1, ct),
            FlushInterval = TimeSpan.FromMilliseconds(200), Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1) },
        };
        var scenario = Scenario.All["release-regression"];
        var end = TimeProvider.System.GetUtcNow().AddMinutes(-3);
        var events = scenario.Generate(end, seed: 3).ToList();
        // After the release, before the rollback resolves it; on a minute boundary, so no window is cut in two
        // (a half-filled minute closed by the idle timeout is a real traffic drop, not what this test is about).
        var firstAt = events.First().OccurredAt;
        var split = new DateTimeOffset(firstAt.UtcTicks - firstAt.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero).AddMinutes(66);

        await AggregationScenario.ProduceAsync(servers, calls, events.Where(e => e.OccurredAt < split), ct);
        using (await WorkerHarness.RunUntilAsync(servers, clickHouse, aggregator,
            // Every window of 1.0's hour and the first windows of 2.0 (partitions progress independently).
            async () => await clickHouse.ScalarAsync("SELECT countIf(prompt_name = 'support_answer' AND prompt_version = '1.0') >= 60 AND countIf(prompt_version = '2.0') >= 3 FROM metrics_1m FINAL", ct) == 1,
            TimeSpan.FromSeconds(60), ct)) { }

        string[] args =
        [
            "alert",
            "--set", $"ClickHouse:Url={servers.ClickHouse.Url}", "--set", $"ClickHouse:User={servers.ClickHouse.User}",
            "--set", $"ClickHouse:Password={servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={clickHouse.Options.Database}",
            "--set", $"Kafka:bootstrap.servers={servers.Bootstrap}", "--set", "Kafka:session.timeout.ms=6000",
            "--set", $"Alerting:MetricsTopic={metrics}", "--set", $"Alerting:AlertsTopic={alertsTopic}", "--set", $"Alerting:GroupId=g-{metrics}",
        ];
        var home = Directory.CreateTempSubdirectory("pipeline-alert-").FullName;
        using (var first = PipelineProcess.Start(args, home))
        {
            try
            {
                await WaitAsync(async () => await clickHouse.ScalarAsync("SELECT count() FROM alerts FINAL WHERE state = 'FIRING'", ct) >= 1, ct);
                // The release raises several rules in the same minute: kill once they are all written, so the
                // kill falls between FIRING and RESOLVED rather than between one rule's topic and table writes.
                double seen = -1, now;
                while ((now = await clickHouse.ScalarAsync("SELECT count() FROM alerts FINAL WHERE state = 'FIRING'", ct)) != seen)
                {
                    seen = now;
                    await Task.Delay(3000, ct);
                }
            }
            finally
            {
                PipelineProcess.Kill9(first);
            }
        }

        await AggregationScenario.ProduceAsync(servers, calls, events.Where(e => e.OccurredAt >= split), ct);
        using (await WorkerHarness.RunUntilAsync(servers, clickHouse, aggregator,
            async () => await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= events.Count, TimeSpan.FromSeconds(60), ct)) { }
        using (var second = PipelineProcess.Start(args, home))
        {
            try
            {
                await WaitAsync(async () => await clickHouse.ScalarAsync("SELECT count() FROM alerts FINAL WHERE state = 'RESOLVED'", ct) >= 1, ct);
                await Task.Delay(2000, ct); // room for a duplicate to show up, if there were one
            }
            finally
            {
                PipelineProcess.Kill9(second);
            }
        }
        Directory.Delete(home, recursive: true);

        var all = await clickHouse.QueryAsync("SELECT state, rule_id, window_end, summary FROM alerts FINAL ORDER BY window_end", ct);
        var message = string.Join("\n", all.Select(r => r.GetRawText()));
        // The release raises several latency rules; each incident is one FIRING and one RESOLVED, nothing repeated.
        var rows = await clickHouse.QueryAsync("SELECT alert_id, rule_id, state FROM alerts FINAL ORDER BY rule_id, state", ct);
        var byRule = rows.GroupBy(r => r.GetProperty("rule_id").GetString()!).ToDictionary(g => g.Key, g => g.ToList());
        Assert.True(byRule.ContainsKey("latency_p95_regression"), message);
        foreach (var (rule, incident) in byRule)
        {
            Assert.True(incident.Count == 2, $"{rule}:\n{message}");
            Assert.Equal("FIRING", incident[0].GetProperty("state").GetString());
            Assert.Equal("RESOLVED", incident[1].GetProperty("state").GetString());
            Assert.Equal(incident[0].GetProperty("alert_id").GetString(), incident[1].GetProperty("alert_id").GetString());
        }
        Assert.All(byRule.Keys, r => Assert.StartsWith("latency_", r, StringComparison.Ordinal));

        var onTopic = ReadAlerts(alertsTopic, ct);
        Assert.Equal(rows.Count, onTopic.Select(a => (a.AlertId, a.State)).Distinct().Count());
        Assert.Equal(byRule.Count, onTopic.Count(a => a.State == AlertState.Resolved));
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, CancellationToken ct)
    {
        for (var i = 0; i < 300 && !await condition(); i++)
        {
            await Task.Delay(200, ct);
        }
        Assert.True(await condition(), "condition not reached in 60 s");
    }

    private List<Alert> ReadAlerts(string topic, CancellationToken ct) => AlertTopic.ReadAll(servers, topic, ct);
}
