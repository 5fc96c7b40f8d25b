using System.Diagnostics;
using System.Text.Json;
using Confluent.Kafka;
using Pipeline.Schemas;

namespace Pipeline.IntegrationTests;

/// <summary>
/// The Python examples a service team copies (producers/examples/python), run with Debian's python3-confluent-kafka
/// and python3-avro against the local broker: events built from the .avsc alone land exactly once in
/// <c>calls</c> through the real aggregator, and alerts our worker's serializer writes decode in the subscriber.
/// </summary>
public sealed class PythonExamplesTests(ServersFixture servers)
{
    private static readonly string Examples = Path.Combine(ServersFixture.RepoRoot, "producers", "examples", "python");

    [Fact]
    public async Task PythonProducer_EventsFromTheAvscAlone_LandExactlyInCalls()
    {
        var ct = TestContext.Current.CancellationToken;
        SkipWithoutPython();
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 3, ct);
        var ids = Path.GetTempFileName();
        try
        {
            var (exit, stdout, stderr) = await RunAsync("produce_calls.py", ["--bootstrap", servers.Bootstrap, "--topic", topic,
                "--count", "400", "--seed", "7", "--service", "py-svc", "--ids-file", ids], ct);
            Assert.True(exit == 0, $"produce_calls.py exited {exit}: {stderr}");
            using var summary = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
            Assert.Equal(400, summary.RootElement.GetProperty("sent").GetInt32());
            var sent = (await File.ReadAllLinesAsync(ids, ct)).Where(l => l.Length > 0).ToHashSet(StringComparer.Ordinal);
            Assert.Equal(400, sent.Count);

            await ExampleLanding.AssertLandsExactlyAsync(servers, clickHouse, topic, sent, summary.RootElement, "py-svc", "python", ct);
        }
        finally
        {
            File.Delete(ids);
        }
    }

    [Fact]
    public async Task PythonSubscriber_DecodesTheAlertsOurWorkerWrites()
    {
        var ct = TestContext.Current.CancellationToken;
        SkipWithoutPython();
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
        var (exit, stdout, stderr) = await RunAsync("alerts_subscriber.py", ["--bootstrap", servers.Bootstrap, "--topic", topic,
            "--group", "g-" + topic, "--from-beginning", "--max", "2", "--timeout", "60"], ct);
        Assert.True(exit == 0, $"alerts_subscriber.py exited {exit}: {stderr}");
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        Assert.Equal(["a-0", "a-1"], lines.Select(l => l.GetProperty("alert_id").GetString()));
        Assert.Equal(["FIRING", "RESOLVED"], lines.Select(l => l.GetProperty("state").GetString()));
        Assert.All(lines, l => Assert.Equal("support_answer", l.GetProperty("prompt_name").GetString()));
        Assert.Equal(2301, lines[1].GetProperty("observed").GetDouble());
    }

    private static void SkipWithoutPython()
    {
        if (!File.Exists("/usr/bin/python3")
            || !Directory.Exists("/usr/lib/python3/dist-packages/confluent_kafka") || !Directory.Exists("/usr/lib/python3/dist-packages/avro"))
        {
            Assert.Skip("Debian's python3-confluent-kafka and python3-avro are not installed (make deps installs them): Python examples not run");
        }
    }

    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string script, string[] args, CancellationToken ct)
    {
        // Debian's interpreter: its packages are where apt put them, whatever python a PATH shim prefers.
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Examples };
        psi.ArgumentList.Add(Path.Combine(Examples, script));
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
