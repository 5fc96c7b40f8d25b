using System.Diagnostics;
using System.Text.Json;
using Confluent.Kafka;
using Pipeline.Schemas;

namespace Pipeline.IntegrationTests;

/// <summary>
/// The TypeScript examples a service team copies (producers/examples/typescript), compiled with tsc and run with
/// Node against the local broker (npm kafkajs and avsc, installed by make deps): events built from the .avsc
/// alone land exactly once in <c>calls</c> through the real aggregator, each series on the partition librdkafka
/// (our SDK) would pick for it, and alerts our worker's serializer writes decode in the subscriber.
/// </summary>
public sealed class TypeScriptExamplesTests(ServersFixture servers)
{
    private static readonly string Examples = Path.Combine(ServersFixture.RepoRoot, "producers", "examples", "typescript");
    private static readonly Lazy<Task<string?>> Compiled = new(CompileAsync);

    [Fact]
    public async Task TypeScriptProducer_EventsFromTheAvscAlone_LandExactlyInCallsOnLibrdkafkasPartitions()
    {
        var ct = TestContext.Current.CancellationToken;
        await SkipUnlessCompiledAsync();
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 3, ct);
        var ids = Path.GetTempFileName();
        try
        {
            var (exit, stdout, stderr) = await RunAsync("produce_calls.js", ["--bootstrap", servers.Bootstrap, "--topic", topic,
                "--count", "400", "--seed", "7", "--service", "ts-svc", "--ids-file", ids], ct);
            Assert.True(exit == 0, $"produce_calls.js exited {exit}: {stderr}");
            using var summary = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
            Assert.Equal(400, summary.RootElement.GetProperty("sent").GetInt32());
            var sent = (await File.ReadAllLinesAsync(ids, ct)).Where(l => l.Length > 0).ToHashSet(StringComparer.Ordinal);
            Assert.Equal(400, sent.Count);

            // Every series where librdkafka's default partitioner (the SDK's, the Python example's) puts its key.
            var placed = PartitionsByKey(topic, 400, ct);
            Assert.True(placed.Count >= 3, $"{placed.Count} series");
            var probe = await servers.NewTopicAsync("probe", 3, ct);
            using (var producer = new ProducerBuilder<byte[], byte[]>(servers.Kafka.Producer()).Build())
            {
                foreach (var (key, partitions) in placed)
                {
                    var result = await producer.ProduceAsync(probe, new Message<byte[], byte[]> { Key = Convert.FromHexString(key), Value = [] }, ct);
                    Assert.Equal([result.Partition.Value], partitions);
                }
            }

            await ExampleLanding.AssertLandsExactlyAsync(servers, clickHouse, topic, sent, summary.RootElement, "ts-svc", "typescript", ct);
        }
        finally
        {
            File.Delete(ids);
        }
    }

    [Fact]
    public async Task TypeScriptSubscriber_DecodesTheAlertsOurWorkerWrites()
    {
        var ct = TestContext.Current.CancellationToken;
        await SkipUnlessCompiledAsync();
        var topic = await servers.NewTopicAsync("alerts", 1, ct);
        var now = DateTimeOffset.FromUnixTimeMilliseconds(TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds());
        var series = new SeriesKey("prod", "svc", "support_answer", "2.0", "gpt-4o-mini");
        var alerts = new[] { AlertState.Firing, AlertState.Resolved }.Select((state, i) => new Alert
        {
            AlertId = "a-" + i, RuleId = "latency_p95_regression", Fingerprint = "fp-1", State = state, Severity = "WARNING", Series = series,
            Metric = "latency_p95", Observed = 2300 + i, Baseline = 850, Threshold = 1700, WindowStart = now.AddMinutes(-5), WindowEnd = now,
            StartedAt = now.AddMinutes(-5), ResolvedAt = state == AlertState.Resolved ? now : null, Summary = "p95 above 2x baseline",
        }).ToList();
        var serializer = new AlertSerializer();
        using (var producer = new ProducerBuilder<byte[], byte[]>(servers.Kafka.Producer()).Build())
        {
            foreach (var a in alerts) producer.Produce(topic, new Message<byte[], byte[]> { Key = a.Series.ToKafkaKey(), Value = serializer.Serialize(a) });
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }
        var (exit, stdout, stderr) = await RunAsync("alerts_subscriber.js", ["--bootstrap", servers.Bootstrap, "--topic", topic,
            "--group", "g-" + topic, "--from-beginning", "--max", "2", "--timeout", "60"], ct);
        Assert.True(exit == 0, $"alerts_subscriber.js exited {exit}: {stderr}");
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        Assert.Equal(["a-0", "a-1"], lines.Select(l => l.GetProperty("alert_id").GetString()));
        Assert.Equal(["FIRING", "RESOLVED"], lines.Select(l => l.GetProperty("state").GetString()));
        Assert.All(lines, l => Assert.Equal("support_answer", l.GetProperty("prompt_name").GetString()));
        Assert.Equal(2301, lines[1].GetProperty("observed").GetDouble());
        Assert.Equal(now, DateTimeOffset.Parse(lines[1].GetProperty("resolved_at").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
    }

    // Hex key -> the partitions its records are on (one, when the producer partitions by key).
    private Dictionary<string, int[]> PartitionsByKey(string topic, int count, CancellationToken ct)
    {
        var settings = servers.Kafka.Consumer("read-" + topic);
        settings.AutoOffsetReset = AutoOffsetReset.Earliest;
        using var consumer = new ConsumerBuilder<byte[], byte[]>(settings).Build();
        consumer.Assign(Enumerable.Range(0, 3).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        var byKey = new Dictionary<string, HashSet<int>>(StringComparer.Ordinal);
        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(30);
        for (var read = 0; read < count && TimeProvider.System.GetUtcNow() < deadline && !ct.IsCancellationRequested;)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is not { Message: { } m } r) continue;
            var key = Convert.ToHexString(m.Key);
            if (!byKey.TryGetValue(key, out var set)) byKey[key] = set = [];
            set.Add(r.Partition.Value);
            read++;
        }
        return byKey.ToDictionary(kv => kv.Key, kv => kv.Value.Order().ToArray(), StringComparer.Ordinal);
    }

    private static async Task SkipUnlessCompiledAsync()
    {
        if (await Compiled.Value is { } reason) Assert.Skip(reason);
    }

    // tsc once per run (about 2 s), so the tests always run what src/ says; null when it compiled.
    private static async Task<string?> CompileAsync()
    {
        if (!Directory.Exists(Path.Combine(Examples, "node_modules", "kafkajs")) || !Directory.Exists(Path.Combine(Examples, "node_modules", "typescript")))
        {
            return $"npm kafkajs, avsc and typescript are not installed in {Examples} (make deps installs them): TypeScript examples not run";
        }
        var (exit, stdout, stderr) = await RunNodeAsync([Path.Combine(Examples, "node_modules", "typescript", "bin", "tsc"), "-p", Examples], CancellationToken.None);
        Assert.True(exit == 0, $"tsc exited {exit}: {stdout}{stderr}");
        return null;
    }

    private static Task<(int Exit, string Stdout, string Stderr)> RunAsync(string script, string[] args, CancellationToken ct) =>
        RunNodeAsync([Path.Combine(Examples, "dist", script), .. args], ct);

    private static async Task<(int Exit, string Stdout, string Stderr)> RunNodeAsync(string[] args, CancellationToken ct)
    {
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Examples };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(120));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}
