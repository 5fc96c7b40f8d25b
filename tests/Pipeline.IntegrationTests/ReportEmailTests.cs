using System.Diagnostics;
using MimeKit;
using Pipeline.ClickHouse;
using Pipeline.Reports;

namespace Pipeline.IntegrationTests;

/// <summary>
/// Reports by email through a real SMTP server (Postfix's smtp-sink on 127.0.0.1) from real ClickHouse: sent on
/// demand, made on a schedule once by one of two workers, made once after a restart, delivered after the server
/// refused for a while, and dead-lettered then resent.
/// </summary>
public sealed class ReportEmailTests(ServersFixture servers) : IDisposable
{
    private readonly string _home = Directory.CreateTempSubdirectory("pipeline-reports-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_home, recursive: true);
        }
        catch (IOException)
        {
            // Harmless leftovers in the temp folder.
        }
    }

    [Fact]
    public async Task Send_DailyReport_ArrivesWithInlineChartsAndAttachments()
    {
        var ct = TestContext.Current.CancellationToken;
        using var db = await servers.NewDatabaseAsync(ct);
        await InsertWindowsAsync(db, TimeProvider.System.GetUtcNow().AddHours(-3), ct);
        using var sink = await SmtpSink.StartAsync();

        var result = await PipelineProcess.RunAsync(["reports", "send", "--kind", "daily", "--to", "ops@example.com", .. Args(db, sink.Port)], _home);
        Assert.True(result.ExitCode == 0, result.Stderr + result.Stdout);

        var message = Assert.Single(sink.Messages());
        Assert.Equal("ops@example.com", Assert.Single(message.To.Mailboxes).Address);
        Assert.Equal("pipeline@example.com", Assert.Single(message.From.Mailboxes).Address);
        Assert.StartsWith("Pipeline daily report", message.Subject, StringComparison.Ordinal);
        // Every image the HTML shows is a part of the message, by content id: nothing is fetched from anywhere.
        var html = message.HtmlBody ?? "";
        Assert.Contains("support_answer", html, StringComparison.Ordinal);
        var cids = System.Text.RegularExpressions.Regex.Matches(html, "src=\"cid:([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(2, cids.Count);
        var images = message.BodyParts.OfType<MimePart>().Where(p => p.ContentType.MimeType == "image/png").ToList();
        Assert.Equal(cids.Order(StringComparer.Ordinal), images.Select(i => i.ContentId).Order(StringComparer.Ordinal));
        Assert.All(images, i => Assert.Equal(PngMagic, Decoded(i)[..4]));
        Assert.DoesNotContain("src=\"latency_p95.png\"", html, StringComparison.Ordinal);
        var attachments = message.Attachments.OfType<MimePart>().ToDictionary(a => a.FileName ?? "", StringComparer.Ordinal);
        Assert.Equal(["health.csv", "report.json"], attachments.Keys.Order(StringComparer.Ordinal));
        var csv = System.Text.Encoding.UTF8.GetString(Decoded(attachments["health.csv"]));
        Assert.Contains("\"support_answer\",\"1.0\",\"gpt-4o\",360,", csv, StringComparison.Ordinal);
        Assert.Contains("Calls: 360", message.TextBody, StringComparison.Ordinal);

        // The password is a secret like the others: config show masks it.
        var show = await PipelineProcess.RunAsync(["config", "show", .. Args(db, sink.Port), "--set", "Reports:Smtp:User=u", "--set", "Reports:Smtp:Password=hunter2"], _home);
        Assert.True(show.ExitCode == 0, show.Stderr);
        Assert.Contains("Reports:Smtp:Password", show.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", show.Stdout + show.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Config_BadSmtpAndScheduleSettings_Exit78NamingEachKey()
    {
        var result = await PipelineProcess.RunAsync(["reports", "list", "--set", "Reports:Smtp:Host=mail", "--set", "Reports:Smtp:Password=hunter2",
            "--set", "Reports:Schedules:0:Name=m", "--set", "Reports:Schedules:0:Cron=61 7 * * *", "--set", "Reports:Schedules:0:TimeZone=Mars/Base",
            "--set", "Reports:Schedules:0:Kind=hourly", "--set", "Reports:Schedules:0:To:0=not-an-address", "--set", "Reports:Delivery:Attempts=0"], _home);
        Assert.Equal(78, result.ExitCode);
        foreach (var key in new[] { "Reports:Smtp:From", "Reports:Smtp:Password", "Reports:Schedules:0:Cron", "Reports:Schedules:0:TimeZone",
            "Reports:Schedules:0:Kind", "Reports:Schedules:0:To:0", "Reports:Delivery:Attempts" })
        {
            Assert.Contains(key, result.Stderr, StringComparison.Ordinal);
        }
        Assert.DoesNotContain("hunter2", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Schedule_MissedDailyRun_MadeOnceByReportsRunAndMaintainAtStartUp_AndNotAgainAfterRestart()
    {
        var ct = TestContext.Current.CancellationToken;
        using var db = await servers.NewDatabaseAsync(ct);
        var now = TimeProvider.System.GetUtcNow();
        await InsertWindowsAsync(db, now.AddHours(-3), ct);
        using var sink = await SmtpSink.StartAsync();
        // Due two minutes ago, before any worker ran: the run both workers find missed when they start.
        var due = now.AddMinutes(-2);
        string[] schedule =
        [
            "--set", "Reports:Schedules:0:Name=morning", "--set", $"Reports:Schedules:0:Cron={due.Minute} {due.Hour} * * *",
            "--set", "Reports:Schedules:0:Kind=daily", "--set", "Reports:Schedules:0:To:0=team@example.com", "--set", "Reports:Schedules:0:Environment=prod",
            "--set", "Reports:ClaimSettle=3s", // longer than a loaded CI machine takes between reading no claim and storing its own
        ];
        var a = PipelineProcess.RunAsync(["reports", "run", "--once", .. Args(db, sink.Port), .. schedule], _home);
        // The second worker is maintain, which makes the runs after its rollup pass.
        var b = PipelineProcess.RunAsync(["maintain", "--once", .. Args(db, sink.Port), .. schedule], _home);
        var results = await Task.WhenAll(a, b);
        Assert.All(results, r => Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout));
        Assert.Single(results, r => r.Stdout.Contains("reports: morning sent", StringComparison.Ordinal));
        var message = Assert.Single(sink.Messages());
        Assert.Equal("team@example.com", Assert.Single(message.To.Mailboxes).Address);
        Assert.Contains("environment 'prod'", message.TextBody, StringComparison.Ordinal);

        // A restart (or a third worker) finds the run made: no second email.
        var restart = await PipelineProcess.RunAsync(["reports", "run", "--once", .. Args(db, sink.Port), .. schedule], _home);
        Assert.True(restart.ExitCode == 0, restart.Stderr);
        Assert.DoesNotContain("sent", restart.Stdout, StringComparison.Ordinal);
        Assert.Single(sink.Messages());

        var occurrence = new DateTimeOffset(due.Year, due.Month, due.Day, due.Hour, due.Minute, 0, TimeSpan.Zero);
        var id = ReportRun.IdOf("morning", occurrence);
        var list = await PipelineProcess.RunAsync(["reports", "list", "--json", .. Args(db, sink.Port)], _home);
        var line = Assert.Single(list.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"\"run\":\"{id}\"", line, StringComparison.Ordinal);
        Assert.Contains("\"state\":\"sent\"", line, StringComparison.Ordinal);
        Assert.Contains(message.MessageId ?? "no message id", line, StringComparison.Ordinal);
        // Two claims of round 0 (one per worker), one outcome.
        Assert.Equal(2, await db.ScalarAsync("SELECT count() FROM report_runs FINAL WHERE round = 0", ct));
        Assert.Equal(1, await db.ScalarAsync("SELECT count() FROM report_runs FINAL WHERE state = 'sent'", ct));
    }

    [Fact]
    public async Task Delivery_ServerRefusingAtFirst_DeliveredAfterOnce_AndAGiveUpIsADeadLetterResent()
    {
        var ct = TestContext.Current.CancellationToken;
        using var db = await servers.NewDatabaseAsync(ct);
        var now = TimeProvider.System.GetUtcNow();
        await InsertWindowsAsync(db, now.AddHours(-3), ct);
        var dumps = Directory.CreateTempSubdirectory("smtp-sink-").FullName;
        var refusing = await SmtpSink.StartAsync(dumpDirectory: dumps, softReject: "RCPT");
        var options = Options(refusing.Port, now.AddMinutes(-1), attempts: 30, delay: TimeSpan.FromMilliseconds(300), maxDelay: TimeSpan.FromSeconds(1));
        var scheduler = Scheduler(db, options);
        var run = scheduler.RunIfDueAsync(options.Schedules[0], null, ct);
        // The server says "try again later" (450 on RCPT) for a while, then is replaced by one that accepts.
        var refusedFor = Stopwatch.StartNew();
        while (refusedFor.Elapsed < RefusalTime && !run.IsCompleted) await Task.Delay(200, ct);
        refusing.Dispose();
        using var sink = await SmtpSink.StartAsync(refusing.Port, dumps);
        Assert.Equal(ScheduledRunOutcome.Sent, await run);
        Assert.Single(sink.Messages());
        refusing.Dispose();
        var attempts = await db.ScalarAsync("SELECT attempts FROM report_runs FINAL WHERE state = 'sent'", ct);
        Assert.True(attempts > 1, $"attempts {attempts}");

        // A server away for longer than the retries: the run is recorded failed (the dead letter) with the reason...
        var down = Options(FreePortNobodyListensOn(), now.AddMinutes(-1), attempts: 2, delay: TimeSpan.FromMilliseconds(100), maxDelay: TimeSpan.FromMilliseconds(100), name: "evening");
        Assert.Equal(ScheduledRunOutcome.Failed, await Scheduler(db, down).RunIfDueAsync(down.Schedules[0], null, ct));
        var failed = await PipelineProcess.RunAsync(["reports", "list", "--state", "failed", "--json", .. Args(db, sink.Port)], _home);
        var line = Assert.Single(failed.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("\"run\":\"evening@", line, StringComparison.Ordinal);
        Assert.Contains("gave up after 2 attempts", line, StringComparison.Ordinal);
        // ... not made again by the next look, and delivered by resend once the server is back.
        Assert.Equal(ScheduledRunOutcome.AlreadyDone, await Scheduler(db, down).RunIfDueAsync(down.Schedules[0], null, ct));
        var id = System.Text.Json.JsonDocument.Parse(line).RootElement.GetProperty("run").GetString()!;
        var resend = await PipelineProcess.RunAsync(["reports", "resend", id, .. Args(db, sink.Port)], _home);
        Assert.True(resend.ExitCode == 0, resend.Stderr + resend.Stdout);
        Assert.Equal(2, sink.Messages().Count);
        var shown = await PipelineProcess.RunAsync(["reports", "show", id, .. Args(db, sink.Port)], _home);
        Assert.Matches(@"state\s+sent", shown.Stdout);
    }

    private static readonly byte[] PngMagic = [0x89, 0x50, 0x4E, 0x47];

    // Short, so the suite stays within its budget; the retries are what is tested, not the length of the outage.
    private static readonly TimeSpan RefusalTime = TimeSpan.FromSeconds(6);

    private ReportScheduler Scheduler(ClickHouseHttp db, ReportsOptions options)
    {
        var mailer = new ReportMailer(options.Smtp, options.Delivery, TimeProvider.System);
        return new ReportScheduler(options, new ReportRunStore(db, TimeProvider.System), new ReportDelivery(db, options, mailer),
            Path.Combine(_home, "scheduled"), TimeProvider.System);
    }

    private static ReportsOptions Options(int port, DateTimeOffset due, int attempts, TimeSpan delay, TimeSpan maxDelay, string name = "morning") => new()
    {
        Smtp = new SmtpOptions { Host = "127.0.0.1", Port = port, Security = SmtpSecurity.None, From = "pipeline@example.com", Timeout = TimeSpan.FromSeconds(5) },
        Delivery = new ReportDeliveryOptions { Attempts = attempts, Delay = delay, MaxDelay = maxDelay },
        ClaimSettle = TimeSpan.FromMilliseconds(200),
        Schedules =
        [
            new ReportScheduleOptions { Name = name, Cron = $"{due.Minute} {due.Hour} * * *", Kind = "daily", To = ["team@example.com"] },
        ],
    };

    private string[] Args(ClickHouseHttp db, int smtpPort) =>
    [
        "--set", $"ClickHouse:Url={servers.ClickHouse.Url}", "--set", $"ClickHouse:User={servers.ClickHouse.User}",
        "--set", $"ClickHouse:Password={servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={db.Options.Database}",
        "--set", "Reports:Smtp:Host=127.0.0.1", "--set", $"Reports:Smtp:Port={smtpPort}", "--set", "Reports:Smtp:Security=None",
        "--set", "Reports:Smtp:From=pipeline@example.com", "--set", $"Local:RunDir={_home}",
    ];

    // 120 one-minute windows of prod/svc support_answer 1.0 from start: 3 calls each (one error every 4th window).
    private static Task InsertWindowsAsync(ClickHouseHttp db, DateTimeOffset start, CancellationToken ct) =>
        db.ExecuteAsync($"""
            INSERT INTO metrics_1m (environment, service, prompt_name, prompt_version, request_model, window_start, window_seconds, revision,
                calls, events, successes, errors, latency_sum_ms, latency_max_ms, latency_p50_ms, latency_p95_ms, input_tokens, output_tokens, cost_usd, emitted_at)
            SELECT 'prod', 'svc', 'support_answer', '1.0', 'gpt-4o', toDateTime({start.ToUnixTimeSeconds() / 60 * 60}) + number * 60, 60, 1,
                3, 3, if(number % 4 = 0, 2, 3), if(number % 4 = 0, 1, 0), 900, 400, 280, 380 + number % 10, 300, 60, 0.003, now()
            FROM system.numbers LIMIT 120
            """, ct);

    private static byte[] Decoded(MimePart part)
    {
        using var stream = new MemoryStream();
        part.Content!.DecodeTo(stream);
        return stream.ToArray();
    }

    private static int FreePortNobodyListensOn()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

}
