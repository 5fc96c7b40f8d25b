using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using Pipeline.Schemas;

namespace Pipeline.IntegrationTests;

/// <summary>
/// Silences and acknowledgements with the real alert worker process (SIGKILLed and restarted), a real webhook
/// receiver on loopback and the real CLI: silenced alerts are recorded, marked, and never sent; an acknowledged
/// incident is never re-notified; neither forgets anything across a kill -9.
/// </summary>
public sealed partial class AlertSuppressionTests : IDisposable
{
    // One rule that fires on the first bad window and re-notifies every window: suppression has work to do.
    private const string Rules = """
        rules:
          - id: success_low
            metric: success_rate
            comparison: below
            threshold: 0.9
            window: 1m
            min_calls: 1
            resolve_after: 1m
            renotify: 1m
            severity: critical
            runbook: runbooks.md#success-rate
        """;

    private readonly string _home = Directory.CreateTempSubdirectory("pipeline-suppress-").FullName;
    private readonly HttpListener _listener = new();
    private readonly List<JsonElement> _received = [];
    private readonly string _hook;
    private readonly ServersFixture _servers;

    public AlertSuppressionTests(ServersFixture servers)
    {
        _servers = servers;
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        _hook = $"http://127.0.0.1:{port}/hook";
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public void Dispose()
    {
        _listener.Close();
        Directory.Delete(_home, recursive: true);
    }

    [Fact]
    public async Task SilenceAndAck_AcrossKill9_SilencedNeverSent_AckedNeverRenotified_NothingLost()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await _servers.NewDatabaseAsync(ct);
        var metrics = await _servers.NewTopicAsync("metrics", 1, ct);
        var alertsTopic = await _servers.NewTopicAsync("alerts", 1, ct);
        var rules = Path.Combine(_home, "rules.yaml");
        await File.WriteAllTextAsync(rules, Rules, ct);
        string[] settings =
        [
            "--set", $"ClickHouse:Url={_servers.ClickHouse.Url}", "--set", $"ClickHouse:User={_servers.ClickHouse.User}",
            "--set", $"ClickHouse:Password={_servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={clickHouse.Options.Database}",
            "--set", $"Kafka:bootstrap.servers={_servers.Bootstrap}", "--set", "Kafka:session.timeout.ms=6000",
        ];
        string[] worker =
        [
            "alert", "--rules", rules, .. settings,
            "--set", $"Alerting:MetricsTopic={metrics}", "--set", $"Alerting:AlertsTopic={alertsTopic}", "--set", $"Alerting:GroupId=g-{metrics}",
            "--set", $"Alerting:Webhooks:0:Url={_hook}", "--set", "Alerting:SuppressionRefreshInterval=200ms",
            "--set", "Alerting:RunbookBaseUrl=https://wiki.example.test/llm/",
        ];

        // Three series of one prompt: "silenced" has a silence, "acked" will be acknowledged, "control" has neither.
        var silence = await RunAsync(["alerts", "silence", "--match", "prompt=answer,version=silenced", "--for", "1h", "--reason", "known", "--by", "carol", .. settings]);
        Assert.True(silence.ExitCode == 0, silence.Stderr);
        var silenceId = SilenceIdPattern().Match(silence.Stdout).Groups[1].Value;
        Assert.True(silenceId.Length > 0, silence.Stdout);

        // Recent windows: re-notifies are for the present (one of windows long past is dropped as stale).
        var minute0 = new DateTimeOffset(TimeProvider.System.GetUtcNow().AddMinutes(-5).UtcTicks / TimeSpan.TicksPerMinute * TimeSpan.TicksPerMinute, TimeSpan.Zero);
        string[] versions = ["silenced", "acked", "control"];
        await ProduceAsync(metrics, versions.Select(v => Window(v, minute0, good: false)), ct);

        using (var first = PipelineProcess.Start(worker, _home))
        {
            try
            {
                // Two webhooks (acked and control); the silenced series fired too, but is only recorded.
                await WaitAsync(() => Posts("acked", "FIRING") >= 1 && Posts("control", "FIRING") >= 1, ct);
                await WaitAsync(async () => await clickHouse.ScalarAsync("SELECT count() FROM alerts FINAL WHERE state = 'FIRING'", ct) == 3, ct);
            }
            finally
            {
                PipelineProcess.Kill9(first);
            }
        }

        var ackedId = (await clickHouse.QueryAsync("SELECT alert_id FROM alerts FINAL WHERE prompt_version = 'acked'", ct)).Single().GetProperty("alert_id").GetString()!;
        var ack = await RunAsync(["alerts", "ack", ackedId, "--by", "bob", "--note", "rolling back", .. settings]);
        Assert.True(ack.ExitCode == 0, ack.Stderr);
        Assert.Contains($"acknowledged {ackedId}", ack.Stdout, StringComparison.Ordinal);
        // A hand-over: erin acknowledges too. Hers becomes the incident's acknowledgement; bob's stays in the history.
        var handOver = await RunAsync(["alerts", "ack", ackedId, "--by", "erin", "--note", "taking over", .. settings]);
        Assert.True(handOver.ExitCode == 0, handOver.Stderr);
        Assert.Contains("earlier acknowledgement by bob kept in its history", handOver.Stdout, StringComparison.Ordinal);

        // Three more bad minutes (a re-notify each for every series), then a good one: all three resolve.
        var later = Enumerable.Range(1, 3).SelectMany(m => versions.Select(v => Window(v, minute0.AddMinutes(m), good: false)))
            .Concat(versions.Select(v => Window(v, minute0.AddMinutes(4), good: true)));
        await ProduceAsync(metrics, later, ct);
        using (var second = PipelineProcess.Start(worker, _home))
        {
            try
            {
                // The control series resolves last (last record on the partition): everything before it was handled.
                await WaitAsync(() => Posts("control", "RESOLVED") >= 1, ct);
                await WaitAsync(async () => await clickHouse.ScalarAsync("SELECT count() FROM alerts FINAL WHERE state = 'RESOLVED'", ct) == 3, ct);
            }
            finally
            {
                PipelineProcess.Kill9(second);
            }
        }

        // Webhooks: nothing for the silenced series, no re-notify for the acknowledged one, every re-notify for the control.
        Assert.Equal(0, Posts("silenced", "FIRING") + Posts("silenced", "RESOLVED"));
        Assert.Equal((1, 1), (Posts("acked", "FIRING"), Posts("acked", "RESOLVED")));
        Assert.Equal((4, 1), (Posts("control", "FIRING"), Posts("control", "RESOLVED")));
        lock (_received)
        {
            Assert.All(_received, p => Assert.Equal("https://wiki.example.test/llm/runbooks.md#success-rate", p.GetProperty("runbook_url").GetString()));
        }

        // The topic: the silenced incident is recorded (FIRING and RESOLVED, marked), without its re-notifies.
        var onTopic = ReadAlerts(alertsTopic, ct);
        var silenced = onTopic.Where(a => a.Series.PromptVersion == "silenced").ToList();
        Assert.Equal([AlertState.Firing, AlertState.Resolved], silenced.Select(a => a.State));
        Assert.All(silenced, a => Assert.Equal(silenceId, a.SilenceId));
        var acked = onTopic.Where(a => a.Series.PromptVersion == "acked").ToList();
        Assert.Equal([AlertState.Firing, AlertState.Resolved], acked.Select(a => a.State));
        Assert.Null(acked[0].AckedBy); // published before the acknowledgement
        Assert.Equal(("erin", "taking over"), (acked[1].AckedBy, acked[1].AckNote)); // the latest, as the restarted worker read it
        Assert.Equal(5, onTopic.Count(a => a.Series.PromptVersion == "control"));
        Assert.All(onTopic.Where(a => a.Series.PromptVersion != "silenced"), a => Assert.Null(a.SilenceId));

        // The table: every incident complete, marked as on the topic.
        var rows = await clickHouse.QueryAsync("SELECT prompt_version, state, silence_id, acked_by, ack_note FROM alerts FINAL ORDER BY prompt_version, state", ct);
        Assert.Equal(6, rows.Count);
        Assert.All(rows.Where(r => r.GetProperty("prompt_version").GetString() == "silenced"), r => Assert.Equal(silenceId, r.GetProperty("silence_id").GetString()));
        Assert.All(rows.Where(r => r.GetProperty("prompt_version").GetString() == "acked"), r => Assert.Equal("erin", r.GetProperty("acked_by").GetString()));

        // Webhooks carry the acknowledgement: the acked incident's RESOLVED names erin; the control's say not acknowledged.
        lock (_received)
        {
            var resolvedAcked = Assert.Single(_received, p => p.GetProperty("prompt_version").GetString() == "acked" && p.GetProperty("state").GetString() == "RESOLVED");
            Assert.True(resolvedAcked.GetProperty("acknowledged").GetBoolean());
            Assert.Equal(("erin", "taking over"), (resolvedAcked.GetProperty("acked_by").GetString(), resolvedAcked.GetProperty("ack_note").GetString()));
            Assert.All(_received.Where(p => p.GetProperty("prompt_version").GetString() == "control"), p =>
            {
                Assert.False(p.GetProperty("acknowledged").GetBoolean());
                Assert.False(p.GetProperty("silenced").GetBoolean());
            });
        }

        // Both acknowledgements are kept, oldest first: in 'alerts show' and in 'alerts list --json'.
        var show = await RunAsync(["alerts", "show", ackedId, "--json", .. settings]);
        Assert.True(show.ExitCode == 0, show.Stderr);
        var history = JsonDocument.Parse(show.Stdout).RootElement.GetProperty("ack_history").EnumerateArray()
            .Select(h => (h.GetProperty("acked_by").GetString(), h.GetProperty("note").GetString())).ToList();
        Assert.Equal([("bob", "rolling back"), ("erin", "taking over")], history);
        var listed = await RunAsync(["alerts", "list", "--json", .. settings]);
        var ackedRecords = listed.Stdout.Trim().Split('\n').Select(l => JsonDocument.Parse(l).RootElement)
            .Where(r => r.GetProperty("alert_id").GetString() == ackedId).ToList();
        Assert.Equal(2, ackedRecords.Count);
        Assert.All(ackedRecords, r => Assert.Equal(["bob", "erin"], r.GetProperty("ack_history").EnumerateArray().Select(h => h.GetProperty("acked_by").GetString())));
        var text = await RunAsync(["alerts", "show", ackedId, .. settings]);
        Assert.Contains("acknowledged 2 times", text.Stdout, StringComparison.Ordinal);
        Assert.All(rows.Where(r => r.GetProperty("prompt_version").GetString() == "control"), r => Assert.Equal("", r.GetProperty("acked_by").GetString() + r.GetProperty("silence_id").GetString()));
    }

    [Fact]
    public async Task Cli_AckSilenceUnsilence_LifecycleAndErrors()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await _servers.NewDatabaseAsync(ct);
        string[] settings =
        [
            "--set", $"ClickHouse:Url={_servers.ClickHouse.Url}", "--set", $"ClickHouse:User={_servers.ClickHouse.User}",
            "--set", $"ClickHouse:Password={_servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={clickHouse.Options.Database}",
        ];

        var unknownAck = await RunAsync(["alerts", "ack", "no-such-alert", .. settings]);
        Assert.Equal(1, unknownAck.ExitCode);
        Assert.Contains("no alert with id 'no-such-alert'", unknownAck.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, await clickHouse.ScalarAsync("SELECT count() FROM alert_acks", ct));

        var badKey = await RunAsync(["alerts", "silence", "--match", "prompt=answer,version=2.0,region=eu", "--for", "2h", .. settings]);
        Assert.Equal(2, badKey.ExitCode);
        Assert.Contains("unknown key 'region' (known keys: environment, service, prompt, version, model, rule)", badKey.Stderr, StringComparison.Ordinal);
        var tooLong = await RunAsync(["alerts", "silence", "--match", "prompt=answer,version=2.0", "--for", "30d", .. settings]);
        Assert.Equal(2, tooLong.ExitCode);
        Assert.Contains("at most 7d", tooLong.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, await clickHouse.ScalarAsync("SELECT count() FROM alert_silences", ct));

        var malformed = await RunAsync(["alerts", "silence", "--match", "prompt=answer version=2.0", "--for", "2h", .. settings]);
        Assert.Equal(2, malformed.ExitCode);
        Assert.Contains("holds a second '='", malformed.Stderr, StringComparison.Ordinal);
        var wildcard = await RunAsync(["alerts", "silence", "--match", "prompt=answer,version=2.*", "--for", "2h", .. settings]);
        Assert.Equal(2, wildcard.ExitCode);
        Assert.Contains("'*' is not a wildcard", wildcard.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, await clickHouse.ScalarAsync("SELECT count() FROM alert_silences", ct));

        // Series known to ClickHouse: a matcher naming one is silent, one naming none is warned about (and still recorded).
        await clickHouse.ExecuteAsync("INSERT INTO metrics_1m (environment, service, prompt_name, prompt_version, request_model, window_start, calls) " +
            $"VALUES ('prod', 'svc', 'answer', '2.0', 'gpt-4o', {TimeProvider.System.GetUtcNow().AddHours(-1).ToUnixTimeSeconds()}, 10)", ct);
        var created = await RunAsync(["alerts", "silence", "--match", "prompt=answer,version=2.0,rule=error_rate", "--for", "2h", "--reason", "deploy", "--by", "dana", .. settings]);
        Assert.True(created.ExitCode == 0, created.Stderr);
        Assert.DoesNotContain("warning", created.Stderr, StringComparison.Ordinal);
        var typo = await RunAsync(["alerts", "silence", "--match", "prompt=answr,version=2.0,rule=eror_rate", "--for", "1m", .. settings]);
        Assert.True(typo.ExitCode == 0, typo.Stderr);
        Assert.Contains("warning: --match prompt=answr,version=2.0,rule=eror_rate matches nothing", typo.Stderr, StringComparison.Ordinal);
        Assert.Contains("closest series: prompt=answer,version=2.0 (prod/svc/answer@2.0/gpt-4o)", typo.Stderr, StringComparison.Ordinal);
        Assert.Contains("rule 'eror_rate' is not a rule in force; closest: error_rate", typo.Stderr, StringComparison.Ordinal);
        var typoId = SilenceIdPattern().Match(typo.Stdout).Groups[1].Value;
        Assert.True((await RunAsync(["alerts", "unsilence", typoId, .. settings])).ExitCode == 0);
        var id = SilenceIdPattern().Match(created.Stdout).Groups[1].Value;
        var active = await RunAsync(["alerts", "silences", "--json", .. settings]);
        var listed = JsonDocument.Parse(Assert.Single(active.Stdout.Trim().Split('\n'))).RootElement;
        Assert.Equal((id, "active", "dana", "deploy"), (listed.GetProperty("silence_id").GetString(), listed.GetProperty("state").GetString(),
            listed.GetProperty("created_by").GetString(), listed.GetProperty("reason").GetString()));
        Assert.Equal("error_rate", listed.GetProperty("matchers").GetProperty("rule").GetString());
        var endsAt = listed.GetProperty("ends_at").GetDateTimeOffset() - listed.GetProperty("starts_at").GetDateTimeOffset();
        Assert.Equal(TimeSpan.FromHours(2), endsAt);

        var ended = await RunAsync(["alerts", "unsilence", id, .. settings]);
        Assert.True(ended.ExitCode == 0, ended.Stderr);
        Assert.Contains($"ended silence {id}", ended.Stdout, StringComparison.Ordinal);
        Assert.Contains("no active silences", (await RunAsync(["alerts", "silences", .. settings])).Stdout, StringComparison.Ordinal);
        var all = await RunAsync(["alerts", "silences", "--all", .. settings]);
        Assert.Matches($@"{id}\s+ended", all.Stdout);

        var unknownSilence = await RunAsync(["alerts", "unsilence", "nope", .. settings]);
        Assert.Equal(1, unknownSilence.ExitCode);
        Assert.Contains("no silence with id 'nope'", unknownSilence.Stderr, StringComparison.Ordinal);
    }

    // Two related rules (same family, errors): the critical one speaks for the series while it fires.
    private const string RelatedRules = """
        rules:
          - id: success_critical
            metric: success_rate
            comparison: below
            threshold: 0.9
            window: 1m
            min_calls: 1
            resolve_after: 1m
            severity: critical
          - id: success_warning
            metric: success_rate
            comparison: below
            threshold: 0.95
            window: 1m
            min_calls: 1
            resolve_after: 1m
            severity: warning
        """;

    [Fact]
    public async Task Inhibition_RelatedRulesOnOneSeries_OnePage_ReleasedWhenTheInhibitorResolves()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await _servers.NewDatabaseAsync(ct);
        var metrics = await _servers.NewTopicAsync("metrics", 1, ct);
        var alertsTopic = await _servers.NewTopicAsync("alerts", 1, ct);
        var rules = Path.Combine(_home, "related.yaml");
        await File.WriteAllTextAsync(rules, RelatedRules, ct);
        string[] worker =
        [
            "alert", "--rules", rules,
            "--set", $"ClickHouse:Url={_servers.ClickHouse.Url}", "--set", $"ClickHouse:User={_servers.ClickHouse.User}",
            "--set", $"ClickHouse:Password={_servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={clickHouse.Options.Database}",
            "--set", $"Kafka:bootstrap.servers={_servers.Bootstrap}", "--set", "Kafka:session.timeout.ms=6000",
            "--set", $"Alerting:MetricsTopic={metrics}", "--set", $"Alerting:AlertsTopic={alertsTopic}", "--set", $"Alerting:GroupId=g-{metrics}",
            "--set", $"Alerting:Webhooks:0:Url={_hook}",
        ];
        // "together": both rules fire (50% success) and both recover in the same minute.
        // "staged": both fire, then 92% success clears the critical rule only, then all is well.
        var minute0 = new DateTimeOffset(TimeProvider.System.GetUtcNow().AddMinutes(-30).UtcTicks / TimeSpan.TicksPerMinute * TimeSpan.TicksPerMinute, TimeSpan.Zero);
        long[] together = [50, 100, 100, 100];
        long[] staged = [50, 92, 92, 100];
        await ProduceAsync(metrics, Enumerable.Range(0, 4).SelectMany(m => new[]
        {
            Window("together", minute0.AddMinutes(m), successes: together[m]), Window("staged", minute0.AddMinutes(m), successes: staged[m]),
        }), ct);
        using (var process = PipelineProcess.Start(worker, _home))
        {
            try
            {
                await WaitAsync(() => Posts("staged", "RESOLVED") >= 2, ct);
                await WaitAsync(async () => await clickHouse.ScalarAsync("SELECT count() FROM alerts FINAL WHERE state = 'RESOLVED'", ct) == 4, ct);
            }
            finally
            {
                PipelineProcess.Kill9(process);
            }
        }

        List<(string Rule, string State)> Pages(string version)
        {
            lock (_received)
            {
                return _received.Where(p => p.GetProperty("prompt_version").GetString() == version)
                    .Select(p => (p.GetProperty("rule_id").GetString()!, p.GetProperty("state").GetString()!)).ToList();
            }
        }
        // One page per incident of the series: the warning was inhibited for as long as the critical fired...
        Assert.Equal([("success_critical", "FIRING"), ("success_critical", "RESOLVED")], Pages("together"));
        // ...and is paged once the critical resolved while it still fired, then resolves normally.
        Assert.Equal([("success_critical", "FIRING"), ("success_critical", "RESOLVED"), ("success_warning", "FIRING"), ("success_warning", "RESOLVED")],
            Pages("staged"));

        // Every record is still written, the inhibited ones marked with the inhibiting incident.
        var onTopic = ReadAlerts(alertsTopic, ct);
        string Id(string version, string rule) => onTopic.First(a => a.Series.PromptVersion == version && a.RuleId == rule).AlertId;
        var togetherWarning = onTopic.Where(a => a.Series.PromptVersion == "together" && a.RuleId == "success_warning").ToList();
        Assert.Equal([AlertState.Firing, AlertState.Resolved], togetherWarning.Select(a => a.State));
        Assert.All(togetherWarning, a => Assert.Equal(Id("together", "success_critical"), a.InhibitedBy));
        var stagedWarning = onTopic.Where(a => a.Series.PromptVersion == "staged" && a.RuleId == "success_warning").ToList();
        Assert.Equal(new (AlertState, string?)[] { (AlertState.Firing, Id("staged", "success_critical")), (AlertState.Firing, null), (AlertState.Resolved, null) },
            stagedWarning.Select(a => (a.State, a.InhibitedBy)));
        Assert.Contains("no longer inhibited: success_critical resolved", stagedWarning[1].Summary, StringComparison.Ordinal);
        Assert.All(onTopic.Where(a => a.RuleId == "success_critical"), a => Assert.Null(a.InhibitedBy));
        var stored = await clickHouse.QueryAsync("SELECT prompt_version, rule_id, state, inhibited_by FROM alerts FINAL WHERE state = 'RESOLVED' ORDER BY prompt_version, rule_id", ct);
        Assert.Equal([("staged", "success_critical", ""), ("staged", "success_warning", ""), ("together", "success_critical", ""), ("together", "success_warning", Id("together", "success_critical"))],
            stored.Select(r => (r.GetProperty("prompt_version").GetString(), r.GetProperty("rule_id").GetString(), r.GetProperty("inhibited_by").GetString())));
    }

    [GeneratedRegex(@"silenced ([0-9a-f]{12}):")]
    private static partial Regex SilenceIdPattern();

    private Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string[] args) => PipelineProcess.RunAsync(args, _home);

    private static WindowAggregate Window(string version, DateTimeOffset start, bool good) => Window(version, start, good ? 100 : 50);

    private static WindowAggregate Window(string version, DateTimeOffset start, long successes) => new()
    {
        Series = new SeriesKey("prod", "svc", "answer", version, "gpt-4o"), WindowStart = start, WindowSeconds = 60, Revision = 1,
        Calls = 100, Events = 100, Successes = successes, Errors = 100 - successes,
        LatencyP50Ms = 300, LatencyP95Ms = 800, LatencyP99Ms = 900, LatencyMaxMs = 1000, LatencyMeanMs = 350,
    };

    private async Task ProduceAsync(string topic, IEnumerable<WindowAggregate> windows, CancellationToken ct)
    {
        var serializer = new WindowAggregateSerializer();
        using var producer = new ProducerBuilder<byte[]?, byte[]>(_servers.Kafka.Producer()).Build();
        foreach (var w in windows)
        {
            await producer.ProduceAsync(topic, new Message<byte[]?, byte[]> { Key = System.Text.Encoding.UTF8.GetBytes(w.Series.ToString()), Value = serializer.Serialize(w) }, ct);
        }
    }

    private int Posts(string version, string state)
    {
        lock (_received)
        {
            return _received.Count(p => p.GetProperty("prompt_version").GetString() == version && p.GetProperty("state").GetString() == state);
        }
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
            using (var reader = new StreamReader(ctx.Request.InputStream))
            {
                var body = JsonDocument.Parse(await reader.ReadToEndAsync()).RootElement.Clone();
                lock (_received) _received.Add(body);
            }
            ctx.Response.StatusCode = 200;
            ctx.Response.Close();
        }
    }

    private static async Task WaitAsync(Func<bool> condition, CancellationToken ct) => await WaitAsync(() => Task.FromResult(condition()), ct);

    private static async Task WaitAsync(Func<Task<bool>> condition, CancellationToken ct)
    {
        for (var i = 0; i < 300 && !await condition(); i++)
        {
            await Task.Delay(100, ct);
        }
        Assert.True(await condition(), "condition not reached in 30 s");
    }

    private List<Alert> ReadAlerts(string topic, CancellationToken ct) => AlertTopic.ReadAll(_servers, topic, ct);
}
