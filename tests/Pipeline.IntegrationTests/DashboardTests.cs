using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Playwright;
using Pipeline.ClickHouse;
using Pipeline.Dashboard;

namespace Pipeline.IntegrationTests;

/// <summary>
/// Data for the dashboard tests: a scenario with known answers through the real aggregator into a database
/// of its own, including a prompt named to break HTML and spreadsheets. Built once for the class.
/// </summary>
public sealed class DashboardData(ServersFixture servers) : IAsyncLifetime
{
    public const string HostilePrompt = "<script>alert('x')</script>";
    public const string FormulaPrompt = "=HYPERLINK(\"http://evil\")";

    internal AggregationScenario Scenario { get; private set; } = null!;
    /// <summary>Calls of environment <c>staging</c> three hours before the rest: outside the 1h range, a gap before the rest in 24h.</summary>
    internal List<Pipeline.Schemas.LlmCall> Earlier { get; private set; } = null!;
    public ClickHouseHttp Writer { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        Writer = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 2, ct);
        Scenario = AggregationScenario.Create(1500, TimeProvider.System.GetUtcNow().AddMinutes(-3), minutes: 5, seed: 61);
        for (var i = 0; i < 40; i++) Scenario.Events[i] = Scenario.Events[i] with { PromptName = HostilePrompt };
        for (var i = 40; i < 60; i++) Scenario.Events[i] = Scenario.Events[i] with { PromptName = FormulaPrompt };
        // A cohort for the tag filter (tags are only in the raw calls).
        for (var i = 60; i < 460; i++) Scenario.Events[i] = Scenario.Events[i] with { Tags = new Dictionary<string, string> { ["cohort"] = i < 360 ? "beta" : "control" } };
        Earlier = AggregationScenario.Create(60, TimeProvider.System.GetUtcNow().AddHours(-3), minutes: 2, seed: 62).Events
            .Select(e => e with { Environment = "staging" }).ToList();
        await AggregationScenario.ProduceAsync(servers, topic, Earlier.Concat(Scenario.Events), ct);
        await WorkerHarness.AggregateAllAsync(servers, Writer, topic, Earlier.Count + Scenario.Events.Count, ct);
        // One firing alert, as the alert worker would record it.
        await Writer.ExecuteAsync($"""
            INSERT INTO alerts (alert_id, rule_id, fingerprint, state, severity, prompt_name, prompt_version, request_model, metric, observed, baseline, threshold,
                window_start, window_end, started_at, summary, runbook_url, recorded_at)
            VALUES ('a1', 'latency_p95_regression', 'f1', 'FIRING', 'ERROR', 'answer', '2.0', 'gpt-4o', 'latency_p95', 2400, 1000, 2000,
                now() - 300, now() - 240, now() - 300, 'p95 2400 ms above 2x baseline 1000 ms', 'https://runbooks.example.test/latency', now())
            """, ct);
    }

    /// <summary>The write token of <see cref="StartAsync"/> with <c>writes</c>; the dashboard is given only its hash.</summary>
    public const string WriteToken = "test-write-token";

    public async Task<WebApplication> StartAsync(ClickHouseOptions? clickHouse = null, bool writes = false)
    {
        var options = new DashboardOptions { Port = 0, MonthlyBudgetUsd = 0.0001 };
        if (writes)
        {
            options.WriterUser = Writer.Options.User;
            options.WriterPassword = Writer.Options.Password;
            options.WriteTokenSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(WriteToken)));
        }
        var app = DashboardApp.Create(options, clickHouse ?? Writer.Options.AsAnalyst(), TimeProvider.System);
        await app.StartAsync(TestContext.Current.CancellationToken);
        return app;
    }

    public ValueTask DisposeAsync()
    {
        Writer.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>The dashboard's JSON API against the real local ClickHouse with known data.</summary>
public sealed class DashboardApiTests(DashboardData data) : IClassFixture<DashboardData>
{
    [Fact]
    public async Task Overview_ExactCountsAndPercentilesWithinBound()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var app = await data.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(DashboardApp.Address(app)) };
        using var doc = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/overview?range=1h", UriKind.Relative), ct));
        var o = doc.RootElement;
        var events = data.Scenario.Events;
        Assert.Equal(events.Count, o.GetProperty("requests").GetInt64());
        Assert.Equal(events.Count(e => e.Outcome == Pipeline.Schemas.Outcome.Success) / (double)events.Count, o.GetProperty("successRate").GetDouble(), 9);
        Assert.Equal(events.Sum(e => e.InputTokens), o.GetProperty("inputTokens").GetInt64());
        Assert.Equal(1, o.GetProperty("activeAlerts").GetInt32());
        var exact = await data.Writer.ScalarAsync("SELECT quantileExact(0.95)(latency_ms) FROM calls FINAL WHERE environment = 'prod'", ct);
        Assert.InRange(o.GetProperty("latencyP95Ms").GetDouble(), exact * 0.98, exact * 1.02);
        Assert.True(o.GetProperty("freshnessSeconds").GetDouble() >= 0);

        // One prompt: its own numbers.
        using var one = JsonDocument.Parse(await http.GetStringAsync(new Uri($"/api/overview?range=1h&prompt={Uri.EscapeDataString(DashboardData.HostilePrompt)}", UriKind.Relative), ct));
        Assert.Equal(40, one.RootElement.GetProperty("requests").GetInt64());
    }

    [Fact]
    public async Task Prompts_TimeSeries_Cost_Compare_Alerts_AddUp()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var app = await data.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(DashboardApp.Address(app)) };
        var count = data.Scenario.Events.Count;

        using var prompts = await Get(http, "/api/prompts?range=1h", ct);
        Assert.Equal(count, prompts.RootElement.EnumerateArray().Sum(p => p.GetProperty("requests").GetInt64()));
        Assert.All(prompts.RootElement.EnumerateArray(), p => Assert.Contains(p.GetProperty("health").GetString(), new[] { "green", "yellow", "red" }));
        Assert.Contains(prompts.RootElement.EnumerateArray(), p => p.GetProperty("promptName").GetString() == DashboardData.HostilePrompt);

        using var series = await Get(http, "/api/timeseries?range=1h", ct);
        Assert.Equal(60, series.RootElement.GetProperty("bucketSeconds").GetInt32());
        Assert.Equal(count, series.RootElement.GetProperty("points").EnumerateArray().Sum(p => p.GetProperty("requests").GetInt64()));

        using var cost = await Get(http, "/api/cost?range=1h", ct);
        var expectedCost = await data.Writer.ScalarAsync("SELECT sum(cost_usd) FROM metrics_1m FINAL WHERE environment = 'prod'", ct);
        Assert.Equal(expectedCost, cost.RootElement.GetProperty("totalUsd").GetDouble(), 6);
        Assert.True(cost.RootElement.GetProperty("budgetPace").GetDouble() > 1); // a tiny budget: over pace

        var versions = prompts.RootElement.EnumerateArray().Where(p => p.GetProperty("promptName").GetString() == "answer")
            .Select(p => $"answer@{p.GetProperty("promptVersion").GetString()}@{p.GetProperty("model").GetString()}").Take(2).ToList();
        using var compare = await Get(http, $"/api/compare?range=1h&series={Uri.EscapeDataString(versions[0])}&series={Uri.EscapeDataString(versions[1])}", ct);
        Assert.Equal(2, compare.RootElement.GetProperty("series").GetArrayLength());
        Assert.False(string.IsNullOrEmpty(compare.RootElement.GetProperty("verdicts")[0].GetProperty("verdict").GetString()));
        // The compared series carry the prompts table's token totals (a cold test saw 0 beside a tokens-per-request figure).
        foreach (var compared in compare.RootElement.GetProperty("series").EnumerateArray())
        {
            var row = prompts.RootElement.EnumerateArray().Single(p => p.GetProperty("promptName").GetString() == "answer"
                && p.GetProperty("promptVersion").GetString() == compared.GetProperty("promptVersion").GetString()
                && p.GetProperty("model").GetString() == compared.GetProperty("model").GetString());
            Assert.True(compared.GetProperty("inputTokens").GetInt64() > 0);
            Assert.Equal(row.GetProperty("inputTokens").GetInt64(), compared.GetProperty("inputTokens").GetInt64());
            Assert.Equal(row.GetProperty("outputTokens").GetInt64(), compared.GetProperty("outputTokens").GetInt64());
        }

        using var alerts = await Get(http, "/api/alerts?range=24h", ct);
        var alert = Assert.Single(alerts.RootElement.EnumerateArray());
        Assert.Equal("firing", alert.GetProperty("state").GetString());
        Assert.Equal(2400, alert.GetProperty("observed").GetDouble());
        Assert.Equal(1000, alert.GetProperty("baseline").GetDouble());
        Assert.Equal(2000, alert.GetProperty("threshold").GetDouble());

        using var recommendations = await Get(http, "/api/recommendations?range=1h", ct);
        var budget = Assert.Single(recommendations.RootElement.EnumerateArray(), r => r.GetProperty("kind").GetString() == "cost").GetProperty("message").GetString()!;
        // Millions of percent over a $0.0001 budget read as a capped multiple, the money for people.
        Assert.Contains("more than 1,000x the $0.0001 budget", budget, StringComparison.Ordinal);
        Assert.DoesNotContain("%", budget, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/api/overview?range=5y", HttpStatusCode.BadRequest, "range")]
    [InlineData("/api/overview?from=yesterday&to=today", HttpStatusCode.BadRequest, "from")]
    [InlineData("/api/overview?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", HttpStatusCode.BadRequest, "to: must be after from")]
    [InlineData("/api/overview?range=1h&prompt=no_such_prompt", HttpStatusCode.NotFound, "unknown prompt 'no_such_prompt'")]
    [InlineData("/api/compare?range=1h&series=answer", HttpStatusCode.BadRequest, "series")]
    [InlineData("/api/export?range=1h&view=secrets", HttpStatusCode.BadRequest, "view")]
    public async Task BadInput_ClearProblemWithStatus_NoStackTrace(string path, HttpStatusCode status, string expected)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var app = await data.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(DashboardApp.Address(app)) };
        using var response = await http.GetAsync(new Uri(path, UriKind.Relative), ct);
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync(ct);
        Assert.Contains(expected, JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EmptyRange_IsNotAnError_ItSaysSo()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var app = await data.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(DashboardApp.Address(app)) };
        using var doc = await Get(http, "/api/overview?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z", ct);
        Assert.Equal(0, doc.RootElement.GetProperty("requests").GetInt64());
        Assert.Equal("no data in this range", doc.RootElement.GetProperty("message").GetString());
    }

    [Fact]
    public async Task ClickHouseDown_Is503WithAClearMessage()
    {
        var ct = TestContext.Current.CancellationToken;
        var closed = data.Writer.Options.AsAnalyst();
        closed.Url = new Uri("http://127.0.0.1:9/");
        await using var app = await data.StartAsync(closed);
        using var http = new HttpClient { BaseAddress = new Uri(DashboardApp.Address(app)) };
        using var response = await http.GetAsync(new Uri("/api/overview?range=1h", UriKind.Relative), ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("ClickHouse is unavailable", await response.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Export_CsvAndJson_HostileNamesInert()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var app = await data.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(DashboardApp.Address(app)) };
        var csv = await http.GetStringAsync(new Uri("/api/export?range=1h&view=prompts&format=csv", UriKind.Relative), ct);
        var lines = csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("environment,service,promptName,promptVersion,model,requests", lines[0], StringComparison.Ordinal);
        Assert.Equal(data.Scenario.Events.Select(e => (e.PromptName, e.PromptVersion, e.RequestModel)).Distinct().Count(), lines.Length - 1);
        // A formula-looking name is neutralised for spreadsheets and quoted as CSV requires.
        Assert.Contains("\"'=HYPERLINK(\"\"http://evil\"\")\"", csv, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/export?range=1h&view=timeseries&format=json", UriKind.Relative), ct));
        Assert.Equal(data.Scenario.Events.Count, json.RootElement.EnumerateArray().Sum(p => p.GetProperty("requests").GetInt64()));
        using var calls = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/export?range=1h&view=calls&format=json", UriKind.Relative), ct));
        Assert.Equal(data.Scenario.Events.Count, calls.RootElement.GetArrayLength());
    }

    [Fact]
    public async Task Page_IsServedWithAStrictContentSecurityPolicy_AndTheChartLibraryIsLocal()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var app = await data.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(DashboardApp.Address(app)) };
        using var page = await http.GetAsync(new Uri("/", UriKind.Relative), ct);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("default-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        var html = await page.Content.ReadAsStringAsync(ct);
        Assert.DoesNotContain("https://", html, StringComparison.Ordinal);
        using var chart = await http.GetAsync(new Uri("/static/lib/chart.umd.min.js", UriKind.Relative), ct);
        Assert.Equal(HttpStatusCode.OK, chart.StatusCode);
        using var escape = await http.GetAsync(new Uri("/static/..%2F..%2Fappsettings.json", UriKind.Relative), ct);
        Assert.Equal(HttpStatusCode.NotFound, escape.StatusCode);
    }

    [Fact]
    public async Task Filters_EnvironmentServiceModel_NarrowEveryEndpointAndExport_PreviousPeriodCompared()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var app = await data.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(DashboardApp.Address(app)) };
        var prod = data.Scenario.Events;
        var mini = prod.Count(e => e.RequestModel == "gpt-4o-mini");

        using var staging = await Get(http, "/api/overview?range=24h&environment=staging", ct);
        Assert.Equal(data.Earlier.Count, staging.RootElement.GetProperty("requests").GetInt64());
        Assert.Equal(0, staging.RootElement.GetProperty("activeAlerts").GetInt32()); // the alert is prod's
        using var model = await Get(http, "/api/overview?range=1h&model=gpt-4o-mini&service=svc", ct);
        Assert.Equal(mini, model.RootElement.GetProperty("requests").GetInt64());
        using var prompts = await Get(http, "/api/prompts?range=24h&model=gpt-4o-mini", ct);
        Assert.All(prompts.RootElement.EnumerateArray(), p => Assert.Equal("gpt-4o-mini", p.GetProperty("model").GetString()));
        Assert.Equal(mini + data.Earlier.Count(e => e.RequestModel == "gpt-4o-mini"), prompts.RootElement.EnumerateArray().Sum(p => p.GetProperty("requests").GetInt64()));
        using var alerts = await Get(http, "/api/alerts?range=24h&model=gpt-4o", ct);
        Assert.Single(alerts.RootElement.EnumerateArray());
        using var noAlerts = await Get(http, "/api/alerts?range=24h&model=gpt-4o-mini", ct);
        Assert.Empty(noAlerts.RootElement.EnumerateArray());
        using var export = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/export?range=1h&view=calls&format=json&model=gpt-4o-mini", UriKind.Relative), ct));
        Assert.Equal(mini, export.RootElement.GetArrayLength());
        using var exportAlerts = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/export?range=24h&view=alerts&format=json&environment=staging", UriKind.Relative), ct));
        Assert.Equal(0, exportAlerts.RootElement.GetArrayLength());
        using var unknown = await http.GetAsync(new Uri("/api/alerts?range=24h&model=no_such_model", UriKind.Relative), ct);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        // `pipeline export` takes the same filter.
        var o = data.Writer.Options;
        var (exit, stdout, stderr) = await PipelineProcess.RunAsync(["export", "--view", "calls", "--range", "1h", "--format", "json", "--model", "gpt-4o-mini", "--environment", "prod",
            "--set", $"ClickHouse:Url={o.Url}", "--set", $"ClickHouse:User={o.User}", "--set", $"ClickHouse:Password={o.Password}", "--set", $"ClickHouse:Database={o.Database}"],
            Directory.CreateTempSubdirectory("pipeline-dash-").FullName);
        Assert.True(exit == 0, stderr);
        Assert.Equal(mini, JsonDocument.Parse(stdout).RootElement.GetArrayLength());

        // The previous period of the same length: the last 4 hours hold every call and the 4 before them none;
        // the last 150 minutes leave the staging calls to the period before.
        using var four = await Get(http, $"/api/overview?from={Iso(-4 * 60)}&to={Iso(0)}", ct);
        Assert.Equal(data.Earlier.Count + prod.Count, four.RootElement.GetProperty("requests").GetInt64());
        Assert.Equal(0, four.RootElement.GetProperty("previous").GetProperty("requests").GetInt64());
        using var later = await Get(http, $"/api/overview?from={Iso(-60)}&to={Iso(0)}", ct);
        Assert.Equal(prod.Count, later.RootElement.GetProperty("requests").GetInt64());
        using var shifted = await Get(http, $"/api/overview?from={Iso(-150)}&to={Iso(0)}", ct);
        Assert.Equal(data.Earlier.Count, shifted.RootElement.GetProperty("previous").GetProperty("requests").GetInt64());

        // Releases: each version's first minute, inside the range.
        using var series = await Get(http, "/api/timeseries?range=24h&environment=prod", ct);
        var releases = series.RootElement.GetProperty("releases").EnumerateArray().ToList();
        Assert.Equal(prod.Select(e => (e.PromptName, e.PromptVersion)).Distinct().Count(), releases.Count);
        var first = prod.Where(e => e.PromptName == "answer" && e.PromptVersion == "2.0").Min(e => e.OccurredAt);
        Assert.Contains(releases, r => r.GetProperty("promptVersion").GetString() == "2.0" && r.GetProperty("promptName").GetString() == "answer"
            && r.GetProperty("at").GetDateTimeOffset() == new DateTimeOffset(first.UtcTicks - first.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero));
    }

    [Fact]
    public async Task LivePush_KafkaUnreachable_SaysSoOnTheStream_PagesStillServed()
    {
        var ct = TestContext.Current.CancellationToken;
        var options = new DashboardOptions { Port = 0 };
        await using var app = DashboardApp.Create(options, data.Writer.Options.AsAnalyst(), TimeProvider.System,
            kafka: new Pipeline.Consumers.KafkaSettings([new("bootstrap.servers", "127.0.0.1:9")]));
        await app.StartAsync(ct);
        using var http = new HttpClient { BaseAddress = new Uri(DashboardApp.Address(app)) };
        var state = "";
        for (var i = 0; i < 150 && state != "unavailable"; i++)
        {
            using var live = await Get(http, "/api/live", ct);
            state = live.RootElement.GetProperty("state").GetString()!;
            if (state != "unavailable") await Task.Delay(200, ct);
        }
        Assert.Equal("unavailable", state);
        // The stream opens with the status, reason included; the API answers as without Kafka.
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/api/events", UriKind.Relative));
        using var events = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        Assert.Equal("text/event-stream", events.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await events.Content.ReadAsStreamAsync(ct));
        var lines = new List<string>();
        while (lines.Count < 4 && await reader.ReadLineAsync(ct) is { } line) if (line.Length > 0) lines.Add(line);
        Assert.Equal(["retry: 3000", "event: status"], lines.Take(2));
        var status = JsonDocument.Parse(lines[2]["data: ".Length..]).RootElement;
        Assert.Equal("unavailable", status.GetProperty("state").GetString());
        Assert.Contains("127.0.0.1:9", status.GetProperty("detail").GetString(), StringComparison.Ordinal);
        using var overview = await Get(http, "/api/overview?range=1h", ct);
        Assert.Equal(data.Scenario.Events.Count, overview.RootElement.GetProperty("requests").GetInt64());
    }

    [Fact]
    public async Task TagFilter_ReadsTheRawCalls_NumbersOfItsCohort_RangeLimitStated()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var app = await data.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(DashboardApp.Address(app)) };
        using var tags = await Get(http, "/api/tags?range=1h", ct);
        var cohort = Assert.Single(tags.RootElement.EnumerateArray(), t => t.GetProperty("key").GetString() == "cohort");
        Assert.Equal(["beta", "control"], cohort.GetProperty("values").EnumerateArray().Select(v => v.GetString()));

        var beta = data.Scenario.Events.Where(e => e.Tags.TryGetValue("cohort", out var v) && v == "beta").ToList();
        using var c = await Get(http, "/api/cohort?range=1h&tag=cohort%3Dbeta", ct);
        var o = c.RootElement.GetProperty("overview");
        Assert.Equal((long)Math.Round(beta.Sum(e => 1 / e.SampleRate)), o.GetProperty("requests").GetInt64());
        Assert.Equal(beta.Count(e => e.Outcome == Pipeline.Schemas.Outcome.Error) / (double)beta.Count, o.GetProperty("errorRate").GetDouble(), 9);
        Assert.Equal(beta.Sum(e => e.InputTokens), o.GetProperty("inputTokens").GetInt64());
        Assert.Equal(o.GetProperty("requests").GetInt64(), c.RootElement.GetProperty("series").GetProperty("points").EnumerateArray().Sum(p => p.GetProperty("requests").GetInt64()));
        using var mini = await Get(http, "/api/cohort?range=1h&tag=cohort%3Dbeta&model=gpt-4o-mini", ct);
        Assert.Equal(beta.Count(e => e.RequestModel == "gpt-4o-mini"), mini.RootElement.GetProperty("overview").GetProperty("requests").GetInt64());

        using var week = await http.GetAsync(new Uri("/api/cohort?range=7d&tag=cohort%3Dbeta", UriKind.Relative), ct);
        Assert.Equal(HttpStatusCode.BadRequest, week.StatusCode);
        Assert.Contains("ranges up to 24 hours", await week.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        using var noValue = await http.GetAsync(new Uri("/api/cohort?range=1h&tag=cohort", UriKind.Relative), ct);
        Assert.Equal(HttpStatusCode.BadRequest, noValue.StatusCode);
    }

    [Fact]
    public async Task AlertWrites_OffByDefault_NeedTokenHeaderAndSameOrigin_SilenceIsTheCliRecord()
    {
        var ct = TestContext.Current.CancellationToken;
        await using (var readOnly = await data.StartAsync())
        {
            using var http = new HttpClient { BaseAddress = new Uri(DashboardApp.Address(readOnly)) };
            using var detail = await Get(http, "/api/alerts/a1", ct);
            Assert.False(detail.RootElement.GetProperty("writable").GetBoolean());
            Assert.Equal("https://runbooks.example.test/latency", detail.RootElement.GetProperty("alert").GetProperty("runbookUrl").GetString());
            Assert.Equal(2000, detail.RootElement.GetProperty("alert").GetProperty("threshold").GetDouble());
            Assert.True(detail.RootElement.GetProperty("series").GetProperty("points").GetArrayLength() > 0);
            using var off = await Post(http, "/api/alerts/a1/silence", """{"by":"eve","for":"1h"}""", DashboardData.WriteToken);
            Assert.Equal(HttpStatusCode.Forbidden, off.StatusCode);
            Assert.Contains("writes are off", await off.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        }
        await using var app = await data.StartAsync(writes: true);
        using (var http = new HttpClient { BaseAddress = new Uri(DashboardApp.Address(app)) })
        {
            using var unknown = await http.GetAsync(new Uri("/api/alerts/nope", UriKind.Relative), ct);
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            var body = """{"by":"dana","for":"2h","reason":"rolling back"}""";
            using var noHeader = await Post(http, "/api/alerts/a1/silence", body, DashboardData.WriteToken, header: false);
            Assert.Equal(HttpStatusCode.Forbidden, noHeader.StatusCode);
            using var crossSite = await Post(http, "/api/alerts/a1/silence", body, DashboardData.WriteToken, origin: "http://evil.example.test");
            Assert.Equal(HttpStatusCode.Forbidden, crossSite.StatusCode);
            using var wrong = await Post(http, "/api/alerts/a1/silence", body, "wrong-token");
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            using var tooLong = await Post(http, "/api/alerts/a1/silence", """{"by":"dana","for":"30d"}""", DashboardData.WriteToken);
            Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
            // Free text is bounded and printable; a body that is no JSON object says so.
            var hugeBody = "{\"by\":\"dana\",\"for\":\"1h\",\"reason\":\"" + new string('x', 3000) + "\"}";
            using var hugeReason = await Post(http, "/api/alerts/a1/silence", hugeBody, DashboardData.WriteToken);
            Assert.Contains("reason: 3000 characters, at most 2000", await hugeReason.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
            using var nulNote = await Post(http, "/api/alerts/a1/ack", "{\"by\":\"dana\",\"note\":\"a\\u0000b\"}", DashboardData.WriteToken);
            Assert.Contains("note: contains a control character", await nulNote.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
            using var notJson = await Post(http, "/api/alerts/a1/ack", "{\"by\":", DashboardData.WriteToken);
            Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
            Assert.Contains("body: not a JSON object", await notJson.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
            Assert.Empty(await new Pipeline.Consumers.SuppressionStore(data.Writer, TimeProvider.System).AllSilencesAsync(ct));

            using var ok = await Post(http, "/api/alerts/a1/silence", body, DashboardData.WriteToken, origin: DashboardApp.Address(app));
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            // The record `pipeline alerts silences` reads: the incident's series and rule, for two hours.
            var silence = Assert.Single(await new Pipeline.Consumers.SuppressionStore(data.Writer, TimeProvider.System).ActiveSilencesAsync(TimeProvider.System.GetUtcNow(), ct));
            Assert.Equal("prompt=answer,version=2.0,model=gpt-4o,rule=latency_p95_regression", silence.Matcher.ToString());
            Assert.Equal(TimeSpan.FromHours(2), silence.EndsAt - silence.StartsAt);
            Assert.Equal("dana", silence.CreatedBy);
        }
    }

    [Fact]
    public async Task PromptDetail_VersionsInReleaseOrderWithVerdicts_CompareRefusesTwoPrompts()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var app = await data.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(DashboardApp.Address(app)) };
        var answer = data.Scenario.Events.Where(e => e.PromptName == "answer").ToList();
        using var doc = await Get(http, "/api/prompts/answer?range=1h", ct);
        var d = doc.RootElement;
        var versions = d.GetProperty("versions").EnumerateArray().ToList();
        Assert.Equal(answer.Select(e => (e.PromptVersion, e.RequestModel)).Distinct().Count(), versions.Count);
        Assert.Equal(answer.Count, versions.Sum(v => v.GetProperty("requests").GetInt64()));
        Assert.Equal(1.0, versions.Sum(v => v.GetProperty("share").GetDouble()), 9);
        Assert.Equal(answer.Count, d.GetProperty("points").EnumerateArray().Sum(p => p.GetProperty("requests").GetInt64()));
        foreach (var model in versions.GroupBy(v => v.GetProperty("model").GetString()))
        {
            // Release order within a model; each later version judged against the one before it, by the report's comparison.
            var ordered = model.ToList();
            Assert.Equal(JsonValueKind.Null, ordered[0].GetProperty("verdict").ValueKind);
            for (var i = 1; i < ordered.Count; i++)
            {
                Assert.True(ordered[i].GetProperty("firstCallAt").GetDateTimeOffset() >= ordered[i - 1].GetProperty("firstCallAt").GetDateTimeOffset());
                Assert.Equal(ordered[i - 1].GetProperty("promptVersion").GetString(), ordered[i].GetProperty("predecessor").GetString());
                Assert.StartsWith(ordered[i].GetProperty("promptVersion").GetString()!, ordered[i].GetProperty("verdict").GetProperty("verdict").GetString(), StringComparison.Ordinal);
            }
        }
        Assert.Equal(["generation", "retrieval"], d.GetProperty("stages").EnumerateArray().Select(t => t.GetProperty("stage").GetString()));
        var errors = answer.Count(e => e.Outcome == Pipeline.Schemas.Outcome.Error);
        Assert.True(d.GetProperty("errors").EnumerateArray().Sum(e => e.GetProperty("errors").GetInt64()) <= errors);
        Assert.Equal(answer.Where(e => e.Outcome == Pipeline.Schemas.Outcome.Error).GroupBy(e => (e.ErrorType, e.PromptVersion)).Max(g => g.Count()),
            d.GetProperty("errors")[0].GetProperty("errors").GetInt64());

        using var unknown = await http.GetAsync(new Uri("/api/prompts/nope?range=1h", UriKind.Relative), ct);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        using var mixed = await http.GetAsync(new Uri($"/api/compare?range=1h&series=answer@1.0&series={Uri.EscapeDataString(DashboardData.HostilePrompt)}@1.0", UriKind.Relative), ct);
        Assert.Equal(HttpStatusCode.BadRequest, mixed.StatusCode);
        Assert.Contains("versions of one prompt only", await mixed.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
    }

    private static async Task<HttpResponseMessage> Post(HttpClient http, string path, string json, string token, bool header = true, string? origin = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative)) { Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        if (header) request.Headers.Add("X-Pipeline-Dashboard", "write");
        if (origin is not null) request.Headers.Add("Origin", origin);
        return await http.SendAsync(request, TestContext.Current.CancellationToken);
    }

    private static string Iso(int minutes) => Uri.EscapeDataString(TimeProvider.System.GetUtcNow().AddMinutes(minutes).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture));

    private static async Task<JsonDocument> Get(HttpClient http, string path, CancellationToken ct)
    {
        using var response = await http.GetAsync(new Uri(path, UriKind.Relative), ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body);
    }
}

/// <summary>
/// The pages in headless Chromium (Debian's, driven by Playwright): each page loads and fits 1280 px, the numbers
/// shown match the API, the time range and the filters change them, every chart has one increasing time axis with
/// the markers on it, a copied link restores the view, the alert page acknowledges as the CLI does, a hostile
/// prompt name renders as text. Screenshots go to .run/test-results/screenshots. Skips, saying why, where
/// Chromium is missing.
/// </summary>
public sealed class DashboardBrowserTests(DashboardData data, ServersFixture servers) : IClassFixture<DashboardData>
{
    private static readonly string Chromium = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists) ?? "";

    [Fact]
    public async Task EveryPage_ShowsTheApiNumbers_FitsAt1280_RangeAndPromptChangeThem_HostileNameIsText()
    {
        if (Chromium.Length == 0) Assert.Skip("no system Chromium (/usr/bin/chromium; `make deps` installs it): browser tests not run");
        var ct = TestContext.Current.CancellationToken;
        await using var app = await data.StartAsync();
        var url = DashboardApp.Address(app);
        var shots = Path.Combine(ServersFixture.RepoRoot, ".run", "test-results", "screenshots");
        Directory.CreateDirectory(shots);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox", "--disable-gpu"] });
        // The page's own defence is textContent; bypassing its CSP here (which also lets Playwright evaluate
        // its waits) checks that defence without the second one.
        await using var context = await browser.NewContextAsync(new() { BypassCSP = true, TimezoneId = "UTC", ViewportSize = new() { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        var dialogs = 0;
        page.Dialog += (_, d) => { dialogs++; _ = d.DismissAsync(); };
        await page.GotoAsync(url);
        await WaitLoadedAsync(page);

        // Overview: the numbers are the API's.
        await page.SelectOptionAsync("#range", "1h");
        await WaitLoadedAsync(page);
        using var http = new HttpClient { BaseAddress = new Uri(url) };
        using var overview = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/overview?range=1h", UriKind.Relative), ct));
        // The page groups thousands with commas (en-US).
        Assert.Equal(overview.RootElement.GetProperty("requests").GetInt64().ToString("N0", System.Globalization.CultureInfo.InvariantCulture),
            await page.TextContentAsync("#kpi-requests"));
        Assert.Equal("1", await page.TextContentAsync("#kpi-alerts"));
        await AssertFitsAsync(page, "overview");
        AssertOneTimeAxis(await ChartsAsync(page));
        await page.ScreenshotAsync(new() { Path = Path.Combine(shots, "overview.png"), FullPage = true });

        // Prompt selection narrows the numbers.
        await page.SelectOptionAsync("#prompt", DashboardData.HostilePrompt);
        await WaitLoadedAsync(page);
        Assert.Equal("40", await page.TextContentAsync("#kpi-requests"));
        await page.SelectOptionAsync("#prompt", "");
        await WaitLoadedAsync(page);

        // Prompts table: the hostile name is a text cell, not markup.
        await page.ClickAsync("#tabs button[data-page=prompts]");
        await WaitLoadedAsync(page);
        var names = await page.Locator("#prompts-table td[data-key=promptName]").AllTextContentsAsync();
        Assert.Contains(DashboardData.HostilePrompt, names);
        Assert.Equal(0, await page.Locator("#prompts-table script").CountAsync());
        Assert.Equal(overview.RootElement.GetProperty("requests").GetInt64(),
            (await page.Locator("#prompts-table td[data-key=requests]").AllTextContentsAsync()).Sum(t => long.Parse(t.Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture)));
        await AssertFitsAsync(page, "prompts");
        await page.ScreenshotAsync(new() { Path = Path.Combine(shots, "prompts.png"), FullPage = true });

        // Every other page loads without an error message.
        foreach (var name in new[] { "performance", "compare", "alerts", "cost" })
        {
            await page.ClickAsync($"#tabs button[data-page={name}]");
            await WaitLoadedAsync(page);
            Assert.True(await page.Locator("#message").IsHiddenAsync() || (await page.TextContentAsync("#message"))?.Length == 0,
                $"{name}: {await page.TextContentAsync("#message")}");
            await AssertFitsAsync(page, name);
            AssertOneTimeAxis(await ChartsAsync(page)); // every chart drawn so far, this page's too
            await page.ScreenshotAsync(new() { Path = Path.Combine(shots, $"{name}.png"), FullPage = true });
        }
        await page.ClickAsync("#tabs button[data-page=alerts]");
        await WaitLoadedAsync(page);
        Assert.Equal("firing", await page.TextContentAsync("#alerts-table td[data-key=state]"));

        // A range with no data says so instead of failing.
        await page.ClickAsync("#tabs button[data-page=overview]");
        await page.SelectOptionAsync("#range", "custom");
        await page.FillAsync("#from", "2020-01-01T00:00");
        await page.FillAsync("#to", "2020-01-02T00:00");
        await page.ClickAsync("#apply");
        await WaitLoadedAsync(page);
        Assert.Equal("0", await page.TextContentAsync("#kpi-requests"));
        Assert.Equal("no data in this range", await page.TextContentAsync("#message"));
        Assert.Equal(0, dialogs); // no script from the data ever ran
    }

    /// <summary>What every chart on the page is, as the browser has it: its x scale, ticks, labels and points.</summary>
    private const string ChartsScript = """
        () => Object.entries(window.dashboard.charts).filter(([, c]) => c && c.canvas && c.canvas.isConnected).map(([id, c]) => ({
          id, type: c.scales.x.type, labels: (c.data.labels || []).length, min: c.scales.x.min, max: c.scales.x.max,
          ticks: c.scales.x.ticks.map(t => t.value), tickLabels: c.scales.x.ticks.map(t => t.label),
          xs: c.data.datasets.flatMap(d => d.data.map(p => p.x)), nulls: c.data.datasets.reduce((n, d) => n + d.data.filter(p => p.y === null).length, 0),
          spanGaps: !!c.options.spanGaps,
          marks: Object.entries(c.options.plugins.annotation.annotations || {}).map(([k, a]) => ({ k, v: a.value, r: Array.from(a.releases || [], String) })) }))
        """;

    private sealed record ChartState(string Id, string Type, int Labels, double Min, double Max, double[] Ticks, string[] TickLabels, double?[] Xs, int Nulls, bool SpanGaps, Mark[] Marks);

    private sealed record Mark(string K, double? V, string[] R);

    [Fact]
    public async Task Charts_OneTimeAxis_MarkersOnIt_GapsAsGaps_Filters_UrlRestoresTheView_DarkTheme()
    {
        if (Chromium.Length == 0) Assert.Skip("no system Chromium (/usr/bin/chromium; `make deps` installs it): browser tests not run");
        var ct = TestContext.Current.CancellationToken;
        await using var app = await data.StartAsync();
        var url = DashboardApp.Address(app);
        using var http = new HttpClient { BaseAddress = new Uri(url) };
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright);
        await using var context = await browser.NewContextAsync(new() { BypassCSP = true, TimezoneId = "UTC", ViewportSize = new() { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        await page.GotoAsync(url);
        await WaitLoadedAsync(page);
        // No Kafka given: the page polls, and says so.
        await page.WaitForFunctionAsync("document.getElementById('live-status').dataset.state === 'off'");
        Assert.Equal("poll only (30 s)", await page.TextContentAsync("#live-status"));
        Assert.Contains("Kafka is not configured", await page.GetAttributeAsync("#live-status", "title"), StringComparison.Ordinal);

        // A tag (cohort) narrows the overview to the API's numbers for it, and the page says where they come from.
        await page.SelectOptionAsync("#tag", "cohort=beta");
        await WaitLoadedAsync(page);
        using (var cohort = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/cohort?range=24h&tag=cohort%3Dbeta", UriKind.Relative), ct)))
        {
            Assert.Equal(cohort.RootElement.GetProperty("overview").GetProperty("requests").GetInt64().ToString("N0", System.Globalization.CultureInfo.InvariantCulture), await page.TextContentAsync("#kpi-requests"));
        }
        Assert.Contains("tag=cohort%3Dbeta", page.Url, StringComparison.Ordinal);
        Assert.Contains("up to 24 hours", await page.TextContentAsync("#tag-note"), StringComparison.Ordinal);
        await page.SelectOptionAsync("#tag", "");
        await WaitLoadedAsync(page);

        // 24 hours: the staging calls three hours back, an hour and more of nothing, then the rest. Every chart
        // on one time axis, the gap left a gap, the incident's FIRING marker in the minute it started.
        await page.SelectOptionAsync("#range", "24h");
        await WaitLoadedAsync(page);
        var fired = DateTimeOffset.FromUnixTimeSeconds((long)await data.Writer.ScalarAsync("SELECT toUInt32(min(started_at)) FROM alerts WHERE alert_id = 'a1'", ct));
        var charts = await ChartsAsync(page);
        Assert.Equal(["errors-chart", "overview-cost-chart", "overview-latency-chart", "requests-chart"], charts.Select(c => c.Id).Order(StringComparer.Ordinal));
        AssertOneTimeAxis(charts);
        var requests = charts.Single(c => c.Id == "requests-chart");
        Assert.False(requests.SpanGaps);
        Assert.True(requests.Nulls >= 1, "the empty hours between the staging calls and the rest are a gap (a null point), not a line");
        foreach (var c in charts)
        {
            var firing = Assert.Single(c.Marks, m => m.K == "firing-a1");
            Assert.Equal(fired.ToUnixTimeSeconds() / 60, (long)firing.V!.Value / 60_000);
            Assert.InRange(firing.V.Value, c.Min, c.Max);
            Assert.Contains(c.Marks, m => m.K.StartsWith("release-", StringComparison.Ordinal) && m.R.Any(r => r.StartsWith("answer@", StringComparison.Ordinal)));
        }
        await page.ScreenshotAsync(new() { Path = Path.Combine(Shots, "overview-24h.png"), FullPage = true });

        // Filters: the tiles show what the API says for the same filter.
        foreach (var (select, value, query) in new[] { ("#environment", "staging", "environment=staging"), ("#environment", "prod", "environment=prod"), ("#model", "gpt-4o-mini", "environment=prod&model=gpt-4o-mini"), ("#service", "svc", "environment=prod&model=gpt-4o-mini&service=svc") })
        {
            await page.SelectOptionAsync(select, value);
            await WaitLoadedAsync(page);
            using var o = JsonDocument.Parse(await http.GetStringAsync(new Uri($"/api/overview?range=24h&{query}", UriKind.Relative), ct));
            Assert.Equal(o.RootElement.GetProperty("requests").GetInt64().ToString("N0", System.Globalization.CultureInfo.InvariantCulture), await page.TextContentAsync("#kpi-requests"));
            Assert.Contains(query.Split('&')[^1], page.Url, StringComparison.Ordinal);
        }
        // The alert is of gpt-4o: the gpt-4o-mini view has none, on the tile and the alerts page.
        Assert.Equal("0", await page.TextContentAsync("#kpi-alerts"));

        // A copied link opens the same view in a fresh tab.
        await page.ClickAsync("#tabs button[data-page=alerts]");
        await WaitLoadedAsync(page);
        Assert.Equal("No data in this range.", await page.TextContentAsync("#alerts-table td"));
        var link = page.Url;
        Assert.Contains("#alerts?", link, StringComparison.Ordinal);
        var copy = await context.NewPageAsync();
        await copy.GotoAsync(link);
        await WaitLoadedAsync(copy);
        foreach (var (select, value) in new[] { ("#range", "24h"), ("#environment", "prod"), ("#model", "gpt-4o-mini"), ("#service", "svc"), ("#prompt", "") })
        {
            Assert.Equal(value, await copy.InputValueAsync(select));
        }
        Assert.Equal("alerts", await copy.GetAttributeAsync("#tabs button.active", "data-page"));
        Assert.True(await copy.Locator("#page-overview").IsHiddenAsync());
        Assert.Equal("No data in this range.", await copy.TextContentAsync("#alerts-table td"));
        // Back goes to the view before.
        await page.GoBackAsync();
        await WaitLoadedAsync(page);
        Assert.Equal("overview", await page.GetAttributeAsync("#tabs button.active", "data-page"));

        // Numbers for people: durations in ms or s, money in $, a robust z-score past 99 capped.
        Assert.Equal(["850 ms", "1.24 s", "$0.0042", "$12.50", "12.35%", ">99", "-3.2"], await page.EvaluateAsync<string[]>(
            "() => [fmt.ms(850), fmt.ms(1240), fmt.usd(0.0042), fmt.usd(12.5), fmt.pct(0.12345), fmt.score(12490569.6), fmt.score(-3.21)]"));


        // A dark system theme gets the dark palette.
        await page.EmulateMediaAsync(new() { ColorScheme = ColorScheme.Dark });
        await page.ClickAsync("#tabs button[data-page=overview]");
        await WaitLoadedAsync(page);
        Assert.Equal("rgb(13, 17, 23)", await page.EvaluateAsync<string>("getComputedStyle(document.body).backgroundColor"));
        await page.ScreenshotAsync(new() { Path = Path.Combine(Shots, "overview-dark.png") });
    }

    [Fact]
    public async Task AlertPage_MetricAroundTheIncident_Lifecycle_AckFromThePageIsWhatTheCliLists()
    {
        if (Chromium.Length == 0) Assert.Skip("no system Chromium (/usr/bin/chromium; `make deps` installs it): browser tests not run");
        var ct = TestContext.Current.CancellationToken;
        await using var app = await data.StartAsync(writes: true);
        var url = DashboardApp.Address(app);
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright);
        await using var context = await browser.NewContextAsync(new() { BypassCSP = true, TimezoneId = "UTC", ViewportSize = new() { Width = 1280, Height = 1000 } });
        var page = await context.NewPageAsync();
        await page.GotoAsync(url + "/#alerts?range=24h");
        await WaitLoadedAsync(page);
        await page.ClickAsync("#alerts-table td[data-key=ruleId] a");
        await WaitLoadedAsync(page);
        Assert.Contains("#alert/a1", page.Url, StringComparison.Ordinal);
        Assert.Equal("alerts", await page.GetAttributeAsync("#tabs button.active", "data-page"));
        Assert.Equal("https://runbooks.example.test/latency", await page.GetAttributeAsync("#alert-runbook", "href"));
        Assert.Equal("done", await page.GetAttributeAsync("#alert-lifecycle li[data-step=pending]", "class"));
        Assert.Equal("done", await page.GetAttributeAsync("#alert-lifecycle li[data-step=firing]", "class"));
        Assert.Equal("open", await page.GetAttributeAsync("#alert-lifecycle li[data-step=acknowledged]", "class"));
        Assert.Equal("open", await page.GetAttributeAsync("#alert-lifecycle li[data-step=resolved]", "class"));
        // The metric from an hour before it began, on the time axis, with its threshold and baseline lines.
        var chart = Assert.Single(await ChartsAsync(page));
        AssertOneTimeAxis([chart]);
        Assert.Contains(chart.Marks, m => m.K == "firing-a1");
        Assert.True(await page.EvaluateAsync<bool>("() => { const a = window.dashboard.charts['alert-chart'].options.plugins.annotation.annotations; return a.threshold.value === 2000 && a.baseline.value === 1000; }"));
        var fired = (long)await data.Writer.ScalarAsync("SELECT toUInt32(min(started_at)) FROM alerts WHERE alert_id = 'a1'", ct) * 1000;
        Assert.True(chart.Min <= fired - 3_600_000, "the chart starts at least an hour before the incident");

        // A wrong token is refused and says so; the right one records the acknowledgement.
        await page.FillAsync("#write-token", "not-the-token");
        await page.FillAsync("#write-by", "carol");
        await page.FillAsync("#ack-note", "rolling back 2.0");
        await page.ClickAsync("#ack-go");
        await page.WaitForFunctionAsync("document.getElementById('alert-action-result').textContent.includes('wrong')");
        await page.FillAsync("#write-token", DashboardData.WriteToken);
        await page.ClickAsync("#ack-go");
        await page.WaitForFunctionAsync("document.getElementById('alert-action-result').textContent.startsWith('Acknowledged by carol')");
        await WaitLoadedAsync(page);
        Assert.Equal("done", await page.GetAttributeAsync("#alert-lifecycle li[data-step=acknowledged]", "class"));
        Assert.True(await page.IsDisabledAsync("#ack-go"));
        await page.ScreenshotAsync(new() { Path = Path.Combine(Shots, "alert.png"), FullPage = true });

        // `pipeline alerts list` shows it.
        var home = Directory.CreateTempSubdirectory("pipeline-dash-").FullName;
        var o = data.Writer.Options;
        var (exit, stdout, stderr) = await PipelineProcess.RunAsync(["alerts", "list", "--set", $"ClickHouse:Url={o.Url}", "--set", $"ClickHouse:User={o.User}",
            "--set", $"ClickHouse:Password={o.Password}", "--set", $"ClickHouse:Database={o.Database}"], home);
        Assert.True(exit == 0, stderr);
        Assert.Contains(stdout.Split('\n'), l => l.Contains(" a1 ", StringComparison.Ordinal) && l.Contains("[acked by carol]", StringComparison.Ordinal));

        // Silencing from the page records the silence `pipeline alerts silences` lists: the incident's series and rule, for the chosen time.
        await page.SelectOptionAsync("#silence-for", "1d");
        await page.FillAsync("#ack-note", "known incident, rollback running");
        await page.ClickAsync("#silence-go");
        await page.WaitForFunctionAsync("document.getElementById('alert-action-result').textContent.startsWith('Silenced ')");
        Assert.Contains("prompt=answer,version=2.0,model=gpt-4o,rule=latency_p95_regression", await page.TextContentAsync("#alert-action-result"), StringComparison.Ordinal);
        (exit, stdout, stderr) = await PipelineProcess.RunAsync(["alerts", "silences", "--json", "--set", $"ClickHouse:Url={o.Url}", "--set", $"ClickHouse:User={o.User}",
            "--set", $"ClickHouse:Password={o.Password}", "--set", $"ClickHouse:Database={o.Database}"], home);
        Assert.True(exit == 0, stderr);
        var silence = JsonDocument.Parse(Assert.Single(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))).RootElement;
        Assert.Equal("carol", silence.GetProperty("created_by").GetString());
        Assert.Equal("known incident, rollback running", silence.GetProperty("reason").GetString());
        Assert.Equal(["model=gpt-4o", "prompt=answer", "rule=latency_p95_regression", "version=2.0"],
            silence.GetProperty("matchers").EnumerateObject().Select(m => $"{m.Name}={m.Value.GetString()}").Order(StringComparer.Ordinal));
        Assert.Equal("active", silence.GetProperty("state").GetString());
        Assert.Equal(TimeSpan.FromDays(1), silence.GetProperty("ends_at").GetDateTimeOffset() - silence.GetProperty("starts_at").GetDateTimeOffset());
        Assert.Contains($"(silence {silence.GetProperty("silence_id").GetString()})", await page.TextContentAsync("#alert-action-result"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PromptPage_VersionsOverTime_VerdictsOnce_CompareStatesTheVerdictOnce()
    {
        if (Chromium.Length == 0) Assert.Skip("no system Chromium (/usr/bin/chromium; `make deps` installs it): browser tests not run");
        var ct = TestContext.Current.CancellationToken;
        await using var app = await data.StartAsync();
        var url = DashboardApp.Address(app);
        using var http = new HttpClient { BaseAddress = new Uri(url) };
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright);
        await using var context = await browser.NewContextAsync(new() { BypassCSP = true, TimezoneId = "UTC", ViewportSize = new() { Width = 1280, Height = 1000 } });
        var page = await context.NewPageAsync();
        await page.GotoAsync(url + "/#prompts?range=1h");
        await WaitLoadedAsync(page);
        await page.ClickAsync("#prompts-table td[data-key=promptName] a >> text=answer");
        await WaitLoadedAsync(page);
        Assert.Contains("#prompt/answer", page.Url, StringComparison.Ordinal);
        using var detail = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/prompts/answer?range=1h", UriKind.Relative), ct));
        var versions = detail.RootElement.GetProperty("versions").EnumerateArray().ToList();
        Assert.Equal(versions.Sum(v => v.GetProperty("requests").GetInt64()).ToString("N0", System.Globalization.CultureInfo.InvariantCulture), await page.TextContentAsync("#prompt-requests"));
        Assert.Equal(versions.Select(v => v.GetProperty("verdict").ValueKind == JsonValueKind.Null ? "first version" : v.GetProperty("verdict").GetProperty("verdict").GetString()),
            await page.Locator("#versions-table td[data-key=verdict]").AllTextContentsAsync());
        Assert.Equal(versions.Count, await page.Locator("#release-timeline li").CountAsync());
        var charts = (await ChartsAsync(page)).Where(c => c.Id is "versions-chart" or "share-chart").ToList();
        Assert.Equal(2, charts.Count);
        AssertOneTimeAxis(charts);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Shots, "prompt.png"), FullPage = true });

        // Compare: the later pickers offer only versions of the first one's prompt, and the verdict is said once.
        await page.GotoAsync(url + "/#compare?range=1h&series=answer@1.0@gpt-4o&series=answer@2.0@gpt-4o");
        await WaitLoadedAsync(page);
        Assert.All(await page.Locator(".pick:nth-of-type(2) option").AllTextContentsAsync(), o => Assert.True(o == "—" || o.StartsWith("answer@", StringComparison.Ordinal), o));
        using var compare = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/compare?range=1h&series=answer@1.0@gpt-4o&series=answer@2.0@gpt-4o", UriKind.Relative), ct));
        var verdict = compare.RootElement.GetProperty("verdicts")[0].GetProperty("verdict").GetString();
        Assert.Equal([verdict!], await page.Locator("#verdicts li").AllTextContentsAsync());
    }

    [Fact]
    public async Task Live_AWindowClosedAndAnAlertFiredWhileThePageIsOpen_AppearWithoutAReload()
    {
        if (Chromium.Length == 0) Assert.Skip("no system Chromium (/usr/bin/chromium; `make deps` installs it): browser tests not run");
        var ct = TestContext.Current.CancellationToken;
        // A database and topics of its own: the other tests' numbers stay as they are.
        using var db = await servers.NewDatabaseAsync(ct);
        var calls = await servers.NewTopicAsync("calls", 1, ct);
        var options = new DashboardOptions { Port = 0, MetricsTopic = await servers.NewTopicAsync("metrics", 1, ct), AlertsTopic = await servers.NewTopicAsync("alerts", 1, ct) };
        await using var app = DashboardApp.Create(options, db.Options.AsAnalyst(), TimeProvider.System, kafka: servers.Kafka);
        await app.StartAsync(ct);
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright);
        await using var context = await browser.NewContextAsync(new() { BypassCSP = true, TimezoneId = "UTC", ViewportSize = new() { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        await page.GotoAsync(DashboardApp.Address(app) + "/#overview?range=1h");
        await WaitLoadedAsync(page);
        // Live once the server's consumer is assigned at the topics' ends and the page's stream is open.
        await page.WaitForFunctionAsync("document.getElementById('live-status').dataset.state === 'live'", null, new() { Timeout = 30_000 });
        Assert.Equal("live", await page.TextContentAsync("#live-status"));
        Assert.Equal("0", await page.TextContentAsync("#kpi-requests"));
        await page.EvaluateAsync("() => { window.notReloaded = true; }");

        // The real aggregator closes the windows of 120 calls and publishes them; the page shows them, pushed.
        var scenario = AggregationScenario.Create(120, TimeProvider.System.GetUtcNow().AddMinutes(-3), minutes: 2, seed: 71);
        await AggregationScenario.ProduceAsync(servers, calls, scenario.Events, ct);
        await WorkerHarness.AggregateAllAsync(servers, db, calls, scenario.Events.Count, ct, options.MetricsTopic);
        await page.WaitForFunctionAsync("document.getElementById('kpi-requests').textContent === '120'", null, new() { Timeout = 60_000 });
        Assert.True(await page.EvaluateAsync<bool>("() => window.notReloaded === true && window.dashboard.live.windows > 0"), "updated by the push, without a reload");

        // An alert fires, as the alert worker records it (topic first, then the table): the tile counts it.
        var window = scenario.Events[0];
        var alert = new Pipeline.Schemas.Alert
        {
            AlertId = "live-1", RuleId = "error_rate", Fingerprint = "live-f1", State = Pipeline.Schemas.AlertState.Firing, Severity = "WARNING",
            Series = Pipeline.Schemas.SeriesKey.Of(window), Metric = "error_rate", Observed = 0.2, Threshold = 0.05,
            WindowStart = TimeProvider.System.GetUtcNow().AddMinutes(-2), WindowEnd = TimeProvider.System.GetUtcNow().AddMinutes(-1), StartedAt = TimeProvider.System.GetUtcNow().AddMinutes(-2),
            Summary = "error rate 20% above 5%",
        };
        using (var producer = new Confluent.Kafka.ProducerBuilder<byte[]?, byte[]>(servers.Kafka.Producer()).Build())
        {
            await producer.ProduceAsync(options.AlertsTopic, new() { Key = null, Value = new Pipeline.Schemas.AlertSerializer().Serialize(alert) }, ct);
        }
        await db.InsertAsync("alerts", Pipeline.Consumers.AlertRows.Columns, [Pipeline.Consumers.AlertRows.ToRow(alert, TimeProvider.System.GetUtcNow())], ct);
        await page.WaitForFunctionAsync("document.getElementById('kpi-alerts').textContent === '1'", null, new() { Timeout = 60_000 });
        Assert.True(await page.EvaluateAsync<bool>("() => window.notReloaded === true"));
        await page.ScreenshotAsync(new() { Path = Path.Combine(Shots, "overview-live.png") });
    }

    /// <summary>At 1280 px no page scrolls sideways (the hostile prompt names are long, the alert summary too).</summary>
    private static async Task AssertFitsAsync(IPage page, string name)
    {
        var (scroll, width) = (await page.EvaluateAsync<int>("document.documentElement.scrollWidth"), await page.EvaluateAsync<int>("window.innerWidth"));
        Assert.Equal(1280, width);
        Assert.True(scroll <= width, $"{name}: {scroll} px wide in a {width} px window");
    }

    private static void AssertOneTimeAxis(IReadOnlyList<ChartState> charts)
    {
        foreach (var c in charts)
        {
            Assert.Equal("time", c.Type);
            Assert.Equal(0, c.Labels); // no category labels that markers could append to
            Assert.True(c.Ticks.Length >= 2, $"{c.Id}: {c.Ticks.Length} ticks");
            for (var i = 1; i < c.Ticks.Length; i++)
            {
                Assert.True(c.Ticks[i] > c.Ticks[i - 1], $"{c.Id}: ticks {string.Join(", ", c.TickLabels)} do not increase");
            }
            Assert.All(c.Xs, x => Assert.InRange(x!.Value, c.Min, c.Max));
        }
    }

    private static async Task<IReadOnlyList<ChartState>> ChartsAsync(IPage page) =>
        JsonSerializer.Deserialize<List<ChartState>>(await page.EvaluateAsync<JsonElement>(ChartsScript), WebJson)!;

    private static readonly JsonSerializerOptions WebJson = new(JsonSerializerDefaults.Web);

    private static string Shots
    {
        get
        {
            var shots = Path.Combine(ServersFixture.RepoRoot, ".run", "test-results", "screenshots");
            Directory.CreateDirectory(shots);
            return shots;
        }
    }

    private static Task<IBrowser> LaunchAsync(IPlaywright playwright) =>
        playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox", "--disable-gpu"] });

    private static async Task WaitLoadedAsync(IPage page)
    {
        await page.WaitForFunctionAsync("document.body.dataset.loading === 'false'");
        await Task.Delay(100);
        await page.WaitForFunctionAsync("document.body.dataset.loading === 'false'");
    }
}
