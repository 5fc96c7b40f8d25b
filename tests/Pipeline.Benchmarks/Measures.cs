using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Aggregation;
using Pipeline.ClickHouse;
using Pipeline.Consumers;
using Pipeline.DevServers;
using Pipeline.LoadGen;
using Pipeline.Producers;
using Pipeline.Schemas;

namespace Pipeline.Benchmarks;

/// <summary>The end-to-end measures beyond raw throughput: insert path vs clickhouse-client, freshness, alert delay, scaling.</summary>
internal static class Measures
{
    /// <summary>Our RowBinary insert of the rows against clickhouse-client inserting the same rows (TSV over the native protocol).</summary>
    public static async Task<(double Ours, double Client)> InsertRatioAsync(LocalClickHouseSettings settings, List<LlmCall> calls)
    {
        var ct = CancellationToken.None;
        var ours = await NewDatabaseAsync(settings, "bench_ins_");
        var now = TimeProvider.System.GetUtcNow();
        var rows = calls.Select((c, i) => new CallRow(c, 0, i, now)).ToList();
        var sw = Stopwatch.StartNew();
        // As the aggregator writes them: RowBinary straight from the events, encoding included in the time.
        foreach (var chunk in rows.Chunk(50_000))
        {
            var body = new System.Buffers.ArrayBufferWriter<byte>(chunk.Length * 320);
            foreach (var row in chunk) CallRows.Write(body, row);
            await ours.InsertRowBinaryAsync("calls", CallRows.ColumnNames, body.WrittenMemory, chunk.Length, ct);
        }
        var oursRate = rows.Count / sw.Elapsed.TotalSeconds;

        // The same rows, exported by ClickHouse itself, inserted by clickhouse-client into an identical table.
        var file = Path.GetTempFileName();
        await ClientAsync(settings, ours.Options.Database, "SELECT * FROM calls FORMAT TabSeparated", null, file);
        var reference = await NewDatabaseAsync(settings, "bench_cli_");
        sw.Restart();
        await ClientAsync(settings, reference.Options.Database, "INSERT INTO calls FORMAT TabSeparated", file, null);
        var clientRate = rows.Count / sw.Elapsed.TotalSeconds;
        var copied = await reference.ScalarAsync("SELECT count() FROM calls", ct);
        if (copied != rows.Count) throw new InvalidOperationException($"clickhouse-client inserted {copied} of {rows.Count} rows");
        File.Delete(file);
        await ours.ExecuteAsync($"DROP DATABASE {ours.Options.Database}", ct, useDatabase: false);
        await reference.ExecuteAsync($"DROP DATABASE {reference.Options.Database}", ct, useDatabase: false);
        return (oursRate, clientRate);
    }

    /// <summary>
    /// Events tracked at a steady rate with event time = now; every 50 ms the age of the newest event visible
    /// in <c>calls</c> is sampled. Returns p50 and p99 of that age in ms: what a dashboard sees as freshness.
    /// </summary>
    public static async Task<(double P50, double P99, int Samples)> FreshnessAsync(DevBrokerHost broker, KafkaSettings kafka, LocalClickHouseSettings settings, int rate, TimeSpan duration)
    {
        var ct = CancellationToken.None;
        broker.Cluster.CreateTopic("bench.fresh", 4);
        var clickHouse = await NewDatabaseAsync(settings, "bench_fresh_");
        var options = new AggregatorOptions
        {
            Topic = "bench.fresh", GroupId = "fresh", MetricsTopic = "llm.metrics.1m.v1", DeadLetterTopic = "llm.calls.dlq.v1",
            FlushInterval = TimeSpan.FromMilliseconds(250),
        };
        using var worker = new AggregatorWorker(kafka, clickHouse, options, TimeProvider.System, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();
        var samples = new List<double>();
        await using (var producer = new LlmCallProducer(new ProducerOptions { BootstrapServers = broker.Bootstrap, Topic = "bench.fresh", Kafka = new() { ["linger.ms"] = "5" } }))
        {
            var sampler = Task.Run(async () =>
            {
                var sw = Stopwatch.StartNew();
                while (sw.Elapsed < duration + TimeSpan.FromSeconds(2))
                {
                    var newest = await clickHouse.ScalarAsync("SELECT max(occurred_at_ms) FROM calls", ct);
                    if (newest > 0 && sw.Elapsed > TimeSpan.FromSeconds(3)) samples.Add(TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds() - newest);
                    await Task.Delay(50);
                }
            });
            var start = Stopwatch.StartNew();
            long n = 0;
            while (start.Elapsed < duration)
            {
                var now = DateTimeOffset.FromUnixTimeMilliseconds(TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds());
                producer.Track(Pipeline.Tests.Samples.MinimalCall() with { EventId = Guid.NewGuid(), OccurredAt = now, PromptName = "p" + (n % 50) });
                n++;
                var ahead = TimeSpan.FromSeconds(n / (double)rate) - start.Elapsed;
                if (ahead > TimeSpan.FromMilliseconds(2)) await Task.Delay(ahead);
            }
            await sampler;
        }
        await stop.CancelAsync();
        await run;
        await clickHouse.ExecuteAsync($"DROP DATABASE {clickHouse.Options.Database}", ct, useDatabase: false);
        samples.Sort();
        return samples.Count == 0 ? (double.NaN, double.NaN, 0) : (samples[samples.Count / 2], samples[(int)(samples.Count * 0.99)], samples.Count);
    }

    /// <summary>
    /// The release-regression scenario through the aggregator and the alert worker; for every alert, the time
    /// between the Kafka timestamps of the window record that completed it and of the alert record (ms).
    /// </summary>
    public static async Task<List<double>> AlertDelaysAsync(DevBrokerHost broker, KafkaSettings kafka, LocalClickHouseSettings settings)
    {
        var ct = CancellationToken.None;
        var suffix = Guid.NewGuid().ToString("N")[..6];
        var (calls, metrics, alerts) = ($"bench.a.calls.{suffix}", $"bench.a.metrics.{suffix}", $"bench.a.alerts.{suffix}");
        broker.Cluster.CreateTopic(calls, 4);
        broker.Cluster.CreateTopic(metrics, 1);
        broker.Cluster.CreateTopic(alerts, 1);
        var clickHouse = await NewDatabaseAsync(settings, "bench_alert_");
        await using (var producer = new LlmCallProducer(kafka.All, calls))
        {
            // Five independent incidents: the scenario in five environments (distinct series).
            for (var i = 0; i < 5; i++)
            {
                foreach (var c in Scenario.All["release-regression"].Generate(TimeProvider.System.GetUtcNow().AddMinutes(-2), seed: i)) producer.Track(c with { Environment = $"env{i}" });
            }
            await producer.FlushAsync(TimeSpan.FromMinutes(2));
        }
        using var aggregator = new AggregatorWorker(kafka, clickHouse, new AggregatorOptions
        {
            Topic = calls, GroupId = "agg-" + suffix, MetricsTopic = metrics, DeadLetterTopic = "llm.calls.dlq.v1",
            FlushInterval = TimeSpan.FromMilliseconds(250), Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1) },
        }, TimeProvider.System, NullLogger.Instance);
        using var alerter = new AlertWorker(kafka, clickHouse, new AlertWorkerOptions
        {
            MetricsTopic = metrics, AlertsTopic = alerts, GroupId = "alert-" + suffix, PartitionIdleTimeout = TimeSpan.FromSeconds(1),
        }, TimeProvider.System, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var runs = new[]
        {
            Task.Factory.StartNew(() => aggregator.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap(),
            Task.Factory.StartNew(() => alerter.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap(),
        };
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromMinutes(3) && await clickHouse.ScalarAsync("SELECT countIf(state = 'RESOLVED') FROM alerts", ct) < 1)
        {
            await Task.Delay(200);
        }
        await stop.CancelAsync();
        await Task.WhenAll(runs);

        var windowAt = new Dictionary<(string Series, DateTimeOffset End), long>();
        var windowSerializer = new WindowAggregateSerializer();
        foreach (var (value, _, emitted) in ReadAll(kafka, metrics))
        {
            var w = windowSerializer.Deserialize(value);
            // The first record of a window is the one an alert can react to (revisions come later).
            if (emitted is { } at) windowAt.TryAdd((w.Series.ToString(), w.WindowEnd), at);
        }
        var delays = new List<double>();
        var alertSerializer = new AlertSerializer();
        foreach (var (value, ts, _) in ReadAll(kafka, alerts))
        {
            var a = alertSerializer.Deserialize(value);
            if (a.State == AlertState.Firing && windowAt.TryGetValue((a.Series.ToString(), a.WindowEnd), out var windowTs)) delays.Add(ts - windowTs);
        }
        await clickHouse.ExecuteAsync($"DROP DATABASE {clickHouse.Options.Database}", ct, useDatabase: false);
        return delays;
    }

    /// <summary>Aggregator throughput on an existing topic with <paramref name="workers"/> workers in one group (events/s from the first record).</summary>
    public static async Task<double> WorkersRateAsync(KafkaSettings kafka, LocalClickHouseSettings settings, string topic, int events, int workers)
    {
        var ct = CancellationToken.None;
        var clickHouse = await NewDatabaseAsync(settings, $"bench_w{workers}_");
        var group = $"scale-{workers}-{Guid.NewGuid():N}";
        var options = new AggregatorOptions
        {
            Topic = topic, GroupId = group, MetricsTopic = "llm.metrics.1m.v1", DeadLetterTopic = "llm.calls.dlq.v1",
            Windowing = new WindowingOptions { IdleTimeout = TimeSpan.FromSeconds(1) },
        };
        var instances = Enumerable.Range(0, workers).Select(_ => new AggregatorWorker(kafka, clickHouse, options, TimeProvider.System, NullLogger.Instance)).ToList();
        using var stop = new CancellationTokenSource();
        var runs = instances.Select(w => Task.Factory.StartNew(() => w.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap()).ToList();
        var sw = Stopwatch.StartNew();
        while (instances.Sum(w => w.RecordsConsumed) == 0 && sw.Elapsed < TimeSpan.FromMinutes(1)) await Task.Delay(5);
        var processing = Stopwatch.StartNew();
        while (instances.Sum(w => w.EventsWritten) < events && sw.Elapsed < TimeSpan.FromMinutes(10)) await Task.Delay(20);
        var rate = instances.Sum(w => w.EventsWritten) / processing.Elapsed.TotalSeconds;
        await stop.CancelAsync();
        await Task.WhenAll(runs);
        instances.ForEach(w => w.Dispose());
        await clickHouse.ExecuteAsync($"DROP DATABASE {clickHouse.Options.Database}", ct, useDatabase: false);
        return rate;
    }

    private static List<(byte[] Value, long TimestampMs, long? EmittedAtMs)> ReadAll(KafkaSettings kafka, string topic)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(kafka.Consumer("read-" + Guid.NewGuid().ToString("N"))).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var result = new List<(byte[], long, long?)>();
        var idle = Stopwatch.StartNew();
        while (idle.Elapsed < TimeSpan.FromSeconds(3))
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { IsPartitionEOF: false, Message.Value: { } value } r)
            {
                long? emitted = r.Message.Headers?.TryGetLastBytes(AggregatorWorker.EmittedAtHeader, out var h) == true
                    ? long.Parse(System.Text.Encoding.UTF8.GetString(h), CultureInfo.InvariantCulture) : null;
                result.Add((value, r.Message.Timestamp.UnixTimestampMs, emitted));
                idle.Restart();
            }
        }
        return result;
    }

    private static async Task<ClickHouseHttp> NewDatabaseAsync(LocalClickHouseSettings settings, string prefix)
    {
        var client = new ClickHouseHttp(new ClickHouseOptions
        {
            Url = settings.HttpUrl, User = settings.WriterUser, Password = settings.WriterPassword, Database = prefix + Guid.NewGuid().ToString("N")[..8],
        });
        await new Migrator(client, TimeProvider.System).ApplyAsync(Migrator.Embedded, CancellationToken.None);
        return client;
    }

    private static async Task ClientAsync(LocalClickHouseSettings settings, string database, string query, string? input, string? output)
    {
        var psi = new ProcessStartInfo("clickhouse-client")
        {
            RedirectStandardInput = input is not null, RedirectStandardOutput = output is not null, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { "--host", "127.0.0.1", "--port", settings.TcpPort.ToString(CultureInfo.InvariantCulture), "--user", settings.WriterUser,
            "--password", settings.WriterPassword, "--database", database, "--query", query })
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var copyIn = input is null ? Task.CompletedTask : Task.Run(async () =>
        {
            await using (var source = File.OpenRead(input)) await source.CopyToAsync(p.StandardInput.BaseStream);
            p.StandardInput.Close();
        });
        var copyOut = output is null ? Task.CompletedTask : Task.Run(async () =>
        {
            await using var target = File.Create(output);
            await p.StandardOutput.BaseStream.CopyToAsync(target);
        });
        var error = p.StandardError.ReadToEndAsync();
        await Task.WhenAll(copyIn, copyOut);
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) throw new InvalidOperationException($"clickhouse-client failed: {await error}");
    }
}
