using Pipeline.ClickHouse;
using Pipeline.Schemas;

namespace Pipeline.IntegrationTests;

/// <summary>Every analyst view and documented query, as the read-only analyst, on data with known answers.</summary>
public sealed class AnalyticsTests(ServersFixture servers)
{
    private static readonly string[] Views =
        ["v_calls", "v_prompt_health_hourly", "v_latency_hourly", "v_version_comparison", "v_cost_daily", "v_sla_daily", "v_errors", "v_stage_bottlenecks", "v_cohorts"];

    [Fact]
    public async Task ViewsAndQueries_OnKnownData_GiveExactAnswers()
    {
        var ct = TestContext.Current.CancellationToken;
        using var writer = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 2, ct);
        var scenario = AggregationScenario.Create(1500, TimeProvider.System.GetUtcNow().AddMinutes(-3), minutes: 5, seed: 5);
        // Hostile names are stored and returned inertly (control characters never get this far: the validator sends them to the DLQ).
        scenario.Events[0] = scenario.Events[0] with { PromptName = "x'); DROP TABLE calls; --\\", Tags = new Dictionary<string, string> { ["cohort"] = "\"q\"; DROP TABLE x; --'" } };
        await AggregationScenario.ProduceAsync(servers, topic, scenario.Events, ct);
        await WorkerHarness.AggregateAllAsync(servers, writer, topic, scenario.Events.Count, ct);

        using var analyst = new ClickHouseHttp(writer.Options.AsAnalyst());
        foreach (var view in Views)
        {
            Assert.True((await analyst.QueryAsync($"SELECT * FROM {view} LIMIT 5", ct)).Count > 0, $"{view} returned no rows");
        }
        Assert.Equal(scenario.Events.Count, await analyst.ScalarAsync("SELECT count() FROM v_calls", ct));
        Assert.Equal(scenario.Events.Count, await analyst.ScalarAsync("SELECT sum(requests) FROM v_version_comparison", ct));
        Assert.Equal(scenario.Events.Count(e => e.Outcome == Outcome.Error), await analyst.ScalarAsync("SELECT sum(errors) FROM v_errors", ct));
        var expectedCost = scenario.Events.Sum(e => Pipeline.Aggregation.PriceTable.Default.CostOf(e) ?? 0);
        Assert.Equal(expectedCost, await analyst.ScalarAsync("SELECT sum(cost_total_usd) FROM v_cost_daily", ct), 6);
        Assert.Equal(scenario.Events.Count * 2, await analyst.ScalarAsync("SELECT sum(calls) FROM v_stage_bottlenecks", ct));
        Assert.Equal(1, await analyst.ScalarAsync($"SELECT count() FROM v_calls WHERE prompt_name = {ClickHouseHttp.Quote("x'); DROP TABLE calls; --\\")}", ct));
        Assert.Equal(1, await analyst.ScalarAsync($"SELECT sum(calls) FROM v_cohorts WHERE tag_value = {ClickHouseHttp.Quote("\"q\"; DROP TABLE x; --'")}", ct));

        var queries = Directory.GetFiles(Path.Combine(ServersFixture.RepoRoot, "analytics", "queries"), "*.sql");
        Assert.True(queries.Length >= 6, "every question in the product seeds has a documented query");
        foreach (var file in queries)
        {
            var sql = await File.ReadAllTextAsync(file, ct);
            var rows = await analyst.QueryAsync(sql.Replace("'support_answer'", "'answer'", StringComparison.Ordinal), ct);
            Assert.True(rows.Count > 0, $"{Path.GetFileName(file)} returned no rows");
        }
    }
}
