using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Consumers;
using Pipeline.Schemas;

namespace Pipeline.IntegrationTests;

/// <summary>Webhooks over real HTTP on loopback: delivered in the right shape, retried, dead-lettered when they keep failing.</summary>
public sealed class WebhookTests : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly List<(string Path, string Body)> _received = [];
    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-webhooks-").FullName;
    private int _failuresLeft;
    private readonly string _prefix;

    public WebhookTests()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        _prefix = $"http://127.0.0.1:{port}/";
        _listener.Prefixes.Add(_prefix);
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public void Dispose()
    {
        _listener.Close();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try
            {
                ctx = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
            {
                return;
            }
            using var reader = new StreamReader(ctx.Request.InputStream);
            var body = await reader.ReadToEndAsync();
            var path = ctx.Request.Url!.AbsolutePath;
            lock (_received) _received.Add((path, body));
            ctx.Response.StatusCode = path == "/down" || Interlocked.Decrement(ref _failuresLeft) >= 0 ? 503 : 200;
            ctx.Response.Close();
        }
    }

    private static Alert Sample(AlertState state) => new()
    {
        AlertId = "a1b2c3", RuleId = "latency_p95_regression", Fingerprint = "f00d", State = state, Severity = "ERROR",
        Series = new SeriesKey("prod", "svc", "answer", "2.0", "gpt-4o"), Metric = "latency_p95", Observed = 2100, Baseline = 840, Threshold = 1680,
        Summary = "latency_p95 2100 ms is above 2x baseline 840 ms", RunbookUrl = "https://example.test/runbook",
    };

    [Fact]
    public async Task SlackAndPagerDuty_ReceiveTheirShapes_AfterTransientFailures()
    {
        var ct = TestContext.Current.CancellationToken;
        _failuresLeft = 2; // the first two requests fail with 503 and are retried
        using var http = new HttpClient();
        var hooks = new AlertWebhooks(
        [
            new WebhookOptions { Url = new Uri(_prefix + "slack"), Format = "slack" },
            new WebhookOptions { Url = new Uri(_prefix + "pd"), Format = "pagerduty", RoutingKey = "rk" },
        ], Path.Combine(_dir, "dlq.jsonl"), http, TimeProvider.System, NullLogger.Instance);
        await hooks.SendAsync(Sample(AlertState.Firing), ct);
        await hooks.SendAsync(Sample(AlertState.Resolved), ct);

        Assert.Equal(0, hooks.DeadLettered);
        List<(string Path, string Body)> received;
        lock (_received) received = [.. _received];
        Assert.Equal(6, received.Count);
        var slack = received.Where(r => r.Path == "/slack").Select(r => JsonDocument.Parse(r.Body).RootElement.GetProperty("text").GetString()).Distinct().ToList();
        Assert.Contains(slack, t => t!.Contains("FIRING", StringComparison.Ordinal) && t.Contains("latency_p95_regression", StringComparison.Ordinal));
        Assert.Contains(slack, t => t!.Contains("RESOLVED", StringComparison.Ordinal));
        var pd = received.Where(r => r.Path == "/pd").Select(r => JsonDocument.Parse(r.Body).RootElement).ToList();
        Assert.Equal(["trigger", "resolve"], pd.Select(p => p.GetProperty("event_action").GetString()).Distinct());
        Assert.All(pd, p => Assert.Equal("a1b2c3", p.GetProperty("dedup_key").GetString()));
        Assert.Equal("error", pd[0].GetProperty("payload").GetProperty("severity").GetString());
    }

    [Fact]
    public async Task EveryShape_CarriesAcknowledgementSilenceAndInhibition()
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = new HttpClient();
        var hooks = new AlertWebhooks(
        [
            new WebhookOptions { Url = new Uri(_prefix + "json") },
            new WebhookOptions { Url = new Uri(_prefix + "slack"), Format = "slack" },
            new WebhookOptions { Url = new Uri(_prefix + "pd"), Format = "pagerduty", RoutingKey = "rk" },
        ], Path.Combine(_dir, "dlq.jsonl"), http, TimeProvider.System, NullLogger.Instance);
        var ackedAt = new DateTimeOffset(2026, 12, 1, 10, 7, 0, TimeSpan.Zero);
        var marked = Sample(AlertState.Resolved) with
        {
            AckedBy = "bob", AckedAt = ackedAt, AckNote = "rolling back", SilenceId = "5ca1ab1e0000", InhibitedBy = "0badc0ffee",
        };
        await hooks.SendAsync(marked, "known slow", ct);
        await hooks.SendAsync(Sample(AlertState.Firing), ct);

        List<(string Path, string Body)> received;
        lock (_received) received = [.. _received];
        JsonElement Body(string path, int i) => JsonDocument.Parse(received.Where(r => r.Path == path).ElementAt(i).Body).RootElement;
        foreach (var (fields, plain) in new[] { (Body("/json", 0), Body("/json", 1)), (Body("/pd", 0).GetProperty("payload").GetProperty("custom_details"),
                     Body("/pd", 1).GetProperty("payload").GetProperty("custom_details")) })
        {
            Assert.True(fields.GetProperty("acknowledged").GetBoolean());
            Assert.Equal("bob", fields.GetProperty("acked_by").GetString());
            Assert.Equal(ackedAt, fields.GetProperty("acked_at").GetDateTimeOffset());
            Assert.Equal("rolling back", fields.GetProperty("ack_note").GetString());
            Assert.True(fields.GetProperty("silenced").GetBoolean());
            Assert.Equal("5ca1ab1e0000", fields.GetProperty("silence_id").GetString());
            Assert.Equal("known slow", fields.GetProperty("silence_reason").GetString());
            Assert.Equal("0badc0ffee", fields.GetProperty("inhibited_by").GetString());
            // Unmarked records carry the same keys, false and null: a receiver reads one shape.
            Assert.False(plain.GetProperty("acknowledged").GetBoolean());
            Assert.False(plain.GetProperty("silenced").GetBoolean());
            Assert.Equal(JsonValueKind.Null, plain.GetProperty("acked_by").ValueKind);
            Assert.Equal(JsonValueKind.Null, plain.GetProperty("inhibited_by").ValueKind);
        }
        var slack = Body("/slack", 0).GetProperty("text").GetString()!;
        Assert.Contains("\nAcknowledged by bob at 2026-12-01 10:07 UTC: rolling back", slack, StringComparison.Ordinal);
        Assert.Contains("\nSilenced (5ca1ab1e0000): known slow", slack, StringComparison.Ordinal);
        Assert.Contains("\nInhibited by incident 0badc0ffee", slack, StringComparison.Ordinal);
        Assert.DoesNotContain("Acknowledged", Body("/slack", 1).GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task WebhookThatKeepsFailing_AlertGoesToDeadLetterLog()
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = new HttpClient();
        var dlq = Path.Combine(_dir, "dlq.jsonl");
        var hooks = new AlertWebhooks([new WebhookOptions { Url = new Uri(_prefix + "down") }], dlq, http, TimeProvider.System, NullLogger.Instance);
        await hooks.SendAsync(Sample(AlertState.Firing), ct);
        Assert.Equal(1, hooks.DeadLettered);
        lock (_received) Assert.Equal(5, _received.Count(r => r.Path == "/down")); // first try + 4 retries
        var line = Assert.Single(await File.ReadAllLinesAsync(dlq, ct));
        var entry = JsonDocument.Parse(line).RootElement;
        Assert.Equal("a1b2c3", entry.GetProperty("alert").GetProperty("alert_id").GetString());
        Assert.Contains("503", entry.GetProperty("error").GetString(), StringComparison.Ordinal);
    }
}
