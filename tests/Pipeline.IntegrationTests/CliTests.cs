using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Pipeline.DevServers;

namespace Pipeline.IntegrationTests;

/// <summary>The real <c>pipeline</c> process: help, exit codes, error lines, and the local server lifecycle.</summary>
public sealed class CliTests(ServersFixture servers) : IDisposable
{
    private readonly string _home = Directory.CreateTempSubdirectory("pipeline-cli-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_home, recursive: true);
        }
        catch (IOException)
        {
            // A server may still be flushing a log; the temp folder is harmless.
        }
    }

    [Theory]
    [InlineData("up")]
    [InlineData("down")]
    [InlineData("status")]
    [InlineData("migrate")]
    [InlineData("smoke")]
    [InlineData("aggregate")]
    [InlineData("config show")]
    [InlineData("alert")]
    [InlineData("alerts tail")]
    [InlineData("alerts list")]
    [InlineData("alerts show")]
    [InlineData("alerts ack")]
    [InlineData("alerts silence")]
    [InlineData("alerts silences")]
    [InlineData("alerts unsilence")]
    [InlineData("loadgen")]
    [InlineData("top")]
    [InlineData("demo")]
    [InlineData("eval")]
    [InlineData("report daily")]
    [InlineData("report range")]
    [InlineData("report monthly")]
    [InlineData("reports send")]
    [InlineData("reports run")]
    [InlineData("reports list")]
    [InlineData("reports show")]
    [InlineData("reports resend")]
    [InlineData("rollup")]
    [InlineData("retention")]
    [InlineData("maintain")]
    [InlineData("dashboard")]
    [InlineData("export")]
    [InlineData("dlq list")]
    [InlineData("dlq show")]
    [InlineData("dlq replay")]
    public async Task Help_EveryCommand_PrintsUsageWithAnExample(string command)
    {
        var result = await RunAsync([.. command.Split(' '), "--help"]);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Usage:", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("pipeline " + command, result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadFlag_ExitsTwo_NamesTheFlag()
    {
        var result = await RunAsync(["status", "--no-such-flag"]);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--no-such-flag", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ClickHouse:Url=notaurl", "ClickHouse:Url")]
    [InlineData("ClickHouse:RequestTimeout=soon", "ClickHouse:RequestTimeout")]
    [InlineData("ClickHouse:Database=a;b", "ClickHouse:Database")]
    [InlineData("Local:ClickHouseTcpPort=99999", "Local:ClickHouseTcpPort")]
    public async Task BadConfig_Exits78_NamesTheKey(string setting, string key)
    {
        var result = await RunAsync(["status", "--set", setting, "--set", $"Local:RunDir={_home}"]);
        Assert.Equal(78, result.ExitCode);
        Assert.Contains(key, result.Stderr, StringComparison.Ordinal);
        Assert.Single(result.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public async Task ConfigShow_SeededSecrets_NeverPrinted()
    {
        string[] secrets = ["PEM-SECRET", "JAAS-SECRET", "OAUTH-SECRET", "SASL-SECRET", "CH-SECRET", "URL-SECRET", "ANALYST-SECRET"];
        var result = await RunAsync(["config", "show", "--set", "Kafka:ssl.key.pem=PEM-SECRET", "--set", "Kafka:sasl.jaas.config=password=\"JAAS-SECRET\"",
            "--set", "Kafka:sasl.oauthbearer.config=OAUTH-SECRET", "--set", "Kafka:sasl.password=SASL-SECRET", "--set", "ClickHouse:Password=CH-SECRET",
            "--set", "ClickHouse:Url=http://writer:URL-SECRET@127.0.0.1:18123/", "--set", "ClickHouse:AnalystPassword=ANALYST-SECRET", "--set", $"Local:RunDir={_home}"]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("Aggregator:MaxEventAge = 30d", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("ClickHouse:Url = http://writer:***@127.0.0.1:18123/", result.Stdout, StringComparison.Ordinal);
        Assert.All(secrets, s => Assert.DoesNotContain(s, result.Stdout + result.Stderr, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Nonsense:Key=1", "Nonsense")]
    [InlineData("Aggregator:MaxEventAge=-1.00:00:00", "Aggregator:MaxEventAge")]
    [InlineData("Aggregator:Anomalies:Threshold=NaN", "Aggregator:Anomalies:Threshold")]
    public async Task ConfigShow_BadSetting_Exits78_NamesTheKey(string setting, string key)
    {
        var result = await RunAsync(["config", "show", "--set", setting, "--set", $"Local:RunDir={_home}"]);
        Assert.Equal(78, result.ExitCode);
        Assert.Contains(key, Assert.Single(result.Stderr.Trim().Split('\n')), StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadGen_AmbiguousDuration_ExitsTwo_SuggestsHours()
    {
        var result = await RunAsync(["loadgen", "--duration", "48:00:00", "--set", $"Local:RunDir={_home}"]);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--duration", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("48h", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("rules: []\n", "rules.yaml:1: 'rules' is empty")]
    [InlineData("rules:\n  - id: traffic_drop\n    metric: traffic\n    comparison: below\n    baseline_factor: 1.5\n", "rules.yaml:5: rule 'traffic_drop': 'baseline_factor' 1.5 must be below 1")]
    [InlineData("rules:\n  - id: sr\n    metric: success_rate\n    comparison: below\n    threshold: 95\n", "rules.yaml:5: rule 'sr': 'threshold' 95 must be between 0 and 1")]
    [InlineData("rules:\n  - id: p95\n    metric: latency_p95\n    comparison: above\n    baseline_factor: 2\n    for: 2h\n", "rules.yaml:6: rule 'p95': 'for' 2h plus 'window' (5m) must be shorter than the baseline period")]
    public async Task Alert_MeaninglessRuleFile_Exits78_NamesFileLineAndKey(string yaml, string expected)
    {
        var rules = Path.Combine(_home, "rules.yaml");
        await File.WriteAllTextAsync(rules, yaml, TestContext.Current.CancellationToken);
        using var db = await servers.NewDatabaseAsync(TestContext.Current.CancellationToken);
        var result = await RunAsync(["alert", "--rules", rules, "--set", $"ClickHouse:Url={servers.ClickHouse.Url}", "--set", $"ClickHouse:User={servers.ClickHouse.User}",
            "--set", $"ClickHouse:Password={servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={db.Options.Database}",
            "--set", $"Kafka:bootstrap.servers={servers.Bootstrap}", "--set", $"Local:RunDir={_home}"]);
        Assert.Equal(78, result.ExitCode);
        Assert.Contains(expected, result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadConfigFile_Exits78()
    {
        var file = Path.Combine(_home, "broken.json");
        await File.WriteAllTextAsync(file, "{ \"ClickHouse\": { \"Url\": ", TestContext.Current.CancellationToken);
        var result = await RunAsync(["status", "--config", file]);
        Assert.Equal(78, result.ExitCode);
        Assert.Contains("config", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnreachableServers_ExitSixtyNine_NameAddressAndStartCommand()
    {
        var port = FreePort();
        var result = await RunAsync(["smoke", "--set", $"ClickHouse:Url=http://127.0.0.1:{port}/", "--set", $"Local:RunDir={_home}"]);
        Assert.Equal(69, result.ExitCode);
        var line = Assert.Single(result.Stderr.Trim().Split('\n'));
        Assert.Contains($"127.0.0.1:{port}", line, StringComparison.Ordinal);
        Assert.Contains("./pipeline up", line, StringComparison.Ordinal);

        var status = await RunAsync(["status", "--json", "--set", $"ClickHouse:Url=http://127.0.0.1:{port}/", "--set", $"Local:RunDir={_home}"]);
        Assert.Equal(69, status.ExitCode);
        using var doc = JsonDocument.Parse(status.Stdout);
        Assert.All(doc.RootElement.EnumerateArray(), s => Assert.False(s.GetProperty("up").GetBoolean()));
    }

    [Fact]
    public async Task Smoke_AgainstTestServers_LandsTheEvent()
    {
        var ct = TestContext.Current.CancellationToken;
        using var db = await servers.NewDatabaseAsync(ct);
        var result = await RunAsync(["smoke", "--set", $"ClickHouse:Url={servers.ClickHouse.Url}", "--set", $"ClickHouse:User={servers.ClickHouse.User}",
            "--set", $"ClickHouse:Password={servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={db.Options.Database}",
            "--set", $"Kafka:bootstrap.servers={servers.Bootstrap}", "--set", $"Local:RunDir={_home}"]);
        Assert.True(result.ExitCode == 0, result.Stderr + result.Stdout);
        Assert.Contains("landed", result.Stdout, StringComparison.Ordinal);
        Assert.Equal(1, await db.ScalarAsync("SELECT count() FROM calls FINAL WHERE service = 'smoke-test'", ct));
    }

    [Fact]
    public async Task LoadGen_ScenarioFileWithEventLimit_PublishesExactlyThatMany()
    {
        var ct = TestContext.Current.CancellationToken;
        var topic = await servers.NewTopicAsync("loadgen", 2, ct);
        var file = Path.Combine(AppContext.BaseDirectory, "scenarios", "busy-day.yaml");
        var result = await RunAsync(["loadgen", "--scenario", file, "--duration", "00:30:00", "--events", "2500",
            "--set", $"Kafka:bootstrap.servers={servers.Bootstrap}", "--set", $"Aggregator:Topic={topic}", "--set", $"Local:RunDir={_home}",
            "--set", $"ClickHouse:Url={servers.ClickHouse.Url}", "--set", $"ClickHouse:User={servers.ClickHouse.User}", "--set", $"ClickHouse:Password={servers.ClickHouse.Password}"]);
        Assert.True(result.ExitCode == 0, result.Stderr + result.Stdout);
        Assert.Contains("2500 calls of scenario 'busy-day'", result.Stdout, StringComparison.Ordinal);
        using var consumer = new Confluent.Kafka.ConsumerBuilder<byte[], byte[]>(new Confluent.Kafka.ConsumerConfig { BootstrapServers = servers.Bootstrap, GroupId = "count" }).Build();
        long total = 0;
        for (var p = 0; p < 2; p++)
        {
            var w = consumer.QueryWatermarkOffsets(new Confluent.Kafka.TopicPartition(topic, p), TimeSpan.FromSeconds(10));
            total += w.High.Value - w.Low.Value;
        }
        Assert.Equal(2500, total);
    }

    [Fact]
    public async Task LoadGen_BadScenarioFile_ExitsWithUsageErrorNamingTheLine()
    {
        var file = Path.Combine(_home, "bad.yaml");
        await File.WriteAllTextAsync(file, "name: bad\nstreams:\n  - id: a\n    prompt_name: p\n    prompt_version: '1'\n    calls_per_minutes: 5\n", TestContext.Current.CancellationToken);
        var result = await RunAsync(["loadgen", "--scenario", file, "--set", $"Local:RunDir={_home}"]);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("bad.yaml:6:", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("calls_per_minutes", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UpStatusDown_OwnRunFolder_StartsReportsAndStopsBothServers_NoProcessLeft()
    {
        var ct = TestContext.Current.CancellationToken;
        string[] settings = ["--set", $"Local:RunDir={_home}", "--set", $"ClickHouse:Url=http://127.0.0.1:{FreePort()}/", "--set", $"Local:ClickHouseTcpPort={FreePort()}"];

        var up = await RunAsync(["up", .. settings]);
        Assert.True(up.ExitCode == 0, up.Stderr + up.Stdout);
        var chPid = DetachedProcessPid(Path.Combine(_home, "clickhouse", "clickhouse.pid"));
        var brokerPid = DetachedProcessPid(Path.Combine(_home, "broker", "pid"));
        try
        {
            var upAgain = await RunAsync(["up", .. settings]);
            Assert.Equal(0, upAgain.ExitCode);
            Assert.Equal(chPid, DetachedProcessPid(Path.Combine(_home, "clickhouse", "clickhouse.pid")));

            var status = await RunAsync(["status", "--json", .. settings]);
            Assert.Equal(0, status.ExitCode);
            using var doc = JsonDocument.Parse(status.Stdout);
            var byName = doc.RootElement.EnumerateArray().ToDictionary(e => e.GetProperty("name").GetString()!);
            Assert.True(byName["clickhouse"].GetProperty("up").GetBoolean());
            Assert.True(byName["kafka"].GetProperty("up").GetBoolean());
            Assert.Equal(LocalBroker.ReadBootstrap(Path.Combine(_home, "broker")), byName["kafka"].GetProperty("address").GetString());
        }
        finally
        {
            var down = await RunAsync(["down", .. settings]);
            Assert.Equal(0, down.ExitCode);
        }
        Assert.False(Alive(chPid), "clickhouse-server still running after down");
        Assert.False(Alive(brokerPid), "dev broker still running after down");
        var after = await RunAsync(["status", .. settings]);
        Assert.Equal(69, after.ExitCode);
        ct.ThrowIfCancellationRequested();
    }

    private static int DetachedProcessPid(string pidFile) => int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);

    // A killed server whose parent is gone may linger as a zombie until init reaps it: that counts as stopped.
    private static bool Alive(int pid) => DetachedProcess.IsAlive(pid);

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string[] args) => PipelineProcess.RunAsync(args, _home);
}

/// <summary>`pipeline demo` on the test servers: the injected incident fires and resolves.</summary>
public sealed class DemoTests(ServersFixture servers)
{
    [Theory]
    [InlineData("release-regression", "latency_p95_regression", "support_answer@2.0")]
    [InlineData("provider-outage", "success_rate_critical", "summarize_ticket@3.1")]
    [InlineData("traffic-spike", "traffic_spike", "support_answer@1.0")]
    [InlineData("cost-jump", "cost_per_call", "summarize_ticket@3.1")]
    [InlineData("steady", "", "")]
    public async Task Demo_Scenario_RaisesAndResolvesTheRightAlert_AndWritesReport(string scenario, string rule, string series)
    {
        var ct = TestContext.Current.CancellationToken;
        var home = Directory.CreateTempSubdirectory("pipeline-demo-").FullName;
        var database = "t_demo_" + Guid.NewGuid().ToString("N")[..8];
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[]
                 {
                     Path.Combine(AppContext.BaseDirectory, "pipeline.dll"), "demo", "--scenario", scenario,
                     "--set", $"ClickHouse:Url={servers.ClickHouse.Url}", "--set", $"ClickHouse:User={servers.ClickHouse.User}",
                     "--set", $"ClickHouse:Password={servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={database}",
                     "--set", $"Kafka:bootstrap.servers={servers.Bootstrap}", "--set", "Kafka:session.timeout.ms=6000",
                 })
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["PIPELINE_HOME"] = home;
        try
        {
            using var process = System.Diagnostics.Process.Start(psi)!;
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct);
            var output = await stdout;
            Assert.True(process.ExitCode == 0, output + await stderr);
            var reportDir = Assert.Single(Directory.GetDirectories(Path.Combine(home, ".run", "reports"), "demo-*"));
            var report = Path.Combine(reportDir, "report.md");
            Assert.True(File.Exists(Path.Combine(reportDir, "report.html")) && File.Exists(Path.Combine(reportDir, "report.json")) && File.Exists(Path.Combine(reportDir, "health.csv")));
            foreach (var png in new[] { "latency_p95.png", "calls.png" })
            {
                var bytes = await File.ReadAllBytesAsync(Path.Combine(reportDir, png), ct);
                Assert.True(bytes.Length > 1000 && bytes[0] == 0x89 && bytes[1] == (byte)'P' && bytes[2] == (byte)'N' && bytes[3] == (byte)'G', $"{png} is not a PNG");
            }
            Assert.Contains("<svg", await File.ReadAllTextAsync(Path.Combine(reportDir, "latency_p95.svg"), ct), StringComparison.Ordinal);
            if (scenario == "release-regression")
            {
                // The A/B verdict of the report: the new version is significantly slower.
                Assert.Matches(@"2\.0 vs 1\.0: p95 is slower by \d+-\d+ ms \(95% CI\)", await File.ReadAllTextAsync(report, ct));
            }
            using var clickHouse = new Pipeline.ClickHouse.ClickHouseHttp(servers.ClickHouse.WithDatabase(database + "_demo"));
            if (rule.Length == 0)
            {
                Assert.Equal(0, await clickHouse.ScalarAsync("SELECT count() FROM alerts FINAL", ct));
            }
            else
            {
                Assert.Matches($@"FIRING\s+\w+\s+{rule}: .*{System.Text.RegularExpressions.Regex.Escape(series)}", output);
                Assert.Matches($@"RESOLVED\s+\w+\s+{rule}", output);
                Assert.Contains(rule, await File.ReadAllTextAsync(report, ct), StringComparison.Ordinal);
                Assert.Equal(1, await clickHouse.ScalarAsync($"SELECT count() FROM alerts FINAL WHERE rule_id = '{rule}' AND state = 'FIRING'", ct));
                Assert.Equal(1, await clickHouse.ScalarAsync($"SELECT count() FROM alerts FINAL WHERE rule_id = '{rule}' AND state = 'RESOLVED'", ct));
            }

            // The demo leaves the dashboard running on its data: it shows the incident and its alert.
            var address = System.Text.RegularExpressions.Regex.Match(output, @"dashboard:\s+(http://\S+)").Groups[1].Value;
            Assert.True(address.Length > 0, output);
            using var http = new HttpClient { BaseAddress = new Uri(address) };
            var alerts = await http.GetStringAsync(new Uri("/api/alerts?range=24h", UriKind.Relative), ct);
            if (rule.Length > 0) Assert.Contains($"\"ruleId\":\"{rule}\"", alerts, StringComparison.Ordinal);
        }
        finally
        {
            var pid = Path.Combine(home, ".run", "dashboard", "pid");
            if (File.Exists(pid) && int.TryParse(await File.ReadAllTextAsync(pid, CancellationToken.None), out var id))
            {
                Pipeline.DevServers.DetachedProcess.Kill(id, 9);
            }
        }
        Directory.Delete(home, recursive: true);
    }
}
