using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Pipeline.ClickHouse;
using Pipeline.Consumers;
using Pipeline.Producers;
using Pipeline.Schemas;

namespace Pipeline.Cli;

/// <summary>The run could not be judged (counts do not reconcile, a worker died): one line saying why, exit code 1.</summary>
internal sealed class EvalFailedException(string message) : Exception(message);

/// <summary>Topics one evaluation uses (fresh per invocation; each seed's consumer groups start at their ends).</summary>
internal sealed record EvalTopics(string Calls, string DeadLetters, string Metrics, string Alerts);

/// <summary>What one seed's run did and how its alerts scored.</summary>
internal sealed record EvalRun(int Seed, DateTimeOffset Start, EvalScore Score, long Sent, long Distinct, long CallsFinal, long PlannedLate,
    long AggregatorLate, long MaxUnconsumedCalls, long MaxUnconsumedWindows, long MaxWindowBytes, long WindowsEvaluated, TimeSpan Elapsed);

/// <summary>
/// Plays an <see cref="EvalSuite"/> through the real pipeline, as <c>pipeline demo</c> does: the SDK producer,
/// the broker, the aggregator and the alert worker (both in this process, with the default rules), ClickHouse.
/// Paces the producer so the broker never holds more than <see cref="MaxUnconsumedBytes"/> unconsumed in any
/// partition (the dev broker keeps about 5 MiB a partition and drops older records), reconciles
/// <c>calls FINAL</c> with the events produced, and scores the FIRING alerts read back from ClickHouse.
/// </summary>
internal sealed class EvalRunner(KafkaSettings kafka, ClickHouseOptions clickHouse, EvalTopics topics, TextWriter progress)
{
    /// <summary>Most bytes ever unconsumed in one partition of the calls or the window topic.</summary>
    public const long MaxUnconsumedBytes = 2 * 1024 * 1024;
    /// <summary>Windows in flight between the aggregator and the alert worker at most (checked against the largest window record after the run).</summary>
    private const long WindowBound = 200;

    /// <summary>Keep the run's database (for looking at it afterwards) instead of dropping it.</summary>
    public bool KeepDatabase { get; init; }

    /// <summary>Aggregator settings the run starts from (the user's), before the eval's own.</summary>
    public AggregatorOptions AggregatorBase { get; init; } = new();

    public async Task<EvalRun> RunAsync(EvalSuite suite, int seed, DateTimeOffset end, string runId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(suite);
        var time = TimeProvider.System;
        var started = time.GetTimestamp();
        var options = clickHouse.WithDatabase(string.Create(CultureInfo.InvariantCulture, $"{clickHouse.Database}_eval_{runId}_s{seed}"));
        // calls FINAL over millions of rows takes ClickHouse 18.16 longer than the 30 s default on two busy cores.
        if (options.RequestTimeout < TimeSpan.FromMinutes(10)) options.RequestTimeout = TimeSpan.FromMinutes(10);
        using var ch = new ClickHouseHttp(options);
        await ch.ExecuteAsync($"DROP DATABASE IF EXISTS {ClickHouseHttp.QuoteIdentifier(options.Database)}", ct, useDatabase: false);
        try
        {
            await new Migrator(ch, time).ApplyAsync(Migrator.Embedded, ct);
            return await PlayAsync(suite, seed, end, runId, ch, started, ct);
        }
        catch (OperationCanceledException ex) when (!ct.IsCancellationRequested)
        {
            throw new EvalFailedException($"a request timed out ({ex.Message}); ClickHouse:RequestTimeout is {Durations.Format(options.RequestTimeout)}");
        }
        finally
        {
            if (!KeepDatabase)
            {
                await ch.ExecuteAsync($"DROP DATABASE IF EXISTS {ClickHouseHttp.QuoteIdentifier(options.Database)}", CancellationToken.None, useDatabase: false);
            }
        }
    }

    private async Task<EvalRun> PlayAsync(EvalSuite suite, int seed, DateTimeOffset end, string runId, ClickHouseHttp ch, long started, CancellationToken ct)
    {
        var time = TimeProvider.System;
        var scenario = suite.BuildScenario();
        var start = end.AddMinutes(-scenario.Minutes);
        var aggregator = Configure(AggregatorBase, scenario.Minutes, $"eval-aggregator-{runId}-{seed}");
        // Defaults only (the suite judges the rules in force); a short idle timeout so the last series resolve when play ends.
        var alerting = new AlertWorkerOptions
        {
            MetricsTopic = topics.Metrics, AlertsTopic = topics.Alerts, GroupId = $"eval-alerter-{runId}-{seed}", RulesFile = "",
            PartitionIdleTimeout = TimeSpan.FromSeconds(5),
            // Simulated time: when play ends every series stops, and the wall clock must not call that a silence.
            WallClockLag = TimeSpan.Zero,
        };
        StartAtEnd(kafka, aggregator.GroupId, topics.Calls);
        StartAtEnd(kafka, alerting.GroupId, topics.Metrics);

        using var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Error).AddSimpleConsole(o => o.SingleLine = true));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var aggregatorWorker = new AggregatorWorker(kafka, ch, aggregator, time, loggers.CreateLogger("aggregate"));
        using var alertWorker = new AlertWorker(kafka, ch, alerting, time, loggers.CreateLogger("alert"));
        var runs = new[]
        {
            Task.Factory.StartNew(() => aggregatorWorker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap(),
            Task.Factory.StartNew(() => alertWorker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap(),
        };
        long sent = 0, plannedLate = 0, maxCalls = 0, maxWindows = 0, maxCallBytes = 0;
        var ids = new HashSet<Guid>();
        try
        {
            await using (var producer = new LlmCallProducer(kafka.All, topics.Calls))
            {
                var serializer = new LlmCallSerializer();
                long callBound = 0;
                var newest = DateTimeOffset.MinValue;
                var lastReport = time.GetTimestamp();
                foreach (var call in scenario.Generate(end, seed))
                {
                    if (ids.Add(call.EventId) && newest - call.OccurredAt >= TimeSpan.FromMinutes(1)) plannedLate++;
                    if (call.OccurredAt > newest) newest = call.OccurredAt;
                    if (sent < 2000)
                    {
                        // The bound on calls in flight comes from the largest record seen (framed Avro, key and record overhead, x1.25).
                        maxCallBytes = Math.Max(maxCallBytes, serializer.Serialize(call).Length + 200);
                        callBound = (long)(MaxUnconsumedBytes / (maxCallBytes * 1.25));
                    }
                    producer.Track(call);
                    sent++;
                    if ((sent & 63) != 0) continue;
                    // Everything not yet consumed counts against one partition's budget, so no partition can exceed it.
                    while (true)
                    {
                        var calls = sent - aggregatorWorker.RecordsConsumed;
                        // Consumed but not yet written: windows close when their calls are written, so this bounds the
                        // bursts of windows the alert worker receives at once.
                        var unwritten = sent - aggregatorWorker.EventsWritten - aggregatorWorker.DeadLettered;
                        var windows = aggregatorWorker.WindowsWritten - alertWorker.WindowsEvaluated;
                        maxCalls = Math.Max(maxCalls, calls);
                        maxWindows = Math.Max(maxWindows, windows);
                        if (calls <= callBound && unwritten <= 2 * callBound && windows <= WindowBound) break;
                        if (runs.FirstOrDefault(r => r.IsCompleted) is { } died) throw new EvalFailedException($"a worker stopped while the load generator ran: {died.Exception?.GetBaseException().Message ?? "no error"}");
                        await Task.Delay(2, ct);
                    }
                    if (time.GetElapsedTime(lastReport) >= TimeSpan.FromSeconds(10))
                    {
                        lastReport = time.GetTimestamp();
                        var seconds = time.GetElapsedTime(started).TotalSeconds;
                        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"eval seed {seed}: {sent:N0} calls ({sent / seconds:N0}/s), event time {newest:MM-dd HH:mm} of {end:MM-dd HH:mm}, unconsumed at most {maxCalls:N0} calls / {maxWindows:N0} windows, {alertWorker.WindowsEvaluated:N0} windows evaluated"));
                    }
                }
                if (await producer.FlushAsync(TimeSpan.FromMinutes(2), ct) > 0 || producer.Delivered < sent)
                {
                    throw new EvalFailedException($"the broker acknowledged {producer.Delivered} of {sent} calls");
                }
            }
            // Wait for every call in a closed window and every window evaluated; the idle timeout closes the last minutes.
            var deadline = time.GetUtcNow().AddMinutes(5);
            while (true)
            {
                var counted = (long)await ch.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct);
                if (counted >= ids.Count && aggregatorWorker.WindowsWritten > 0 && alertWorker.WindowsEvaluated >= aggregatorWorker.WindowsWritten) break;
                if (runs.FirstOrDefault(r => r.IsCompleted) is { } died) throw new EvalFailedException($"a worker stopped: {died.Exception?.GetBaseException().Message ?? "no error"}");
                if (time.GetUtcNow() > deadline)
                {
                    throw new EvalFailedException($"after 5 minutes metrics_1m FINAL counts {counted} calls of {ids.Count} produced; the alert worker evaluated {alertWorker.WindowsEvaluated} of {aggregatorWorker.WindowsWritten} windows ({alertWorker.Stage})");
                }
                await Task.Delay(500, ct);
            }
            // Let idle partitions release event time, so series that went quiet can resolve.
            await Task.Delay(alerting.PartitionIdleTimeout + TimeSpan.FromSeconds(1), ct);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(runs.Select(r => r.ContinueWith(_ => { }, TaskScheduler.Default)));
        }
        foreach (var r in runs.Where(r => r.IsFaulted)) throw new EvalFailedException($"a worker failed: {r.Exception!.GetBaseException().Message}");

        var callsFinal = (long)await ch.ScalarAsync("SELECT count() FROM calls FINAL", ct);
        if (callsFinal != ids.Count)
        {
            throw new EvalFailedException($"calls FINAL holds {callsFinal} rows but {ids.Count} distinct calls were produced ({sent} sent with duplicates): the run cannot be judged");
        }
        var maxWindowBytes = (long)await ch.ScalarAsync("SELECT max(length(latency_sketch) + length(ttft_sketch)) + 1024 FROM metrics_1m", ct);
        if (maxWindows * maxWindowBytes > MaxUnconsumedBytes)
        {
            throw new EvalFailedException($"up to {maxWindows} windows of up to {maxWindowBytes} bytes were unconsumed: more than {MaxUnconsumedBytes} bytes");
        }
        // A partition that looked idle mid-run would let its watermark follow the clock and make the rest of its
        // events late: far more late events than the generator sent late and twice is the sign.
        // This worker's own count: a listener on the metric's name would also count other aggregators in the process.
        var aggregatorLate = aggregatorWorker.LateEventsCounted;
        var lateBudget = 3 * (plannedLate + (sent - ids.Count)) + 100;
        if (aggregatorLate > lateBudget)
        {
            throw new EvalFailedException($"the aggregator counted {aggregatorLate} late events, the generator sent {plannedLate} late and {sent - ids.Count} duplicates: a watermark jumped (raise Aggregator:Windowing:IdleTimeout)");
        }
        var rows = await ch.QueryAsync("SELECT rule_id, prompt_name, prompt_version, toUnixTimestamp(window_end) AS t, metric FROM alerts FINAL WHERE state = 'FIRING' ORDER BY window_end", ct);
        var firing = rows.Select(r => new EvalAlert(r.GetProperty("rule_id").GetString()!, r.GetProperty("prompt_name").GetString()!, r.GetProperty("prompt_version").GetString()!,
            DateTimeOffset.FromUnixTimeSeconds(long.Parse(r.GetProperty("t").ToString(), CultureInfo.InvariantCulture)), r.GetProperty("metric").GetString()!)).ToList();
        var score = suite.Score(start, firing);
        return new EvalRun(seed, start, score, sent, ids.Count, callsFinal, plannedLate, aggregatorLate, maxCalls, maxWindows, maxWindowBytes,
            alertWorker.WindowsEvaluated, time.GetElapsedTime(started));
    }

    /// <summary>
    /// The aggregator settings of an eval run, from the user's: its own topics and group, event ages up to the
    /// scenario's span plus a day (the end is aligned up to a day before now), a 30 s idle timeout.
    /// </summary>
    internal AggregatorOptions Configure(AggregatorOptions user, int minutes, string group)
    {
        var span = TimeSpan.FromMinutes(minutes) + TimeSpan.FromDays(2);
        return new AggregatorOptions
        {
            Topic = topics.Calls, DeadLetterTopic = topics.DeadLetters, MetricsTopic = topics.Metrics, GroupId = group,
            MaxBatchRows = user.MaxBatchRows, FlushInterval = TimeSpan.FromMilliseconds(500),
            MaxEventAge = user.MaxEventAge > span ? user.MaxEventAge : span,
            MaxClockSkew = user.MaxClockSkew, BlockedRetryInterval = user.BlockedRetryInterval, MissingTopic = MissingTopicPolicy.Fail,
            Windowing = new()
            {
                WindowSize = TimeSpan.FromMinutes(1), AllowedLateness = user.Windowing.AllowedLateness, LateRetention = user.Windowing.LateRetention,
                // Event time runs days ahead of the clock's pace: a partition that looks idle for this long lets its
                // watermark jump to the clock. The producer feeds every partition continuously, so only the end of play
                // is idle; 30 s closes the last windows soon after it, with a margin for the stalls a loaded
                // machine gives a partition mid-run. The run fails if a jump happened mid-run.
                IdleTimeout = TimeSpan.FromSeconds(30),
            },
            Anomalies = user.Anomalies,
            Prices = user.Prices, PricesFile = user.PricesFile,
        };
    }

    /// <summary>Commits a new consumer group at the topic's end, so it reads only what is produced after this.</summary>
    public static void StartAtEnd(KafkaSettings kafka, string group, string topic)
    {
        ArgumentNullException.ThrowIfNull(kafka);
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(kafka.Consumer(group)).SetLogHandler((_, _) => { }).Build();
        using var admin = new AdminClientBuilder(new AdminClientConfig(kafka.All.ToDictionary())).SetLogHandler((_, _) => { }).Build();
        var metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(10));
        var offsets = metadata.Topics.Single().Partitions
            .Select(p => new TopicPartitionOffset(topic, p.PartitionId, consumer.QueryWatermarkOffsets(new TopicPartition(topic, p.PartitionId), TimeSpan.FromSeconds(10)).High))
            .ToList();
        consumer.Commit(offsets);
    }
}
