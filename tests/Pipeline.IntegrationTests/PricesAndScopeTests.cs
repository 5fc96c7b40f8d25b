using System.Globalization;
using System.Net;
using System.Text.Json;
using Pipeline.Cli;
using Pipeline.ClickHouse;
using Pipeline.Dashboard;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.IntegrationTests;

/// <summary>
/// Data for <see cref="PricesAndScopeTests"/>, through the real aggregator into a database of its own: two teams
/// with a prompt of the same name and version. prod/checkout calls a model the built-in table has no price for
/// (<c>acme/acme-llm</c>), priced by configuration whose price changes mid-range; staging/search reports its own
/// cost for the same model and calls one more model nobody has a price for (unpriced).
/// </summary>
public sealed class ScopedPricingData(ServersFixture servers) : IAsyncLifetime
{
    public const string Prompt = "support_answer";

    public ClickHouseHttp Writer { get; private set; } = null!;
    internal PipelineConfig Config { get; private set; } = null!;
    public string Home { get; } = Directory.CreateTempSubdirectory("pipeline-pricing-").FullName;
    /// <summary>Calls of 2.1 from this minute on are priced at the new price.</summary>
    public DateTimeOffset PriceChange { get; private set; }
    public List<LlmCall> Events { get; } = [];
    public double ExpectedProdCost { get; private set; }
    public DateTimeOffset From { get; private set; }
    public DateTimeOffset To { get; private set; }

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        Writer = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 2, ct);
        var now = TimeProvider.System.GetUtcNow();
        From = new DateTimeOffset(now.UtcTicks - now.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero).AddMinutes(-12);
        To = From.AddMinutes(10);
        PriceChange = From.AddMinutes(4);
        Config = PipelineConfig.Load(null,
        [
            $"Local:RunDir={Path.Combine(Home, ".run")}",
            "Aggregator:Prices:0:Provider=acme", "Aggregator:Prices:0:Model=acme-llm",
            "Aggregator:Prices:0:InputPerMillion=1", "Aggregator:Prices:0:OutputPerMillion=2",
            "Aggregator:Prices:1:Provider=ACME", "Aggregator:Prices:1:Model=acme-llm",
            "Aggregator:Prices:1:InputPerMillion=3", "Aggregator:Prices:1:OutputPerMillion=6",
            $"Aggregator:Prices:1:EffectiveFrom={PriceChange.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)}",
        ]);

        var random = new Random(15);
        LlmCall Call(string environment, string service, string version, string model, int minute) => Samples.MinimalCall() with
        {
            EventId = Guid.NewGuid(), OccurredAt = From.AddMinutes(minute).AddMilliseconds(random.Next(0, 59_000)),
            Environment = environment, Service = service, Operation = "chat", Provider = "acme", RequestModel = model,
            PromptName = Prompt, PromptVersion = version, LatencyMs = 200 + random.Next(0, 400),
            InputTokens = random.Next(100, 3000), OutputTokens = random.Next(10, 600), CostUsd = null,
        };
        for (var i = 0; i < 300; i++) Events.Add(Call("prod", "checkout", "2.1", "acme-llm", i % 8));
        Events.Add(Call("prod", "checkout", "2.2", "acme-llm", 7));
        for (var i = 0; i < 200; i++) Events.Add(Call("staging", "search", "2.1", "acme-llm", i % 8) with { CostUsd = 0.001 });
        for (var i = 0; i < 50; i++) Events.Add(Call("staging", "search", "2.1", "mystery-llm", i % 8));
        // By hand, not through the code under test: 1 and 2 USD per 1M tokens before the change, 3 and 6 from it on.
        ExpectedProdCost = Events.Where(e => e.Environment == "prod").Sum(e => e.OccurredAt < PriceChange
            ? (e.InputTokens * 1.0 + e.OutputTokens * 2.0) / 1e6
            : (e.InputTokens * 3.0 + e.OutputTokens * 6.0) / 1e6);
        await AggregationScenario.ProduceAsync(servers, topic, Events, ct);

        // The aggregator as `pipeline aggregate` configures it: its price table comes from the Aggregator settings.
        var options = Config.Aggregator;
        options.Topic = topic;
        options.GroupId = "g-" + topic;
        options.MetricsTopic = await servers.NewTopicAsync("metrics", 1, ct);
        options.DeadLetterTopic = await servers.NewTopicAsync("dlq", 1, ct);
        options.FlushInterval = TimeSpan.FromMilliseconds(200);
        options.Windowing.IdleTimeout = TimeSpan.FromSeconds(1);
        using (await WorkerHarness.RunUntilAsync(servers, Writer, options,
            async () => await Writer.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= Events.Count, TimeSpan.FromSeconds(90), ct)) { }

        // One open incident in staging only.
        await Writer.ExecuteAsync($"""
            INSERT INTO alerts (alert_id, rule_id, fingerprint, state, severity, environment, service, prompt_name, prompt_version, request_model, metric,
                observed, baseline, threshold, window_start, window_end, started_at, summary, recorded_at)
            VALUES ('s1', 'latency_p95_regression', 'f-s1', 'FIRING', 'ERROR', 'staging', 'search', '{Prompt}', '2.1', 'acme-llm', 'latency_p95',
                2400, 1000, 2000, now() - 300, now() - 240, now() - 300, 'p95 above baseline', now())
            """, ct);
    }

    /// <summary><c>--set</c> flags that point the CLI at this database.</summary>
    public string[] Database =>
    [
        "--set", $"ClickHouse:Url={servers.ClickHouse.Url}", "--set", $"ClickHouse:User={servers.ClickHouse.User}",
        "--set", $"ClickHouse:Password={servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={Writer.Options.Database}",
        "--set", $"Local:RunDir={Path.Combine(Home, ".run")}",
    ];

    public ValueTask DisposeAsync()
    {
        Writer.Dispose();
        Directory.Delete(Home, recursive: true);
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// Prices from configuration reach <c>metrics_1m</c>, effective dates included; unpriced calls stay unpriced;
/// <c>top</c>, <c>report</c> and the dashboard API keep to the environment and service asked for.
/// </summary>
public sealed class PricesAndScopeTests(ScopedPricingData data) : IClassFixture<ScopedPricingData>
{
    [Fact]
    public async Task ConfiguredPrice_IsTheCostInMetrics1m_ForAModelWithoutABuiltInPrice_ByEffectiveDate()
    {
        var ct = TestContext.Current.CancellationToken;
        var w = data.Writer;
        Assert.Equal(data.ExpectedProdCost, await w.ScalarAsync("SELECT sum(cost_usd) FROM metrics_1m FINAL WHERE environment = 'prod'", ct), 9);
        Assert.Equal(301, await w.ScalarAsync("SELECT sum(priced_calls) FROM metrics_1m FINAL WHERE environment = 'prod'", ct));
        Assert.Equal(0, await w.ScalarAsync("SELECT sum(unpriced_calls) FROM metrics_1m FINAL WHERE environment = 'prod'", ct));
        // The minute of the change and after: the new price, exactly.
        var after = data.Events.Where(e => e.Environment == "prod" && e.OccurredAt >= data.PriceChange).Sum(e => (e.InputTokens * 3.0 + e.OutputTokens * 6.0) / 1e6);
        Assert.Equal(after, await w.ScalarAsync($"SELECT sum(cost_usd) FROM metrics_1m FINAL WHERE environment = 'prod' AND window_start >= {data.PriceChange.ToUnixTimeSeconds()}", ct), 9);
        // Reported costs are kept as reported; a model nobody prices is counted unpriced with no cost.
        Assert.Equal(0.2, await w.ScalarAsync("SELECT sum(cost_usd) FROM metrics_1m FINAL WHERE environment = 'staging' AND request_model = 'acme-llm'", ct), 9);
        Assert.Equal(50, await w.ScalarAsync("SELECT sum(unpriced_calls) FROM metrics_1m FINAL WHERE request_model = 'mystery-llm'", ct));
        Assert.Equal(0, await w.ScalarAsync("SELECT sum(cost_usd) FROM metrics_1m FINAL WHERE request_model = 'mystery-llm'", ct));
        var versions = await w.QueryAsync("SELECT DISTINCT price_version FROM metrics_1m FINAL", ct);
        Assert.Equal(data.Config.Prices.Version, Assert.Single(versions).GetProperty("price_version").GetString());
        Assert.StartsWith("2026-11-01+config-", data.Config.Prices.Version, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigShow_ListsTheConfiguredPricesInForce()
    {
        var result = await PipelineProcess.RunAsync(["config", "show", .. data.Database,
            "--set", "Aggregator:Prices:0:Provider=acme", "--set", "Aggregator:Prices:0:Model=acme-llm",
            "--set", "Aggregator:Prices:0:InputPerMillion=1", "--set", "Aggregator:Prices:0:OutputPerMillion=2",
            "--set", "Aggregator:Prices:0:EffectiveFrom=2026-12-01"], data.Home);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("Aggregator:PriceTable:acme/acme-llm@2026-12-01 = input 1, cached input as input, output 2 USD per 1M tokens; from 2026-12-01 (Aggregator:Prices:0)",
            result.Stdout, StringComparison.Ordinal);
        Assert.Contains("Aggregator:PriceTable:openai/gpt-4o = ", result.Stdout, StringComparison.Ordinal);

        var bad = await PipelineProcess.RunAsync(["aggregate", .. data.Database, "--set", "Aggregator:Prices:0:Provider=acme"], data.Home);
        Assert.Equal(78, bad.ExitCode);
        Assert.Contains("Aggregator:Prices:0:Model: is required", bad.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Top_EnvironmentFilter_ShowsOnlyThatTeamsSeries_AndUnpricedAsUnpriced()
    {
        var filtered = await PipelineProcess.RunAsync(["top", "--once", "--minutes", "30", "--environment", "prod", "--service", "checkout", .. data.Database], data.Home);
        Assert.True(filtered.ExitCode == 0, filtered.Stderr);
        Assert.Equal(2, Rows(filtered.Stdout, "acme-llm"));
        Assert.DoesNotContain("mystery-llm", filtered.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("unpriced", filtered.Stdout, StringComparison.Ordinal);
        Assert.Contains("environment 'prod', service 'checkout'", filtered.Stdout, StringComparison.Ordinal);

        var all = await PipelineProcess.RunAsync(["top", "--once", "--minutes", "30", .. data.Database], data.Home);
        Assert.True(all.ExitCode == 0, all.Stderr);
        Assert.Equal(3, Rows(all.Stdout, "acme-llm"));
        var mystery = Assert.Single(all.Stdout.Split('\n'), l => l.Contains("mystery-llm", StringComparison.Ordinal));
        Assert.Contains("unpriced", mystery, StringComparison.Ordinal);
        Assert.Contains("staging", mystery, StringComparison.Ordinal);

        var none = await PipelineProcess.RunAsync(["top", "--once", "--minutes", "30", "--environment", "nowhere", .. data.Database], data.Home);
        Assert.Contains("no closed windows in the last 30 minutes, environment 'nowhere'", none.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Report_EnvironmentFilter_EverySectionInScope_AbVerdictNeedsTheMinimumSample()
    {
        var ct = TestContext.Current.CancellationToken;
        string[] range = ["--from", data.From.ToString("O", CultureInfo.InvariantCulture), "--to", data.To.ToString("O", CultureInfo.InvariantCulture)];
        var prodDir = Path.Combine(data.Home, "report-prod");
        var prod = await PipelineProcess.RunAsync(["report", "range", .. range, "--environment", "prod", "--out", prodDir, .. data.Database], data.Home);
        Assert.True(prod.ExitCode == 0, prod.Stderr + prod.Stdout);
        Assert.Contains("A/B support_answer: 2.2 vs 2.1: not enough data (n=1 vs 300; need 30 per side)", prod.Stdout, StringComparison.Ordinal);
        using (var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(prodDir, "report.json"), ct)))
        {
            var r = json.RootElement;
            Assert.Equal(301, r.GetProperty("calls").GetInt64());
            Assert.Equal("prod", r.GetProperty("environment").GetString());
            Assert.Equal(data.ExpectedProdCost, r.GetProperty("cost_usd").GetDouble(), 9);
            Assert.All(r.GetProperty("health").EnumerateArray(), h => Assert.Equal("prod", h.GetProperty("Environment").GetString()));
            var comparison = Assert.Single(r.GetProperty("comparisons").EnumerateArray());
            Assert.Equal(JsonValueKind.Null, comparison.GetProperty("P95DiffLowMs").ValueKind);
            Assert.Equal(JsonValueKind.Null, comparison.GetProperty("SuccessP").ValueKind);
        }

        var stagingDir = Path.Combine(data.Home, "report-staging");
        var staging = await PipelineProcess.RunAsync(["report", "range", .. range, "--environment", "staging", "--service", "search", "--out", stagingDir, .. data.Database], data.Home);
        Assert.True(staging.ExitCode == 0, staging.Stderr + staging.Stdout);
        var md = await File.ReadAllTextAsync(Path.Combine(stagingDir, "report.md"), ct);
        Assert.Contains("Scope: environment 'staging', service 'search'.", md, StringComparison.Ordinal);
        Assert.Contains("- Cost: $0.20; projected per 30 days", md, StringComparison.Ordinal);
        Assert.Contains("50 calls (20.0%) unpriced and not included", md, StringComparison.Ordinal);
        Assert.Matches(@"\| mystery-llm \| 50 \|.*\| unpriced \|", md);
        // Staging's 2.1 is not a control for prod's 2.2, nor is prod's 2.1 a control for anything here.
        Assert.Contains("No prompt ran more than one version in this period.", md, StringComparison.Ordinal);

        var nowhere = await PipelineProcess.RunAsync(["report", "range", .. range, "--environment", "nowhere", "--out", Path.Combine(data.Home, "r3"), .. data.Database], data.Home);
        Assert.Equal(1, nowhere.ExitCode);
        Assert.Contains("for environment 'nowhere'", nowhere.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DashboardApi_EnvironmentAndServiceParameters_ExcludeTheOtherTeam_UnpricedIsNull()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var app = DashboardApp.Create(new DashboardOptions { Port = 0 }, data.Writer.Options.AsAnalyst(), TimeProvider.System);
        await app.StartAsync(ct);
        using var http = new HttpClient { BaseAddress = new Uri(DashboardApp.Address(app)) };

        using (var prompts = await Get(http, "/api/prompts?range=1h&environment=prod", ct))
        {
            var rows = prompts.RootElement.EnumerateArray().ToList();
            Assert.Equal(2, rows.Count);
            Assert.All(rows, p => Assert.Equal("checkout", p.GetProperty("service").GetString()));
            Assert.Equal(data.ExpectedProdCost, rows.Sum(p => p.GetProperty("costUsd").GetDouble()), 9);
        }
        using (var all = await Get(http, "/api/prompts?range=1h", ct))
        {
            Assert.Equal(4, all.RootElement.GetArrayLength());
            var mystery = Assert.Single(all.RootElement.EnumerateArray(), p => p.GetProperty("model").GetString() == "mystery-llm");
            Assert.Equal(JsonValueKind.Null, mystery.GetProperty("costUsd").ValueKind);
            Assert.Equal(JsonValueKind.Null, mystery.GetProperty("costPerRequestUsd").ValueKind);
            Assert.Equal(50, mystery.GetProperty("unpricedRequests").GetInt64());
        }
        using (var overview = await Get(http, "/api/overview?range=1h&environment=staging&service=search", ct))
        {
            var o = overview.RootElement;
            Assert.Equal(250, o.GetProperty("requests").GetInt64());
            Assert.Equal(0.2, o.GetProperty("costUsd").GetDouble(), 9);
            Assert.Equal(50, o.GetProperty("unpricedRequests").GetInt64());
            Assert.Equal(1, o.GetProperty("activeAlerts").GetInt32());
        }
        using (var overview = await Get(http, "/api/overview?range=1h&environment=prod", ct))
        {
            Assert.Equal(301, overview.RootElement.GetProperty("requests").GetInt64());
            Assert.Equal(0, overview.RootElement.GetProperty("activeAlerts").GetInt32());
        }
        using (var cost = await Get(http, $"/api/cost?range=1h&environment=staging&prompt={ScopedPricingData.Prompt}", ct))
        {
            var c = cost.RootElement;
            Assert.Equal(0.2, c.GetProperty("totalUsd").GetDouble(), 9);
            Assert.Equal(50, c.GetProperty("unpricedRequests").GetInt64());
            var mystery = Assert.Single(c.GetProperty("byPrompt").EnumerateArray(), p => p.GetProperty("model").GetString() == "mystery-llm");
            Assert.Equal(JsonValueKind.Null, mystery.GetProperty("costUsd").ValueKind);
        }
        using (var series = await Get(http, "/api/timeseries?range=1h&environment=prod", ct))
        {
            Assert.Equal(301, series.RootElement.GetProperty("points").EnumerateArray().Sum(p => p.GetProperty("requests").GetInt64()));
        }
        using (var alerts = await Get(http, "/api/alerts?range=24h&environment=prod", ct))
        {
            Assert.Equal(0, alerts.RootElement.GetArrayLength());
        }
        using (var alerts = await Get(http, "/api/alerts?range=24h&environment=staging", ct))
        {
            Assert.Equal("search", Assert.Single(alerts.RootElement.EnumerateArray()).GetProperty("service").GetString());
        }
        using (var compare = await Get(http, "/api/compare?range=1h&environment=prod&series=support_answer@2.1@acme-llm&series=support_answer@2.2@acme-llm", ct))
        {
            var verdict = Assert.Single(compare.RootElement.GetProperty("verdicts").EnumerateArray());
            Assert.Equal("2.2 vs 2.1: not enough data (n=1 vs 300; need 30 per side)", verdict.GetProperty("verdict").GetString());
            Assert.Equal(JsonValueKind.Null, verdict.GetProperty("p95DiffLowMs").ValueKind);
            Assert.All(compare.RootElement.GetProperty("series").EnumerateArray(), s => Assert.Equal("prod", s.GetProperty("environment").GetString()));
        }
        using (var export = await http.GetAsync(new Uri("/api/export?range=1h&view=prompts&format=json&environment=prod", UriKind.Relative), ct))
        {
            using var rows = JsonDocument.Parse(await export.Content.ReadAsStringAsync(ct));
            Assert.Equal(2, rows.RootElement.GetArrayLength());
        }

        foreach (var (path, detail) in new[]
                 {
                     ("/api/overview?range=1h&environment=nowhere", "unknown environment 'nowhere'"), ("/api/prompts?range=1h&service=nowhere", "unknown service 'nowhere'"),
                     ("/api/compare?range=1h&environment=staging&series=support_answer@2.1&series=support_answer@2.2", "no data for 'support_answer@2.2' in this range for environment 'staging'"),
                 })
        {
            using var response = await http.GetAsync(new Uri(path, UriKind.Relative), ct);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
            Assert.Equal(detail, problem.RootElement.GetProperty("detail").GetString());
        }
    }

    private static int Rows(string table, string text) => table.Split('\n').Count(l => l.Contains(text, StringComparison.Ordinal));

    private static async Task<JsonDocument> Get(HttpClient http, string path, CancellationToken ct)
    {
        using var response = await http.GetAsync(new Uri(path, UriKind.Relative), ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body);
    }
}
