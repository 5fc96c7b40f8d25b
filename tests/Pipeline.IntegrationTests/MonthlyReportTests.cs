using Pipeline.Reports;

namespace Pipeline.IntegrationTests;

/// <summary>
/// The monthly executive report over two months of daily rollups written straight into metrics_1d (no minute
/// windows, no raw calls: as after retention), each number checked against the same number computed in SQL.
/// </summary>
public sealed class MonthlyReportTests(ServersFixture servers)
{
    // One call a row: support_answer 1.0 all of October and November (November slower, costlier, 2.5% errors),
    // its 2.0 from 15 November (10% errors), and summarize on another model, steady.
    private const string Generator = """
        SELECT 'support_answer' AS prompt, '1.0' AS version, 'gpt-4o' AS model, toDate('2026-10-01') + intDiv(number, 200) AS day, number % 200 AS i,
            day >= toDate('2026-11-01') AS nov, if(nov, i % 40 != 0, i % 100 != 0) AS ok, 100 + i * if(nov, 3, 2) AS lat, if(nov, 0.0015, 0.001) AS cost
        FROM system.numbers LIMIT 12200
        UNION ALL
        SELECT 'support_answer' AS prompt, '2.0' AS version, 'gpt-4o' AS model, toDate('2026-11-15') + intDiv(number, 200) AS day, number % 200 AS i,
            1 AS nov, i % 10 != 0 AS ok, 100 + i * 3 AS lat, 0.0015 AS cost
        FROM system.numbers LIMIT 3200
        UNION ALL
        SELECT 'summarize' AS prompt, '1.0' AS version, 'gpt-4o-mini' AS model, toDate('2026-10-01') + intDiv(number, 100) AS day, number % 100 AS i,
            day >= toDate('2026-11-01') AS nov, 1 AS ok, 50 + i AS lat, 0.0002 AS cost
        FROM system.numbers LIMIT 6100
        """;

    [Fact]
    public async Task Monthly_TwoMonthsOfDailyRollups_MatchSql_WithIncidentReleaseAndRecommendations()
    {
        var ct = TestContext.Current.CancellationToken;
        using var db = await servers.NewDatabaseAsync(ct);
        await db.ExecuteAsync($"""
            INSERT INTO metrics_1d (environment, service, prompt_name, prompt_version, request_model, day, requests_state, successes_state, errors_state,
                latency_sum_state, latency_max_state, latency_quantiles_state, input_tokens_state, output_tokens_state, cost_state, quality_sum_state,
                quality_count_state, events_state, unpriced_state)
            SELECT 'prod', 'svc', prompt, version, model, day, sumState(toUInt64(1)), sumState(toUInt64(ok)), sumState(toUInt64(1 - ok)),
                sumState(toFloat64(lat)), maxState(toFloat64(lat)), quantilesTDigestState(0.5, 0.95, 0.99)(toFloat64(lat)), sumState(toUInt64(100)),
                sumState(toUInt64(20)), sumState(toFloat64(cost)), sumState(toFloat64(0)), sumState(toUInt64(0)), sumState(toUInt64(1)), sumState(toUInt64(0))
            FROM ({Generator})
            GROUP BY prompt, version, model, day
            """, ct);
        await db.ExecuteAsync("""
            INSERT INTO alerts (alert_id, rule_id, fingerprint, state, severity, environment, service, prompt_name, prompt_version, request_model, metric,
                observed, threshold, window_start, window_end, started_at, resolved_at, summary, runbook_url, label_keys, label_values, recorded_at)
            VALUES ('a1', 'success_rate_critical', 'fp1', 'FIRING', 'CRITICAL', 'prod', 'svc', 'support_answer', '2.0', 'gpt-4o', 'success_rate',
                    0.9, 0.95, '2026-11-15 09:55:00', '2026-11-15 10:05:00', '2026-11-15 10:00:00', NULL, 'success 90%', '', [], [], '2026-11-15 10:05:00'),
                   ('a1', 'success_rate_critical', 'fp1', 'RESOLVED', 'CRITICAL', 'prod', 'svc', 'support_answer', '2.0', 'gpt-4o', 'success_rate',
                    0.99, 0.95, '2026-11-15 10:40:00', '2026-11-15 10:45:00', '2026-11-15 10:00:00', '2026-11-15 10:45:00', 'recovered', '', [], [], '2026-11-15 10:45:00')
            """, ct);
        var dir = Directory.CreateTempSubdirectory("pipeline-monthly-").FullName;
        var request = new ReportRequest("Pipeline monthly report", new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero), dir) { Kind = "monthly" };
        var report = await new MonthlyReportBuilder(db).BuildAsync(request, ct);

        Assert.Equal(new DateOnly(2026, 11, 1), report.Month);
        Assert.Equal(["summarize/gpt-4o-mini", "support_answer/gpt-4o"], report.Lines.Select(l => $"{l.Current.Prompt}/{l.Current.Model}"));
        foreach (var (current, previous) in report.Lines)
        {
            foreach (var (line, from, to) in new[] { (current, "2026-11-01", "2026-12-01"), (previous!, "2026-10-01", "2026-11-01") })
            {
                var where = $"prompt = '{line.Prompt}' AND model = '{line.Model}' AND day >= toDate('{from}') AND day < toDate('{to}')";
                Assert.Equal(await Exact($"count()", where, ct), line.Calls);
                Assert.Equal(await Exact($"sum(ok)", where, ct), line.Successes);
                Assert.Equal(await Exact($"sum(1 - ok)", where, ct), line.Errors);
                Assert.Equal(await Exact($"sum(cost)", where, ct), line.CostUsd, 6);
                // p95 from merged daily t-digests: what SQL merges from the same rollups, and within 3% of the exact value.
                var rollupWhere = $"prompt_name = '{line.Prompt}' AND request_model = '{line.Model}' AND day >= toDate('{from}') AND day < toDate('{to}')";
                Assert.Equal(await db.ScalarAsync($"SELECT quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_quantiles_state)[2] FROM metrics_1d WHERE {rollupWhere}", ct), line.P95Ms, 3);
                var exactP95 = await Exact("quantileExact(0.95)(lat)", where, ct);
                Assert.InRange(line.P95Ms, exactP95 * 0.97, exactP95 * 1.03);
                Assert.Equal(await db.ScalarAsync($"""
                    SELECT countIf(s >= 0.99) FROM (SELECT day, sumMerge(successes_state) / sumMerge(requests_state) AS s FROM metrics_1d WHERE {rollupWhere} GROUP BY day)
                    """, ct), line.DaysMet);
            }
        }
        var support = report.Lines[1].Current;
        Assert.Equal(0, support.DaysMet);
        Assert.Equal(30, support.Days);
        Assert.Equal(1 - support.Errors / (0.01 * support.Calls), support.ErrorBudgetLeft(0.99), 9);
        Assert.Equal(report.Lines.Sum(l => l.Current.CostUsd) / 30 * 31, report.ProjectedNextMonthUsd, 6);

        var incident = Assert.Single(report.Incidents);
        Assert.Equal(TimeSpan.FromMinutes(5), incident.TimeToDetect);
        Assert.Equal(TimeSpan.FromMinutes(45), incident.TimeToResolve);

        var release = Assert.Single(report.Releases);
        Assert.Equal(("support_answer", "2.0", "1.0", new DateOnly(2026, 11, 15)), (release.Prompt, release.Version, release.Control, release.FirstDay));
        Assert.Contains("success rate is worse", release.Verdict, StringComparison.Ordinal);

        Assert.Contains(report.Recommendations, r => r.StartsWith("support_answer on gpt-4o: success", StringComparison.Ordinal) && r.Contains("objective (", StringComparison.Ordinal));
        Assert.Contains(report.Recommendations, r => r.StartsWith("support_answer on gpt-4o: p95 rose", StringComparison.Ordinal));
        Assert.Contains(report.Recommendations, r => r.StartsWith("support_answer on gpt-4o: cost rose", StringComparison.Ordinal));
        Assert.Contains(report.Recommendations, r => r.StartsWith("support_answer 2.0 (released 2026-11-15)", StringComparison.Ordinal));
        Assert.DoesNotContain(report.Recommendations, r => r.StartsWith("summarize", StringComparison.Ordinal));
        foreach (var f in new[] { "report.md", "report.html", "report.json", "monthly.csv", "latency_p95.png", "calls.png" })
        {
            Assert.True(File.Exists(Path.Combine(dir, f)), f);
        }

        // The CLI's report monthly --month reads the same rollups.
        var home = Directory.CreateTempSubdirectory("pipeline-monthly-cli-").FullName;
        var cli = await PipelineProcess.RunAsync(["report", "monthly", "--month", "2026-11", "--out", Path.Combine(home, "m"),
            "--set", $"ClickHouse:Url={servers.ClickHouse.Url}", "--set", $"ClickHouse:User={servers.ClickHouse.User}",
            "--set", $"ClickHouse:Password={servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={db.Options.Database}"], home);
        Assert.True(cli.ExitCode == 0, cli.Stderr + cli.Stdout);
        Assert.Contains("recommendation: support_answer 2.0", cli.Stdout, StringComparison.Ordinal);
        Assert.Contains($"| support_answer | gpt-4o | {support.Calls} |", await File.ReadAllTextAsync(Path.Combine(home, "m", "report.md"), ct), StringComparison.Ordinal);

        Task<double> Exact(string expression, string where, CancellationToken token) =>
            db.ScalarAsync($"SELECT {expression} FROM ({Generator}) WHERE {where}", token);
    }
}
