using Pipeline.DevServers;

namespace Pipeline.IntegrationTests;

/// <summary>
/// `pipeline aggregate` and `pipeline alert` run their worker as a hosted service in a generic host: a worker
/// that starts while a server is away waits unready; one that fails stops the host with one error line and a
/// non-zero exit code; SIGTERM drains it and exits 0.
/// </summary>
public sealed class WorkerHostTests(ServersFixture servers)
{
    [Fact]
    public async Task AlertStartedWhileClickHouseAway_WaitsUnready_ThenReady()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var chPort = ClickHouseOutageTests.FreePort();
        var healthPort = ClickHouseOutageTests.FreePort();
        var home = Directory.CreateTempSubdirectory("pipeline-alert-startup-").FullName;
        using var worker = PipelineProcess.Start(
        [
            "alert",
            "--set", $"ClickHouse:Url=http://127.0.0.1:{chPort}/", "--set", $"ClickHouse:User={servers.ClickHouse.User}",
            "--set", $"ClickHouse:Password={servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={clickHouse.Options.Database}",
            "--set", $"Kafka:bootstrap.servers={servers.Bootstrap}", "--set", $"Alerting:MetricsTopic={await servers.NewTopicAsync("metrics", 1, ct)}",
            "--set", $"Alerting:AlertsTopic={await servers.NewTopicAsync("alerts", 1, ct)}", "--set", $"Alerting:GroupId=g-{Guid.NewGuid():N}",
            "--set", $"Metrics:HealthPort={healthPort}",
        ], home);
        try
        {
            using var http = new HttpClient();
            var (status, body) = await PollReadyAsync(http, healthPort, r => r.Body.Contains("waiting", StringComparison.Ordinal), TimeSpan.FromSeconds(20), ct);
            Assert.Equal(503, status);
            Assert.Contains("waiting", body, StringComparison.Ordinal);
            Assert.Contains($"127.0.0.1:{chPort}", body, StringComparison.Ordinal);
            await Task.Delay(TimeSpan.FromSeconds(3), ct);
            Assert.False(worker.HasExited, $"the alert worker exited ({(worker.HasExited ? worker.ExitCode : 0)}) while ClickHouse was away");

            // ClickHouse "comes back" on that port: the worker migrates, restores and consumes.
            using var proxy = new FaultyClickHouseProxy(servers.ClickHouse.Url, chPort);
            // Generous: the next probe is up to 5 s away, and migrating a new database takes a while on a loaded machine.
            (status, body) = await PollReadyAsync(http, healthPort, r => r.Status == 200, TimeSpan.FromSeconds(120), ct);
            Assert.True(status == 200, $"not ready after ClickHouse came back: {body}\n{PipelineProcess.Tail(worker)}");
            Assert.False(worker.HasExited, "the alert worker exited");
            Assert.Equal(1, await clickHouse.ScalarAsync("SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'alerts'", ct));
        }
        finally
        {
            PipelineProcess.Kill9(worker);
            Directory.Delete(home, recursive: true);
        }
    }

    [Fact]
    public async Task AggregateWhoseWorkerFails_StopsTheHost_ExitsOneWithOneErrorLine()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = "missing-" + Guid.NewGuid().ToString("N");
        var home = Directory.CreateTempSubdirectory("pipeline-host-fail-").FullName;
        try
        {
            var result = await PipelineProcess.RunAsync([.. await AggregateAsync(clickHouse, topic, ct), "--set", "Aggregator:MissingTopic=Fail"], home);
            Assert.Equal(1, result.ExitCode);
            var errors = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
            var line = Assert.Single(errors);
            Assert.Contains($"topic {topic} does not exist", line, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", result.Stdout + result.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("stopped:", result.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    [Fact]
    public async Task AggregateOnSigterm_DrainsCommitsAndExitsZero()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 2, ct);
        var scenario = AggregationScenario.Create(300, TimeProvider.System.GetUtcNow().AddMinutes(-3), minutes: 2, seed: 21);
        await AggregationScenario.ProduceAsync(servers, topic, scenario.Events, ct);
        var home = Directory.CreateTempSubdirectory("pipeline-host-term-").FullName;
        using var process = StartCapturing(await AggregateAsync(clickHouse, topic, ct), home, out var stdout);
        try
        {
            var deadline = TimeProvider.System.GetUtcNow().AddSeconds(60);
            // Every window closed and written: nothing holds the commits back.
            while (await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) < scenario.Events.Count)
            {
                Assert.True(TimeProvider.System.GetUtcNow() < deadline, "the events did not arrive");
                Assert.False(process.HasExited, "the worker exited");
                await Task.Delay(200, ct);
            }
            DetachedProcess.Kill(process.Id, 15);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(70));
            await process.WaitForExitAsync(timeout.Token);
            Assert.Equal(0, process.ExitCode);
            Assert.Contains($"stopped: {scenario.Events.Count} events written", stdout.ToString(), StringComparison.Ordinal);
            // Drained: everything consumed was committed, so the group has nothing left to read.
            using var consumer = new Confluent.Kafka.ConsumerBuilder<byte[], byte[]>(servers.Kafka.Consumer("g-" + topic)).Build();
            var committed = consumer.Committed(Enumerable.Range(0, 2).Select(p => new Confluent.Kafka.TopicPartition(topic, p)), TimeSpan.FromSeconds(10));
            var ends = Enumerable.Range(0, 2).Select(p => consumer.QueryWatermarkOffsets(new Confluent.Kafka.TopicPartition(topic, p), TimeSpan.FromSeconds(10)).High.Value).Sum();
            Assert.Equal(ends, committed.Sum(c => c.Offset.Value));
        }
        finally
        {
            if (!process.HasExited) PipelineProcess.Kill9(process);
            Directory.Delete(home, recursive: true);
        }
    }

    private async Task<List<string>> AggregateAsync(Pipeline.ClickHouse.ClickHouseHttp clickHouse, string topic, CancellationToken ct) =>
    [
        "aggregate",
        "--set", $"ClickHouse:Url={servers.ClickHouse.Url}", "--set", $"ClickHouse:User={servers.ClickHouse.User}",
        "--set", $"ClickHouse:Password={servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={clickHouse.Options.Database}",
        "--set", $"Kafka:bootstrap.servers={servers.Bootstrap}", "--set", $"Aggregator:Topic={topic}", "--set", $"Aggregator:GroupId=g-{topic}",
        "--set", $"Aggregator:MetricsTopic={await servers.NewTopicAsync("metrics", 1, ct)}", "--set", $"Aggregator:DeadLetterTopic={await servers.NewTopicAsync("dlq", 1, ct)}",
        "--set", "Aggregator:FlushInterval=200ms", "--set", "Aggregator:Windowing:IdleTimeout=1s",
    ];

    private static System.Diagnostics.Process StartCapturing(IEnumerable<string> args, string home, out System.Text.StringBuilder stdout)
    {
        var process = PipelineProcess.Start(args, home);
        var captured = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) =>
        {
            lock (captured) captured.AppendLine(e.Data);
        };
        stdout = captured;
        return process;
    }

    private static async Task<(int Status, string Body)> PollReadyAsync(HttpClient http, int port, Func<(int Status, string Body), bool> done,
        TimeSpan timeout, CancellationToken ct)
    {
        var deadline = TimeProvider.System.GetUtcNow() + timeout;
        (int, string) last = (0, "");
        while (TimeProvider.System.GetUtcNow() < deadline)
        {
            try
            {
                using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/readyz"), ct);
                last = ((int)response.StatusCode, await response.Content.ReadAsStringAsync(ct));
                if (done(last)) return last;
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            await Task.Delay(200, ct);
        }
        return last;
    }
}
