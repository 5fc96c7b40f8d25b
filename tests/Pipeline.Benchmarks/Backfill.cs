using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.ClickHouse;
using Pipeline.Consumers;
using Pipeline.DevServers;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.Benchmarks;

/// <summary>
/// Late data at volume through one worker (issue 13): an hour of live traffic, then six hours of events for the
/// same series ending now (the last hour lands in windows already written), then the live hour replayed
/// (duplicates), produced at a paced rate while the worker consumes. Checks <c>calls FINAL</c> and every
/// window's count exactly, samples the process RSS every second, and prints the figures for docs/benchmarks.md.
/// </summary>
internal static class Backfill
{
    public static async Task<int> RunAsync(int liveEvents, int backfillEvents, int rate, int series)
    {
        var root = FindRoot();
        var settings = new LocalClickHouseSettings { RunDir = Path.Combine(root, ".run", "clickhouse") };
        await new LocalClickHouse(settings, TimeProvider.System, Console.Error.WriteLine).StartAsync(CancellationToken.None);
        await using var broker = DevBrokerHost.Start(1, null);
        const int partitions = 12;
        broker.Cluster.CreateTopic("backfill.calls", partitions);
        var kafka = new KafkaSettings([new("bootstrap.servers", broker.Bootstrap), new("session.timeout.ms", "6000")]);
        var db = "backfill_" + Guid.NewGuid().ToString("N")[..8];
        using var clickHouse = new ClickHouseHttp(new ClickHouseOptions { Url = settings.HttpUrl, User = settings.WriterUser, Password = settings.WriterPassword, Database = db });
        await new Migrator(clickHouse, TimeProvider.System).ApplyAsync(Migrator.Embedded, CancellationToken.None);

        var now = TimeProvider.System.GetUtcNow();
        // Generated as they are sent (the same sequence every time, ids included), so the process RSS is the worker's, not the test data's.
        IEnumerable<LlmCall> Make(int count, TimeSpan span, int seed)
        {
            var random = new Random(seed);
            var id = new byte[16];
            for (var i = 0; i < count; i++)
            {
                random.NextBytes(id);
                yield return Samples.FullCall() with
                {
                    EventId = new Guid(id),
                    OccurredAt = now - span + TimeSpan.FromMilliseconds(span.TotalMilliseconds * i / count),
                    PromptName = "p" + (i % series), LatencyMs = 50 + random.Next(0, 3000), SampleRate = 1,
                };
            }
        }
        var live = Make(liveEvents, TimeSpan.FromHours(1), 1);
        var backfill = Make(backfillEvents, TimeSpan.FromHours(6), 2);
        var expected = new Dictionary<(string, long), long>();
        foreach (var c in live.Concat(backfill))
        {
            var k = (c.PromptName, c.OccurredAt.ToUnixTimeSeconds() / 60 * 60);
            expected[k] = expected.GetValueOrDefault(k) + 1;
        }
        long peakRss = 0;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                using var self = Process.GetCurrentProcess();
                peakRss = Math.Max(peakRss, self.WorkingSet64);
                await Task.Delay(1000);
            }
        });

        var options = new AggregatorOptions
        {
            Topic = "backfill.calls", GroupId = "backfill", MetricsTopic = "llm.metrics.1m.v1", DeadLetterTopic = "llm.calls.dlq.v1",
            Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1) },
        };
        using var worker = new AggregatorWorker(kafka, clickHouse, options, TimeProvider.System, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();
        await Task.Delay(TimeSpan.FromSeconds(8)); // the group joins before the first record (the dev broker keeps ~5 MiB per partition)

        var serializer = new LlmCallSerializer();
        using var producer = new ProducerBuilder<byte[], byte[]>(kafka.Producer()).Build();
        long produced = 0;
        async Task<double> PaceAsync(IEnumerable<LlmCall> calls, string phase)
        {
            Console.Error.WriteLine($"{TimeProvider.System.GetUtcNow():HH:mm:ss} backfill: {phase}");
            var sw = Stopwatch.StartNew();
            var start = produced;
            foreach (var c in calls)
            {
                producer.Produce("backfill.calls", new Message<byte[], byte[]> { Key = SeriesKey.Of(c).ToKafkaKey(), Value = serializer.Serialize(c) });
                produced++;
                var due = (produced - start) / (double)rate;
                if (due > sw.Elapsed.TotalSeconds) await Task.Delay(TimeSpan.FromSeconds(due - sw.Elapsed.TotalSeconds));
            }
            producer.Flush(TimeSpan.FromMinutes(1));
            // Until the worker has read everything produced so far: the phase's throughput as the worker sees it.
            while (worker.RecordsConsumed < produced && !run.IsCompleted) await Task.Delay(50);
            return (produced - start) / sw.Elapsed.TotalSeconds;
        }
        var liveRate = await PaceAsync(live, "live hour");
        var backfillRate = await PaceAsync(backfill, "six hours behind");
        var replayRate = await PaceAsync(live, "live hour again (duplicates)");

        var distinct = (long)liveEvents + backfillEvents;
        var deadline = TimeProvider.System.GetUtcNow().AddMinutes(5);
        while (await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", CancellationToken.None) < distinct && TimeProvider.System.GetUtcNow() < deadline)
        {
            await Task.Delay(500);
        }
        await stop.CancelAsync();
        await run;
        await sampling.CancelAsync();
        await sampler;

        var stored = await clickHouse.ScalarAsync("SELECT count() FROM calls FINAL", CancellationToken.None);
        var summed = await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", CancellationToken.None);
        var windows = (await clickHouse.QueryAsync("SELECT prompt_name, toUInt32(window_start) AS ws, calls FROM metrics_1m FINAL", CancellationToken.None))
            .ToDictionary(r => (r.GetProperty("prompt_name").GetString()!, r.GetProperty("ws").GetInt64()), r => r.GetProperty("calls").GetInt64());
        var wrong = expected.Count(kv => windows.GetValueOrDefault(kv.Key) != kv.Value) + windows.Keys.Count(k => !expected.ContainsKey(k));
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        Console.WriteLine("| backfill measure | value |");
        Console.WriteLine("|---|---|");
        Console.WriteLine(string.Create(inv, $"| live hour, {liveEvents:N0} events paced at {rate:N0}/s | {liveRate:N0} events/s |"));
        Console.WriteLine(string.Create(inv, $"| six hours behind, {backfillEvents:N0} events (last hour into written windows) | {backfillRate:N0} events/s ({backfillRate / liveRate:F2} of live) |"));
        Console.WriteLine(string.Create(inv, $"| live hour replayed (duplicates) | {replayRate:N0} events/s |"));
        Console.WriteLine(string.Create(inv, $"| peak RSS of the process (worker, producer, generator) | {peakRss / 1048576.0:N0} MB |"));
        Console.WriteLine(string.Create(inv, $"| calls FINAL / sum(calls) in metrics_1m FINAL / expected | {stored:N0} / {summed:N0} / {distinct:N0} |"));
        Console.WriteLine(string.Create(inv, $"| windows differing from the exact count | {wrong} of {expected.Count} |"));
        await clickHouse.ExecuteAsync($"DROP DATABASE IF EXISTS {ClickHouseHttp.QuoteIdentifier(db)}", CancellationToken.None, useDatabase: false);
        return stored == distinct && summed == distinct && wrong == 0 && peakRss < 500L * 1048576 && backfillRate >= liveRate / 3 ? 0 : 1;
    }

    internal static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("Pipeline.sln not found");
    }
}
