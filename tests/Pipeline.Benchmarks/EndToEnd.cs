using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Aggregation;
using Pipeline.ClickHouse;
using Pipeline.Consumers;
using Pipeline.DevServers;
using Pipeline.Producers;
using Pipeline.Tests;

namespace Pipeline.Benchmarks;

/// <summary>
/// End-to-end throughput on the real local servers, each figure next to a reference measured in the
/// same run on the same data: the aggregator against a raw consume of the topic (Confluent consumer
/// and kcat). Prints a Markdown table for docs/benchmarks.md. Not part of `make test`.
/// </summary>
internal static class EndToEnd
{
    /// <summary>One figure, with the reference measured in the same run on the same data.</summary>
    internal sealed record Measure(string Name, double Value, string? Reference, double? ReferenceValue);

    private static void Phase(string name) => Console.Error.WriteLine($"{TimeProvider.System.GetUtcNow():HH:mm:ss} e2e: {name}");

    /// <summary>Every run's figures, for the medians.</summary>
    public static List<List<Measure>> Results { get; } = [];

    /// <summary>Prints a Markdown table; with several runs, the median of each value and reference, and their ratio.</summary>
    public static void Print(IReadOnlyList<Measure> measures, int runs)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        Console.WriteLine(runs == 1 ? "| measure | value | reference (same run, same data) | ratio |" : $"| measure (median of {runs} runs) | value | reference (same runs, same data) | ratio |");
        Console.WriteLine("|---|---|---|---|");
        foreach (var m in measures)
        {
            var reference = m.Reference is null ? "" : $"{m.Reference}: {m.ReferenceValue!.Value.ToString("N0", inv)}";
            var ratio = m.ReferenceValue is { } r && r > 0 ? (m.Value / r).ToString("F2", inv) : "";
            Console.WriteLine($"| {m.Name} | {m.Value.ToString(m.Value >= 100 ? "N0" : "N1", inv)} | {reference} | {ratio} |");
        }
    }

    /// <summary>The median of each measure over <see cref="Results"/>.</summary>
    public static List<Measure> Medians() => Results[0].Select((m, i) =>
    {
        static double Median(IEnumerable<double> xs) { var s = xs.Where(x => !double.IsNaN(x)).Order().ToList(); return s.Count == 0 ? double.NaN : s[s.Count / 2]; }
        return m with
        {
            Value = Median(Results.Select(r => r[i].Value)),
            ReferenceValue = m.ReferenceValue is null ? null : Median(Results.Select(r => r[i].ReferenceValue!.Value)),
        };
    }).ToList();

    public static async Task<int> RunAsync(int events, int series)
    {
        // Memory first, in a fresh process heap, so the rest of the run does not inflate it.
        var (rss, perSeries) = LiveSeriesMemory(100_000);
        var root = FindRoot();
        var settings = new LocalClickHouseSettings { RunDir = Path.Combine(root, ".run", "clickhouse") };
        await new LocalClickHouse(settings, TimeProvider.System, Console.Error.WriteLine).StartAsync(CancellationToken.None);
        await using var broker = DevBrokerHost.Start(1, null);
        // Stay under the dev broker's ~5 MiB per partition.
        var partitions = Math.Max(12, events / 12_000);
        broker.Cluster.CreateTopic("bench.calls", partitions);
        broker.Cluster.CreateTopic("bench.raw", partitions);
        var kafka = new KafkaSettings([new("bootstrap.servers", broker.Bootstrap), new("session.timeout.ms", "6000")]);
        var db = "bench_" + Guid.NewGuid().ToString("N")[..8];
        using var clickHouse = new ClickHouseHttp(new ClickHouseOptions { Url = settings.HttpUrl, User = settings.WriterUser, Password = settings.WriterPassword, Database = db });
        await new Migrator(clickHouse, TimeProvider.System).ApplyAsync(Migrator.Embedded, CancellationToken.None);

        var end = TimeProvider.System.GetUtcNow().AddMinutes(-5);
        var calls = Enumerable.Range(0, events).Select(i => Samples.FullCall() with
        {
            EventId = Guid.NewGuid(),
            OccurredAt = end.AddMilliseconds(-(events - i) * 600_000.0 / events),
            PromptName = "p" + (i % series),
            LatencyMs = 50 + (i * 7919 % 3000),
            SampleRate = 1,
        }).ToList();

        Phase("SDK publish");
        var sw = Stopwatch.StartNew();
        using (var producer = new LlmCallProducer(kafka.All, "bench.calls"))
        {
            foreach (var c in calls) producer.Track(c);
            producer.Flush(TimeSpan.FromMinutes(5));
        }
        var publishRate = events / sw.Elapsed.TotalSeconds;
        Phase("librdkafka publish");
        var rawPublishRate = RawProduce(broker.Bootstrap, "bench.raw", calls);
        Phase("raw consume and kcat");

        sw.Restart();
        var raw = RawConsume(kafka, "bench.calls", partitions, events);
        var rawRate = raw / sw.Elapsed.TotalSeconds;

        var kcatRate = await KcatConsumeAsync(broker.Bootstrap, "bench.calls", events);

        var options = new AggregatorOptions
        {
            Topic = "bench.calls", GroupId = "bench", MetricsTopic = "llm.metrics.1m.v1", DeadLetterTopic = "llm.calls.dlq.v1",
            Windowing = new WindowingOptions { IdleTimeout = TimeSpan.FromSeconds(1) },
        };
        using var worker = new AggregatorWorker(kafka, clickHouse, options, TimeProvider.System, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        sw.Restart();
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();
        // Time from the first record, so the consumer group's join is not counted as processing.
        while (worker.RecordsConsumed == 0 && sw.Elapsed < TimeSpan.FromMinutes(1))
        {
            await Task.Delay(5);
        }
        var processing = Stopwatch.StartNew();
        while (worker.EventsWritten < events && !run.IsCompleted && sw.Elapsed < TimeSpan.FromMinutes(10))
        {
            await Task.Delay(20);
        }
        var aggregatorRate = worker.EventsWritten / processing.Elapsed.TotalSeconds;
        while (await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", CancellationToken.None) < events && sw.Elapsed < TimeSpan.FromMinutes(10))
        {
            await Task.Delay(200);
        }
        var allWindowsAt = sw.Elapsed.TotalSeconds;
        await stop.CancelAsync();
        await run;
        var rows = await clickHouse.ScalarAsync("SELECT count() FROM calls FINAL", CancellationToken.None);
        await clickHouse.ExecuteAsync($"DROP DATABASE {db}", CancellationToken.None, useDatabase: false);

        Phase("workers, inserts, freshness, alerts");
        var twoWorkersRate = await Measures.WorkersRateAsync(kafka, settings, "bench.calls", events, workers: 2);
        var oneWorkerRate = await Measures.WorkersRateAsync(kafka, settings, "bench.calls", events, workers: 1);
        var (insertRate, clientInsertRate) = await Measures.InsertRatioAsync(settings, calls);
        var (fresh50, fresh99, freshSamples) = await Measures.FreshnessAsync(broker, kafka, settings, rate: 2000, TimeSpan.FromSeconds(20));
        var alertDelays = await Measures.AlertDelaysAsync(broker, kafka, settings);
        alertDelays.Sort();


        var result = new List<Measure>
        {
            new($"SDK publish (Track + flush, serialization included), events/s ({events} events)", publishRate, "librdkafka producing the same pre-serialized bytes, /s", rawPublishRate),
            new("aggregator, events/s (decode + raw insert + windows)", aggregatorRate, "raw Confluent consume, /s", rawRate),
            new("aggregator vs kcat, events/s", aggregatorRate, "kcat consume, /s", kcatRate),
            new("aggregator, 2 workers in one group, events/s", twoWorkersRate, "1 worker, same topic, /s", oneWorkerRate),
            new("raw-event insert into calls (CallRows + RowBinary), rows/s", insertRate, "clickhouse-client inserting the same rows (TSV, native protocol), /s", clientInsertRate),
            new("event → ClickHouse freshness at 2,000 events/s, p50 ms", fresh50, null, null),
            new("event → ClickHouse freshness at 2,000 events/s, p99 ms", fresh99, null, null),
            new("window emitted → FIRING alert published (release-regression, 5 incidents), median ms", alertDelays.Count == 0 ? double.NaN : alertDelays[alertDelays.Count / 2], null, null),
            new("all windows in metrics_1m after the worker started, s", allWindowsAt, null, null),
            new("rows in calls FINAL", rows, "events produced", events),
            new("100k live series (5 events each): peak working set, MiB", rss / 1024 / 1024, null, null),
            new("100k live series: managed heap per series, bytes", perSeries, null, null),
        };
        Print(result, runs: 1);
        Results.Add(result);
        return rows == events ? 0 : 1;
    }

    /// <summary>librdkafka alone (Confluent producer, same durability and batching settings) sending bytes serialized beforehand.</summary>
    private static double RawProduce(string bootstrap, string topic, List<Pipeline.Schemas.LlmCall> calls)
    {
        var serializer = new Pipeline.Schemas.LlmCallSerializer();
        var messages = calls.Select(c => new Message<byte[], byte[]>
        {
            Key = Pipeline.Schemas.SeriesKey.Of(c).ToKafkaKey(), Value = serializer.Serialize(c), Timestamp = new Timestamp(c.OccurredAt),
        }).ToList();
        using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = bootstrap, Acks = Acks.All, EnableIdempotence = true, LingerMs = 20, CompressionType = CompressionType.Lz4,
        }).Build();
        var sw = Stopwatch.StartNew();
        foreach (var m in messages)
        {
            while (true)
            {
                try
                {
                    producer.Produce(topic, m);
                    break;
                }
                catch (ProduceException<byte[], byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull && sw.Elapsed < TimeSpan.FromMinutes(5))
                {
                    producer.Poll(TimeSpan.FromMilliseconds(10));
                }
            }
        }
        producer.Flush(TimeSpan.FromMinutes(5));
        return messages.Count / sw.Elapsed.TotalSeconds;
    }

    private static long RawConsume(KafkaSettings kafka, string topic, int partitions, int expected)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(kafka.Consumer("raw-" + Guid.NewGuid().ToString("N"))).Build();
        consumer.Assign(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        long n = 0;
        var idle = Stopwatch.StartNew();
        while (n < expected && idle.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { IsPartitionEOF: false, Message: not null })
            {
                n++;
                idle.Restart();
            }
        }
        return n;
    }

    private static async Task<double> KcatConsumeAsync(string bootstrap, string topic, int expected)
    {
        var psi = new ProcessStartInfo("kcat") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o\n", "-c", expected.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            psi.ArgumentList.Add(a);
        }
        try
        {
            var sw = Stopwatch.StartNew();
            using var p = Process.Start(psi)!;
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            long lines = 0;
            try
            {
                while (await p.StandardOutput.ReadLineAsync(deadline.Token) is not null) lines++;
                await p.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                p.Kill();
                Console.Error.WriteLine($"kcat did not finish within 60 s ({lines} records read): reported as n/a");
                return 0;
            }
            return lines / sw.Elapsed.TotalSeconds;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return 0;
        }
    }

    /// <summary>Peak working set of the process, and managed heap bytes per live series (window state of 5 events each).</summary>
    private static (double Bytes, double PerSeries) LiveSeriesMemory(int series)
    {
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var t0 = new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
        var windows = new PartitionWindows(0, new WindowingOptions(), PriceTable.Default, new FakeTimeProvider(t0));
        var random = new Random(3);
        for (var s = 0; s < series; s++)
        {
            for (var e = 0; e < 5; e++)
            {
                windows.Add(Samples.MinimalCall() with { EventId = Guid.NewGuid(), OccurredAt = t0.AddSeconds(e), PromptName = "p" + s, LatencyMs = 50 + random.Next(3000) }, s * 5 + e);
            }
        }
        var after = GC.GetTotalMemory(forceFullCollection: true);
        using var process = Process.GetCurrentProcess();
        var peak = process.PeakWorkingSet64;
        GC.KeepAlive(windows);
        return (peak, (after - before) / (double)series);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("Pipeline.sln not found");
    }
}
