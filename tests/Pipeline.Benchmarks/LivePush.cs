using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using Pipeline.ClickHouse;
using Pipeline.Consumers;
using Pipeline.Dashboard;
using Pipeline.DevServers;
using Pipeline.Schemas;

namespace Pipeline.Benchmarks;

/// <summary>
/// The dashboard's push delay (issue 17): a window is published to the window topic and its row inserted into
/// <c>metrics_1m</c>, in the aggregator's order, while a page's event stream (<c>/api/events</c>) is open; the delay
/// is from the publish to the <c>windows</c> event on the stream. One window at a time, 500 ms apart.
/// </summary>
internal static class LivePush
{
    public static async Task<int> RunAsync(int samples)
    {
        var ct = CancellationToken.None;
        var settings = new LocalClickHouseSettings { RunDir = Path.Combine(Backfill.FindRoot(), ".run", "clickhouse") };
        await new LocalClickHouse(settings, TimeProvider.System, Console.Error.WriteLine).StartAsync(ct);
        await using var broker = DevBrokerHost.Start(1, null, [("bench.metrics", 1), ("bench.alerts", 1)]);
        var kafka = new KafkaSettings([new("bootstrap.servers", broker.Bootstrap)]);
        var db = "livepush_" + Guid.NewGuid().ToString("N")[..8];
        using var clickHouse = new ClickHouseHttp(new ClickHouseOptions { Url = settings.HttpUrl, User = settings.WriterUser, Password = settings.WriterPassword, Database = db });
        try
        {
            await new Migrator(clickHouse, TimeProvider.System).ApplyAsync(Migrator.Embedded, ct);
            var options = new DashboardOptions { Port = 0, MetricsTopic = "bench.metrics", AlertsTopic = "bench.alerts" };
            await using var app = DashboardApp.Create(options, clickHouse.Options, TimeProvider.System, kafka: kafka);
            await app.StartAsync(ct);
            using var http = new HttpClient { BaseAddress = new Uri(DashboardApp.Address(app)), Timeout = Timeout.InfiniteTimeSpan };
            for (var i = 0; i < 300 && !(await http.GetStringAsync(new Uri("/api/live", UriKind.Relative), ct)).Contains("\"live\"", StringComparison.Ordinal); i++) await Task.Delay(100, ct);

            // The page's stream: each windows event's first series names the sample (its prompt version).
            var received = new Dictionary<string, long>();
            using var stop = new CancellationTokenSource();
            await using var stream = await http.GetStreamAsync(new Uri("/api/events", UriKind.Relative), ct);
            using var reader = new StreamReader(stream);
            var reading = Task.Run(async () =>
            {
                string? name = null;
                while (await reader.ReadLineAsync(stop.Token) is { } line)
                {
                    if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line[7..];
                    else if (line.StartsWith("data: ", StringComparison.Ordinal) && name == "windows")
                    {
                        var at = Stopwatch.GetTimestamp();
                        using var doc = JsonDocument.Parse(line[6..]);
                        foreach (var s in doc.RootElement.GetProperty("series").EnumerateArray())
                        {
                            lock (received) received.TryAdd(s.GetProperty("promptVersion").GetString()!, at);
                        }
                    }
                }
            });

            using var producer = new ProducerBuilder<byte[]?, byte[]>(kafka.Producer()).Build();
            var serializer = new WindowAggregateSerializer();
            var sent = new Dictionary<string, (long At, double InsertMs)>();
            var minute = TimeProvider.System.GetUtcNow().ToUnixTimeSeconds() / 60 * 60;
            for (var i = 0; i < samples; i++)
            {
                var version = i.ToString(CultureInfo.InvariantCulture);
                var series = new SeriesKey("prod", "svc", "live_bench", version, "gpt-4o");
                var window = new WindowAggregate { Series = series, WindowStart = DateTimeOffset.FromUnixTimeSeconds(minute - 60), WindowSeconds = 60, Revision = 1, Calls = 10, Successes = 10, Events = 10 };
                var started = Stopwatch.GetTimestamp();
                await producer.ProduceAsync(options.MetricsTopic, new Message<byte[]?, byte[]> { Key = series.ToKafkaKey(), Value = serializer.Serialize(window) }, ct);
                var insert = Stopwatch.StartNew();
                await clickHouse.ExecuteAsync($"""
                    INSERT INTO metrics_1m (environment, service, prompt_name, prompt_version, request_model, window_start, window_seconds, revision, is_final, calls, successes, emitted_at)
                    VALUES ('prod', 'svc', 'live_bench', {ClickHouseHttp.Quote(version)}, 'gpt-4o', {minute - 60}, 60, 1, 1, 10, 10, now())
                    """, ct);
                sent[version] = (started, insert.Elapsed.TotalMilliseconds);
                await Task.Delay(500, ct);
            }
            for (var i = 0; i < 100; i++)
            {
                lock (received) if (received.Count >= samples) break;
                await Task.Delay(100, ct);
            }
            await stop.CancelAsync();
            List<double> delays;
            lock (received) delays = sent.Where(s => received.ContainsKey(s.Key)).Select(s => Stopwatch.GetElapsedTime(s.Value.At, received[s.Key]).TotalMilliseconds).Order().ToList();
            if (delays.Count < samples)
            {
                Console.Error.WriteLine($"only {delays.Count} of {samples} windows reached the stream");
                return 1;
            }
            static double At(List<double> v, double q) => v[Math.Min(v.Count - 1, (int)(q * v.Count))];
            var inserts = sent.Values.Select(v => v.InsertMs).Order().ToList();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"dashboard push delay, publish to the page's event ({samples} windows): p50 {At(delays, 0.5):0} ms, p95 {At(delays, 0.95):0} ms, max {delays[^1]:0} ms (of which the row's insert: p50 {At(inserts, 0.5):0} ms)"));
            return 0;
        }
        finally
        {
            await clickHouse.ExecuteAsync($"DROP DATABASE IF EXISTS {ClickHouseHttp.QuoteIdentifier(db)}", ct, useDatabase: false);
        }
    }
}
