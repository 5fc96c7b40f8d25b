using System.Globalization;
using Pipeline.ClickHouse;

namespace Pipeline.IntegrationTests;

/// <summary>Rollups and retention on the real local ClickHouse, with known data.</summary>
public sealed class MaintenanceTests(ServersFixture servers)
{
    private static readonly DateOnly Today = DateOnly.FromDateTime(TimeProvider.System.GetUtcNow().UtcDateTime);

    [Fact]
    public async Task RollUp_EqualsTheMinuteWindows_IsIdempotent_AndFollowsLateRevisions()
    {
        var ct = TestContext.Current.CancellationToken;
        using var db = await servers.NewDatabaseAsync(ct);
        var day = Today.AddDays(-1);
        // 120 windows over 10:00-12:00: calls = 10 + i % 5, one error each; 600 raw calls at 10:xx with latencies 1..600 ms.
        await InsertWindowsAsync(db, day, 10, count: 120, revision: 1, extraCalls: 0, ct);
        await InsertCallsAsync(db, day, 10, 600, ct);
        var maintenance = new Maintenance(db, TimeProvider.System);
        var retention = new RetentionOptions();

        var first = await maintenance.RollUpAsync(retention, null, ct);
        Assert.Equal([day], first.DaysRolledUp);
        Assert.Equal([day.Year * 100 + day.Month], first.MonthsRolledUp);

        var expected10 = Enumerable.Range(0, 60).Sum(i => 10 + i % 5);
        var expected11 = Enumerable.Range(60, 60).Sum(i => 10 + i % 5);
        using var analyst = new ClickHouseHttp(db.Options.AsAnalyst());
        Assert.Equal(expected10, await analyst.ScalarAsync($"SELECT requests FROM v_health_1h WHERE hour = toDateTime('{D(day)} 10:00:00')", ct));
        Assert.Equal(expected11, await analyst.ScalarAsync($"SELECT requests FROM v_health_1h WHERE hour = toDateTime('{D(day)} 11:00:00')", ct));
        Assert.Equal(60, await analyst.ScalarAsync($"SELECT sumMerge(errors_state) FROM metrics_1h WHERE hour = toDateTime('{D(day)} 10:00:00')", ct));
        Assert.Equal(expected10 + expected11, await analyst.ScalarAsync($"SELECT requests FROM v_health_1d WHERE day = toDate('{D(day)}')", ct));
        // Percentiles of the hour: t-digest over the raw calls, against the exact value.
        var exact = await analyst.ScalarAsync($"SELECT quantileExact(0.95)(latency_ms) FROM calls FINAL WHERE toDate(occurred_at) = toDate('{D(day)}')", ct);
        var rolled = await analyst.ScalarAsync($"SELECT latency_p95_ms FROM v_health_1h WHERE hour = toDateTime('{D(day)} 10:00:00')", ct);
        Assert.InRange(rolled, exact * 0.98, exact * 1.02);
        Assert.Equal(await analyst.ScalarAsync($"SELECT latency_p95_ms FROM v_health_1h WHERE hour = toDateTime('{D(day)} 10:00:00')", ct),
            await analyst.ScalarAsync($"SELECT latency_p95_ms FROM v_health_1d WHERE day = toDate('{D(day)}')", ct));

        // Nothing changed: nothing is rebuilt, nothing doubles.
        var second = await maintenance.RollUpAsync(retention, null, ct);
        Assert.Empty(second.DaysRolledUp);
        Assert.Equal(expected10 + expected11, await analyst.ScalarAsync($"SELECT requests FROM v_health_1d WHERE day = toDate('{D(day)}')", ct));

        // A late revision of one window (+50 calls) replaces that window: the rollup follows, counting it once.
        await InsertWindowsAsync(db, day, 10, count: 1, revision: 2, extraCalls: 50, ct, emittedLater: true);
        var third = await maintenance.RollUpAsync(retention, null, ct);
        Assert.Equal([day], third.DaysRolledUp);
        Assert.Equal(expected10 + 50, await analyst.ScalarAsync($"SELECT requests FROM v_health_1h WHERE hour = toDateTime('{D(day)} 10:00:00')", ct));
        Assert.Equal(expected10 + expected11 + 50, await analyst.ScalarAsync($"SELECT requests FROM v_health_1d WHERE day = toDate('{D(day)}')", ct));
    }

    [Fact]
    public async Task Retention_DropsOldPartitionsOnly_AfterRollingThemUp_DryRunDropsNothing()
    {
        var ct = TestContext.Current.CancellationToken;
        using var db = await servers.NewDatabaseAsync(ct);
        var old = Today.AddDays(-40);
        var recent = Today.AddDays(-1);
        var oldMonth = new DateOnly(Today.Year, Today.Month, 1).AddMonths(-5);
        await InsertCallsAsync(db, old, 9, 100, ct);
        await InsertWindowsAsync(db, old, 9, count: 10, revision: 1, extraCalls: 0, ct);
        await InsertCallsAsync(db, recent, 9, 100, ct);
        await InsertWindowsAsync(db, oldMonth, 9, count: 5, revision: 1, extraCalls: 0, ct);
        var retention = new RetentionOptions { CallsDays = 30, MinuteDays = 90 };
        var maintenance = new Maintenance(db, TimeProvider.System);

        var dry = await maintenance.ApplyRetentionAsync(retention, dryRun: true, null, ct);
        Assert.Equal([$"calls/{old:yyyyMMdd}", $"metrics_1m/{oldMonth:yyyyMM}"], dry.PartitionsDropped);
        Assert.Equal(200, await db.ScalarAsync("SELECT count() FROM calls", ct));

        var applied = await maintenance.ApplyRetentionAsync(retention, dryRun: false, null, ct);
        Assert.Equal(dry.PartitionsDropped, applied.PartitionsDropped);
        Assert.Equal(0, await db.ScalarAsync($"SELECT count() FROM calls WHERE toDate(occurred_at) = toDate('{D(old)}')", ct));
        Assert.Equal(100, await db.ScalarAsync($"SELECT count() FROM calls WHERE toDate(occurred_at) = toDate('{D(recent)}')", ct));
        Assert.Equal(0, await db.ScalarAsync($"SELECT count() FROM metrics_1m WHERE toYYYYMM(window_start) = {oldMonth:yyyyMM}", ct));
        // The dropped day was rolled up first: its counts and percentiles live on.
        Assert.Equal(Enumerable.Range(0, 10).Sum(i => 10 + i % 5), await db.ScalarAsync($"SELECT sum(requests) FROM v_health_1h WHERE toDate(hour) = toDate('{D(old)}')", ct));
        Assert.True(await db.ScalarAsync($"SELECT latency_p95_ms FROM v_health_1h WHERE hour = toDateTime('{D(old)} 09:00:00')", ct) > 0);
        // Nothing left to drop.
        Assert.Empty((await maintenance.ApplyRetentionAsync(retention, dryRun: true, null, ct)).PartitionsDropped);
    }

    private static string D(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static Task InsertWindowsAsync(ClickHouseHttp db, DateOnly day, int hour, int count, int revision, int extraCalls, CancellationToken ct, bool emittedLater = false) =>
        db.ExecuteAsync($"""
            INSERT INTO metrics_1m (environment, service, prompt_name, prompt_version, request_model, window_start, window_seconds, revision,
                calls, events, successes, errors, latency_sum_ms, latency_max_ms, input_tokens, output_tokens, cost_usd, emitted_at)
            SELECT 'prod', 'svc', 'support_answer', '1.0', 'gpt-4o', toDateTime('{D(day)} {hour:D2}:00:00') + number * 60, 60, {revision},
                10 + number % 5 + {extraCalls}, 10 + number % 5 + {extraCalls}, 9 + number % 5 + {extraCalls}, 1, 300 * (10 + number % 5), 900,
                100, 20, 0.01, now() + {(emittedLater ? 5 : 0)}
            FROM system.numbers LIMIT {count}
            """, ct);

    private static Task InsertCallsAsync(ClickHouseHttp db, DateOnly day, int hour, int count, CancellationToken ct) =>
        db.ExecuteAsync($"""
            INSERT INTO calls (event_id, occurred_at, occurred_at_ms, environment, service, operation, provider, request_model, prompt_name, prompt_version,
                latency_ms, input_tokens, output_tokens, outcome, sample_rate, ingested_at)
            SELECT generateUUIDv4(), toDateTime('{D(day)} {hour:D2}:00:00') + number % 3600, 0, 'prod', 'svc', 'chat', 'openai', 'gpt-4o', 'support_answer', '1.0',
                1 + number, 100, 20, 'SUCCESS', 1, now()
            FROM system.numbers LIMIT {count}
            """, ct);
}
