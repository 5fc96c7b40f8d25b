namespace Pipeline.IntegrationTests;

/// <summary>
/// `pipeline aggregate` started while ClickHouse is away waits for it (alive, <c>/readyz</c> 503 with the reason)
/// and starts working when it answers, as it would if ClickHouse had left after the start.
/// </summary>
public sealed class WorkerStartupTests(ServersFixture servers)
{
    [Fact]
    public async Task AggregateStartedWhileClickHouseAway_WaitsUnready_ThenAggregates()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 1, ct);
        var scenario = AggregationScenario.Create(200, TimeProvider.System.GetUtcNow().AddMinutes(-3), minutes: 2, seed: 12);
        await AggregationScenario.ProduceAsync(servers, topic, scenario.Events, ct);
        var chPort = ClickHouseOutageTests.FreePort();
        var healthPort = ClickHouseOutageTests.FreePort();
        var home = Directory.CreateTempSubdirectory("pipeline-startup-").FullName;
        using var worker = PipelineProcess.Start(
        [
            "aggregate",
            "--set", $"ClickHouse:Url=http://127.0.0.1:{chPort}/", "--set", $"ClickHouse:User={servers.ClickHouse.User}",
            "--set", $"ClickHouse:Password={servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={clickHouse.Options.Database}",
            "--set", $"Kafka:bootstrap.servers={servers.Bootstrap}", "--set", $"Aggregator:Topic={topic}", "--set", $"Aggregator:GroupId=g-{topic}",
            "--set", $"Aggregator:MetricsTopic={await servers.NewTopicAsync("metrics", 1, ct)}", "--set", $"Aggregator:DeadLetterTopic={await servers.NewTopicAsync("dlq", 1, ct)}",
            "--set", "Aggregator:FlushInterval=200ms", "--set", "Aggregator:Windowing:IdleTimeout=1s", "--set", $"Metrics:HealthPort={healthPort}",
        ], home);
        try
        {
            using var http = new HttpClient();
            string ready = "";
            for (var i = 0; i < 100 && !ready.Contains("waiting", StringComparison.Ordinal); i++)
            {
                await Task.Delay(100, ct);
                try
                {
                    using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{healthPort}/readyz"), ct);
                    Assert.Equal(503, (int)response.StatusCode);
                    ready = await response.Content.ReadAsStringAsync(ct);
                }
                catch (HttpRequestException)
                {
                    // not listening yet
                }
            }
            Assert.Contains("waiting", ready, StringComparison.Ordinal);
            await Task.Delay(TimeSpan.FromSeconds(3), ct);
            Assert.False(worker.HasExited, "the worker exited while ClickHouse was away");

            // ClickHouse "comes back" on that port.
            using var proxy = new FaultyClickHouseProxy(servers.ClickHouse.Url, chPort);
            var deadline = TimeProvider.System.GetUtcNow().AddSeconds(60);
            while (await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) < scenario.Events.Count)
            {
                Assert.True(TimeProvider.System.GetUtcNow() < deadline, "the worker did not start after ClickHouse came back");
                Assert.False(worker.HasExited, "the worker exited");
                await Task.Delay(200, ct);
            }
            await scenario.AssertReconciledAsync(clickHouse, ct);
        }
        finally
        {
            PipelineProcess.Kill9(worker);
        }
    }
}
