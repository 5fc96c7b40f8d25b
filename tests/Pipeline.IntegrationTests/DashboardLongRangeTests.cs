using System.Globalization;
using Pipeline.ClickHouse;
using Pipeline.Dashboard;

namespace Pipeline.IntegrationTests;

/// <summary>Long dashboard ranges read the hourly rollups for rolled days and minutes for the rest, exactly.</summary>
public sealed class DashboardLongRangeTests(ServersFixture servers)
{
    private static readonly DateOnly Today = DateOnly.FromDateTime(TimeProvider.System.GetUtcNow().UtcDateTime);

    [Fact]
    public async Task RolledDaysAndUnrolledMinutes_CountExactly_PercentilesFromBoth_RevisionsAfterTheNextRollup()
    {
        var ct = TestContext.Current.CancellationToken;
        using var db = await servers.NewDatabaseAsync(ct);
        var rolledDays = new[] { Today.AddDays(-4), Today.AddDays(-3), Today.AddDays(-2) };
        foreach (var day in rolledDays)
        {
            await InsertWindowsAsync(db, day, "1.0", revision: 1, extra: 0, ct);
            await InsertWindowsAsync(db, day, "2.0", revision: 1, extra: 3, ct);
            await InsertCallsAsync(db, day, ct);
        }
        var maintenance = new Maintenance(db, TimeProvider.System);
        Assert.Equal(rolledDays, (await maintenance.RollUpAsync(new RetentionOptions(), null, ct)).DaysRolledUp);
        // Yesterday arrives after the rollup: it is read from its minutes.
        await InsertWindowsAsync(db, Today.AddDays(-1), "1.0", revision: 1, extra: 0, ct);

        using var analyst = new ClickHouseHttp(db.Options.AsAnalyst());
        var queries = new DashboardQueries(analyst, new DashboardOptions(), TimeProvider.System);
        var range = new TimeRange(At(Today.AddDays(-4), 6, 30), At(Today, 0, 0));
        Assert.True(range.Span >= RollupPlan.LongRange);
        async Task<long> Sql(string expression) => (long)await analyst.ScalarAsync(
            $"SELECT {expression} FROM metrics_1m FINAL WHERE window_start >= {range.From.ToUnixTimeSeconds()} AND window_start < {range.To.ToUnixTimeSeconds()}", ct);

        var overview = await queries.OverviewAsync(range, SeriesFilter.All, ct);
        Assert.Equal(await Sql("sum(calls)"), overview.Requests);
        Assert.Equal(await Sql("sum(errors)"), (long)Math.Round(overview.ErrorRate!.Value * overview.Requests));
        Assert.Equal(await Sql("sum(input_tokens)"), overview.InputTokens);
        Assert.Equal(await Sql("sum(unpriced_calls)"), overview.UnpricedRequests);
        Assert.Equal(await Sql("round(sum(cost_usd) * 1000)"), (long)Math.Round(overview.CostUsd!.Value * 1000));
        // Percentiles: the rolled days' t-digests over the raw calls (1..600 ms each day), against the exact value.
        var exact = await analyst.ScalarAsync("SELECT quantileExact(0.95)(latency_ms) FROM calls FINAL", ct);
        Assert.InRange(overview.LatencyP95Ms!.Value, exact * 0.97, exact * 1.03);

        var series = await queries.TimeSeriesAsync(range, SeriesFilter.All, ct);
        Assert.Equal(overview.Requests, series.Points.Sum(p => p.Requests));
        Assert.Equal(series.Points.Select(p => p.At).Distinct().Order(), series.Points.Select(p => p.At));

        var prompts = await queries.PromptsAsync(range, SeriesFilter.All, ct);
        Assert.Equal(["1.0", "2.0"], prompts.Select(p => p.PromptVersion));
        Assert.Equal(await Sql("sumIf(calls, prompt_version = '2.0')"), prompts[1].Requests);
        Assert.Equal(await Sql("sumIf(unpriced_calls, prompt_version = '2.0')"), prompts[1].UnpricedRequests);
        Assert.Equal(overview.Requests, prompts.Sum(p => p.Requests));
        Assert.All(prompts, p => Assert.InRange(p.LatencyP95Ms, exact * 0.97, exact * 1.03));

        // A late revision of a rolled day (+50 calls in one window) shows once the next rollup has rebuilt that day.
        var before = overview.Requests;
        await db.ExecuteAsync($"""
            INSERT INTO metrics_1m (environment, service, prompt_name, prompt_version, request_model, window_start, window_seconds, revision,
                calls, events, successes, errors, latency_sum_ms, latency_max_ms, input_tokens, output_tokens, cost_usd, emitted_at)
            VALUES ('prod', 'svc', 'support_answer', '1.0', 'gpt-4o', toDateTime('{D(rolledDays[1])} 10:00:00'), 60, 2, 60, 60, 59, 1, 18000, 900, 100, 20, 0.01, now() + 5)
            """, ct);
        Assert.Equal(before, (await queries.OverviewAsync(range, SeriesFilter.All, ct)).Requests);
        Assert.Equal([rolledDays[1], Today.AddDays(-1)], (await maintenance.RollUpAsync(new RetentionOptions(), null, ct)).DaysRolledUp);
        Assert.Equal(await Sql("sum(calls)"), (await queries.OverviewAsync(range, SeriesFilter.All, ct)).Requests);
        Assert.Equal(before + 50, await Sql("sum(calls)"));
    }

    [Fact]
    public async Task SampledSeries_OnALongRange_IsEstimatedWithItsBound_FromRollupsAndMinutes()
    {
        var ct = TestContext.Current.CancellationToken;
        using var db = await servers.NewDatabaseAsync(ct);
        // A rolled day sampled at 1/4 (40 calls from 10 events a window), then yesterday's minutes at 1/2.
        var rolled = Today.AddDays(-3);
        await db.ExecuteAsync(Sampled(rolled, calls: 40, events: 10, windows: 120), ct);
        Assert.Equal([rolled], (await new Maintenance(db, TimeProvider.System).RollUpAsync(new RetentionOptions(), null, ct)).DaysRolledUp);
        await db.ExecuteAsync(Sampled(Today.AddDays(-1), calls: 20, events: 10, windows: 60), ct);

        using var analyst = new ClickHouseHttp(db.Options.AsAnalyst());
        var queries = new DashboardQueries(analyst, new DashboardOptions(), TimeProvider.System);
        var p = Assert.Single(await queries.PromptsAsync(new TimeRange(At(rolled, 0, 0), At(Today, 0, 0)), SeriesFilter.All, ct));
        Assert.Equal(120 * 40 + 60 * 20, p.Requests);
        Assert.True(p.Estimated);
        // calls x (w - 1): the rolled day 4,800 x 3, each minute 20 x 1.
        Assert.Equal(1.96 * Math.Sqrt(4800 * 3 + 60 * 20), p.RequestsBound!.Value, 6);
    }

    private static string Sampled(DateOnly day, int calls, int events, int windows) => $"""
        INSERT INTO metrics_1m (environment, service, prompt_name, prompt_version, request_model, window_start, window_seconds, revision,
            calls, events, successes, errors, latency_sum_ms, latency_max_ms, input_tokens, output_tokens, cost_usd, emitted_at)
        SELECT 'prod', 'svc', 'sampled', '1.0', 'gpt-4o', toDateTime('{D(day)} 10:00:00') + number * 60, 60, 1,
            {calls}, {events}, {calls}, 0, 300 * {calls}, 900, 100, 20, 0.01, now()
        FROM system.numbers LIMIT {windows}
        """;

    private static DateTimeOffset At(DateOnly day, int hour, int minute) =>
        new(day.ToDateTime(new TimeOnly(hour, minute), DateTimeKind.Utc));

    private static string D(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    // 120 windows over 10:00-12:00: 10 + i % 5 (+ extra) calls, one error each; version 2.0 has 2 unpriced calls a window.
    private static Task InsertWindowsAsync(ClickHouseHttp db, DateOnly day, string version, int revision, int extra, CancellationToken ct) =>
        db.ExecuteAsync($"""
            INSERT INTO metrics_1m (environment, service, prompt_name, prompt_version, request_model, window_start, window_seconds, revision,
                calls, events, successes, errors, latency_sum_ms, latency_max_ms, input_tokens, output_tokens, cost_usd, unpriced_calls, emitted_at)
            SELECT 'prod', 'svc', 'support_answer', '{version}', 'gpt-4o', toDateTime('{D(day)} 10:00:00') + number * 60, 60, {revision},
                10 + number % 5 + {extra}, 10 + number % 5 + {extra}, 9 + number % 5 + {extra}, 1, 300 * (10 + number % 5), 900,
                100, 20, 0.01, {(version == "2.0" ? 2 : 0)}, now()
            FROM system.numbers LIMIT 120
            """, ct);

    // 600 raw calls a version and day at 10:xx with latencies 1..600 ms: what the rollup's t-digests are built from.
    private static Task InsertCallsAsync(ClickHouseHttp db, DateOnly day, CancellationToken ct) =>
        db.ExecuteAsync($"""
            INSERT INTO calls (event_id, occurred_at, occurred_at_ms, environment, service, operation, provider, request_model, prompt_name, prompt_version,
                latency_ms, input_tokens, output_tokens, outcome, sample_rate, ingested_at)
            SELECT generateUUIDv4(), toDateTime('{D(day)} 10:00:00') + number % 3600, 0, 'prod', 'svc', 'chat', 'openai', 'gpt-4o', 'support_answer',
                if(number < 600, '1.0', '2.0'), 1 + number % 600, 100, 20, 'SUCCESS', 1, now()
            FROM system.numbers LIMIT 1200
            """, ct);
}
