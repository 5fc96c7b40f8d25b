namespace Pipeline.IntegrationTests;

/// <summary>
/// A window row an older version stored beyond today's bounds (calls of 2^63, cost 9.2e15, a non-finite
/// sum): a restarting aggregator, <c>pipeline top --once</c> and <c>pipeline report</c> all read it without failing.
/// </summary>
public sealed class StoredOutlierTests(ServersFixture servers)
{
    [Fact]
    public async Task OutOfBoundRowFromAnOlderVersion_RestartTopAndReportStillWork()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 1, ct);
        var at = TimeProvider.System.GetUtcNow().AddMinutes(-10);
        var ws = at.ToUnixTimeSeconds() / 60 * 60;
        // What the issue saw stored: calls = 9223372036854775808, cost_usd = 9.2e15, and an infinite latency sum.
        await clickHouse.ExecuteAsync($"""
            INSERT INTO metrics_1m (environment, service, prompt_name, prompt_version, request_model, window_start, window_seconds, revision,
                kafka_partition, calls, events, successes, input_tokens, cost_usd, latency_sum_ms, latency_p95_ms, latency_sketch, ttft_sketch, emitted_at)
            VALUES ('prod', 'svc', 'answer', '1.0', 'gpt-4o', {ws}, 60, 1, 0, 9223372036854775808, 4, 4, 18446744073709551615, 9.2e15, inf, 100, '', '', {ws})
            """, ct);

        // The aggregator's assignment reads that row into its baselines, and still aggregates.
        var scenario = AggregationScenario.Create(300, TimeProvider.System.GetUtcNow().AddMinutes(-1), minutes: 2, seed: 3);
        await AggregationScenario.ProduceAsync(servers, topic, scenario.Events, ct);
        var options = new Pipeline.Consumers.AggregatorOptions
        {
            Topic = topic, GroupId = "g-" + topic, MetricsTopic = await servers.NewTopicAsync("metrics", 1, ct),
            DeadLetterTopic = await servers.NewTopicAsync("dlq", 1, ct), FlushInterval = TimeSpan.FromMilliseconds(200),
            Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1) },
        };
        using (var worker = await WorkerHarness.RunUntilAsync(servers, clickHouse, options,
            async () => await clickHouse.ScalarAsync($"SELECT sum(calls) FROM metrics_1m FINAL WHERE window_start != {ws}", ct) >= scenario.Events.Count,
            TimeSpan.FromSeconds(60), ct))
        {
            Assert.Equal(scenario.Events.Count, worker.EventsWritten);
        }
        Assert.Equal(scenario.Events.Count, await clickHouse.ScalarAsync($"SELECT sum(calls) FROM metrics_1m FINAL WHERE window_start != {ws}", ct));

        var home = Directory.CreateTempSubdirectory("pipeline-outlier-").FullName;
        string[] db =
        [
            "--set", $"ClickHouse:Url={servers.ClickHouse.Url}", "--set", $"ClickHouse:User={servers.ClickHouse.User}",
            "--set", $"ClickHouse:Password={servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={clickHouse.Options.Database}",
        ];
        var top = await PipelineProcess.RunAsync(["top", "--once", .. db], home);
        Assert.True(top.ExitCode == 0, top.Stderr);
        Assert.Contains("answer", top.Stdout, StringComparison.Ordinal);
        var report = await PipelineProcess.RunAsync(["report", "daily", "--out", Path.Combine(home, "r"), .. db], home);
        Assert.True(report.ExitCode == 0, report.Stderr + report.Stdout);
    }
}
