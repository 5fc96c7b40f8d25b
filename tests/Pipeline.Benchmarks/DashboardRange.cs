using System.Diagnostics;
using System.Globalization;
using Pipeline.ClickHouse;
using Pipeline.Dashboard;
using Pipeline.DevServers;

namespace Pipeline.Benchmarks;

/// <summary>
/// A long dashboard range (issue 17): <c>series</c> series over <c>days</c> days written straight into the hourly
/// and daily rollups (their minute rows would be 43 million at 1,000 series and 30 days), then the overview page's
/// reads (overview with its previous period, time series, prompts table) timed as the API answers them.
/// </summary>
internal static class DashboardRange
{
    public static async Task<int> RunAsync(int series, int days, int runs)
    {
        var ct = CancellationToken.None;
        var settings = new LocalClickHouseSettings { RunDir = Path.Combine(Backfill.FindRoot(), ".run", "clickhouse") };
        await new LocalClickHouse(settings, TimeProvider.System, Console.Error.WriteLine).StartAsync(ct);
        var db = "dashrange_" + Guid.NewGuid().ToString("N")[..8];
        using var clickHouse = new ClickHouseHttp(new ClickHouseOptions { Url = settings.HttpUrl, User = settings.WriterUser, Password = settings.WriterPassword, Database = db });
        try
        {
            await new Migrator(clickHouse, TimeProvider.System).ApplyAsync(Migrator.Embedded, ct);
            var today = TimeProvider.System.GetUtcNow().UtcDateTime.Date;
            var first = today.AddDays(-days);
            var start = Stopwatch.StartNew();
            // Ten rows of 12 calls per series and hour (2 calls a minute) make each hour's t-digest; 1 error in 120.
            await clickHouse.ExecuteAsync($"""
                INSERT INTO metrics_1h (environment, service, prompt_name, prompt_version, request_model, hour, requests_state, successes_state, errors_state,
                    latency_sum_state, latency_max_state, latency_quantiles_state, input_tokens_state, output_tokens_state, cost_state, quality_sum_state,
                    quality_count_state, events_state, unpriced_state)
                SELECT 'prod', 'svc', concat('prompt_', toString(s % 100)), toString(intDiv(s, 100)), 'gpt-4o', h,
                    sumState(toUInt64(12)), sumState(toUInt64(12 - e)), sumState(toUInt64(e)), sumState(toFloat64(12 * lat)), maxState(lat), quantilesTDigestState(0.5, 0.95, 0.99)(lat),
                    sumState(toUInt64(6000)), sumState(toUInt64(1200)), sumState(0.06), sumState(10.0), sumState(toUInt64(12)), sumState(toUInt64(12)), sumState(toUInt64(0))
                FROM (
                    SELECT intDiv(number, 10) % {series} AS s, toDateTime('{first:yyyy-MM-dd} 00:00:00') + 3600 * intDiv(number, 10 * {series}) AS h,
                        toFloat64(300 + 10 * (s % 50)) AS avg_lat, avg_lat * (0.5 + (number % 10) / 9.0) AS lat, number % 10 = 0 AS e
                    FROM numbers({10L * series * 24 * days}))
                GROUP BY s, h
                """, ct);
            var maintenance = new Maintenance(clickHouse, TimeProvider.System);
            for (var m = new DateTime(first.Year, first.Month, 1); m <= today; m = m.AddMonths(1)) await maintenance.RebuildMonthAsync(m.Year * 100 + m.Month, ct);
            var log = string.Join(", ", Enumerable.Range(0, days).Select(d => $"('{first.AddDays(d):yyyy-MM-dd}', {new DateTimeOffset(first.AddDays(d + 1)).ToUnixTimeSeconds()}, {new DateTimeOffset(first.AddDays(d + 1).AddHours(1)).ToUnixTimeSeconds()}, {Maintenance.RollupFormat})"));
            await clickHouse.ExecuteAsync($"INSERT INTO rollup_log (day, source_emitted_at, rolled_at, format) VALUES {log}", ct);
            Console.Error.WriteLine($"fixture: {series} series x {days} days ({series * 24L * days:N0} hourly rows) in {start.Elapsed.TotalSeconds:0.0} s");

            var queries = new DashboardQueries(clickHouse, new DashboardOptions(), TimeProvider.System);
            var range = new TimeRange(new DateTimeOffset(first), new DateTimeOffset(today));
            var timings = new List<(double Overview, double Series, double Prompts, double Page)>();
            for (var run = 0; run <= runs; run++)
            {
                var page = Stopwatch.StartNew();
                var t = Stopwatch.StartNew();
                var overview = await queries.OverviewAsync(range, SeriesFilter.All, ct);
                var o = t.Elapsed.TotalMilliseconds;
                t.Restart();
                var points = await queries.TimeSeriesAsync(range, SeriesFilter.All, ct);
                var s = t.Elapsed.TotalMilliseconds;
                t.Restart();
                var prompts = await queries.PromptsAsync(range, SeriesFilter.All, ct);
                var p = t.Elapsed.TotalMilliseconds;
                if (overview.Requests != 120L * series * 24 * days || prompts.Count != series || points.Points.Sum(x => x.Requests) != overview.Requests)
                {
                    Console.Error.WriteLine($"wrong answer: {overview.Requests} requests, {prompts.Count} series, {points.Points.Count} points");
                    return 1;
                }
                if (run > 0) timings.Add((o, s, p, page.Elapsed.TotalMilliseconds)); // run 0 warms up
            }
            static double Median(IEnumerable<double> v) { var a = v.Order().ToArray(); return a[a.Length / 2]; }
            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine(string.Create(inv, $"dashboard {days}-day range, {series} series (medians of {runs}): overview {Median(timings.Select(x => x.Overview)):0} ms, time series {Median(timings.Select(x => x.Series)):0} ms, prompts {Median(timings.Select(x => x.Prompts)):0} ms, page total {Median(timings.Select(x => x.Page)):0} ms"));
            return 0;
        }
        finally
        {
            await clickHouse.ExecuteAsync($"DROP DATABASE IF EXISTS {ClickHouseHttp.QuoteIdentifier(db)}", ct, useDatabase: false);
        }
    }
}
