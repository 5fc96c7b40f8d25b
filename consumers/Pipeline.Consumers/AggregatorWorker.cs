using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Pipeline.Aggregation;
using Pipeline.ClickHouse;
using Pipeline.Schemas;
using Polly;

namespace Pipeline.Consumers;

/// <summary>
/// The aggregator: reads <c>llm.calls.v1</c>; writes every event to ClickHouse <c>calls</c>; folds it into
/// its series' event-time window; writes closed windows to <c>metrics_1m</c> and <c>llm.metrics.1m.v1</c>
/// and their anomaly scores to <c>anomalies</c>; sends bad records to the DLQ with the reason.
/// Exactly once in effect: offsets are committed only after everything before them is durably written,
/// and never past the oldest event an unwritten window still holds; after a restart or rebalance the
/// stored windows (with their offset ranges and event ids) are reloaded, so a replay neither loses nor
/// double counts an event.
/// </summary>
public sealed partial class AggregatorWorker : IDisposable
{
    /// <summary>Header on window records: when the worker emitted the record (unix ms, wall clock).</summary>
    public const string EmittedAtHeader = "pipeline.emitted_at_ms";

    /// <summary>DLQ header: the failure class (TooShort, BadMagicByte, UnknownSchemaId, MalformedAvro, InvalidField).</summary>
    public const string FailureHeader = "pipeline.dlq.failure";
    /// <summary>DLQ header: a one-line human-readable reason.</summary>
    public const string ReasonHeader = "pipeline.dlq.reason";
    /// <summary>DLQ header: <c>topic/partition/offset</c> of the original record.</summary>
    public const string SourceHeader = "pipeline.dlq.source";

    private static readonly Meter Meter = new("Pipeline.Aggregator");
    private static readonly Counter<long> EventsIn = Meter.CreateCounter<long>("pipeline.aggregator.events", "{event}", "Events decoded and written");
    private static readonly Counter<long> DeadLetters = Meter.CreateCounter<long>("pipeline.aggregator.dead_letters", "{event}", "Records sent to the DLQ");
    private static readonly Counter<long> WindowsOut = Meter.CreateCounter<long>("pipeline.aggregator.windows", "{window}", "Window revisions written");
    private static readonly Counter<long> LateEvents = Meter.CreateCounter<long>("pipeline.aggregator.late_events", "{event}", "Events that reopened a closed window");
    private static readonly Histogram<double> FlushSeconds = Meter.CreateHistogram<double>("pipeline.aggregator.flush.duration", "s", "Time to write one batch");
    private static readonly Histogram<long> BatchRows = Meter.CreateHistogram<long>("pipeline.aggregator.batch.size", "{event}", "Rows per insert into calls");

    // Read by the observable gauges below; written by the consume thread once per flush.
    private static long s_lag;
    private static double s_watermarkDelaySeconds;
    private static readonly ObservableGauge<long> LagGauge = Meter.CreateObservableGauge("pipeline.aggregator.consumer.lag", () => Interlocked.Read(ref s_lag), "{record}", "Records behind the end of the assigned partitions");
    private static readonly ObservableGauge<double> WatermarkGauge = Meter.CreateObservableGauge("pipeline.aggregator.watermark.delay", () => Volatile.Read(ref s_watermarkDelaySeconds), "s", "How far the slowest partition's watermark trails the clock");

    private readonly KafkaSettings _kafka;
    private readonly ClickHouseHttp _clickHouse;
    private readonly AggregatorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly PriceTable _prices;
    private readonly LlmCallSerializer _serializer = new();
    private readonly WindowAggregateSerializer _aggregateSerializer = new();
    private readonly AnomalyScorer _scorer;
    private readonly ResiliencePipeline _retry;
    private readonly List<object?[]> _rows = [];
    private readonly Dictionary<int, PartitionWindows> _windows = [];
    private readonly Dictionary<int, long> _nextOffsets = [];
    private readonly Dictionary<int, long> _assignedFrom = [];
    private readonly Dictionary<int, long> _committed = [];
    private IProducer<byte[]?, byte[]?>? _producer;
    private long _batchStartedTicks;
    private bool _batchOpen;

    /// <summary>Creates a worker; <see cref="RunAsync"/> starts it.</summary>
    public AggregatorWorker(KafkaSettings kafka, ClickHouseHttp clickHouse, AggregatorOptions options, TimeProvider time, ILogger log, PriceTable? prices = null)
    {
        _kafka = kafka;
        _clickHouse = clickHouse;
        _options = options;
        _time = time;
        _log = log;
        _prices = prices ?? PriceTable.Default;
        _scorer = new AnomalyScorer(options.Anomalies);
        _retry = ClickHouseResilience.Create(time, log);
    }

    /// <summary>Records taken from Kafka so far (read by benchmarks from another thread).</summary>
    public long RecordsConsumed => Interlocked.Read(ref _recordsConsumed);

    private long _recordsConsumed;

    /// <summary>Events written to <c>calls</c> so far (duplicates included).</summary>
    public long EventsWritten { get; private set; }
    /// <summary>Records sent to the DLQ so far.</summary>
    public long DeadLettered { get; private set; }
    /// <summary>Window revisions written so far.</summary>
    public long WindowsWritten { get; private set; }

    /// <summary>Consumes until cancelled, then writes what it holds and commits.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _producer = new ProducerBuilder<byte[]?, byte[]?>(_kafka.Producer()).Build();
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(_kafka.Consumer(_options.GroupId))
            .SetPartitionsAssignedHandler((c, assigned) =>
            {
                foreach (var tp in assigned)
                {
                    LoadPartitionAsync(c, tp, CancellationToken.None).GetAwaiter().GetResult();
                }
            })
            .SetPartitionsRevokedHandler((c, revoked) =>
            {
                // Write what is closed and commit what is safe; the next owner replays the rest.
                FlushAsync(c, CancellationToken.None).GetAwaiter().GetResult();
                foreach (var tp in revoked)
                {
                    Forget(tp.Partition.Value);
                }
            })
            .SetPartitionsLostHandler((_, lost) =>
            {
                foreach (var tp in lost)
                {
                    Forget(tp.Partition.Value);
                }
            })
            .SetErrorHandler((_, e) => LogKafkaError(_log, e.Code.ToString(), e.Reason))
            .Build();
        consumer.Subscribe(_options.Topic);
        LogStarted(_log, _options.Topic, _options.GroupId);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var result = consumer.Consume(TimeSpan.FromMilliseconds(100));
                if (result is { IsPartitionEOF: false, Message: not null })
                {
                    await HandleAsync(result, cancellationToken);
                }
                if (_rows.Count >= _options.MaxBatchRows || _time.GetElapsedTime(_batchStartedTicks) >= _options.FlushInterval)
                {
                    await FlushAsync(consumer, cancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping mid-write: what was not written is retried once more below, then replayed on restart.
        }
        finally
        {
            await FlushAsync(consumer, CancellationToken.None);
            consumer.Close();
            _producer.Flush(TimeSpan.FromSeconds(10));
            _producer.Dispose();
            _producer = null;
        }
    }

    private async Task HandleAsync(ConsumeResult<byte[]?, byte[]?> result, CancellationToken cancellationToken)
    {
        if (!_batchOpen)
        {
            _batchStartedTicks = _time.GetTimestamp();
            _batchOpen = true;
        }
        var partition = result.Partition.Value;
        var offset = result.Offset.Value;
        _nextOffsets[partition] = offset + 1;
        Interlocked.Increment(ref _recordsConsumed);
        LlmCall call;
        try
        {
            call = _serializer.Deserialize(result.Message.Value ?? []);
        }
        catch (EventDecodeException ex)
        {
            DeadLetter(result, ex.Failure, ex.Message);
            return;
        }
        var now = _time.GetUtcNow();
        if (LlmCallValidator.Validate(call, now, _options.MaxEventAge, _options.MaxClockSkew) is { } reason)
        {
            DeadLetter(result, DecodeFailure.InvalidField, reason);
            return;
        }
        _rows.Add(CallRows.ToRow(call, partition, offset, now));
        EventsIn.Add(1);
        var windows = WindowsOf(partition);
        if (windows.NeedsStoredState(call))
        {
            // A very late event for a window no longer in memory: continue from its stored revision.
            var key = new WindowKey(SeriesKey.Of(call), PartitionWindows.WindowStartOf(call.OccurredAt, _options.Windowing.WindowSize));
            foreach (var stored in await LoadStoredAsync(partition, WindowFilter(key), cancellationToken))
            {
                windows.Seed(stored);
            }
        }
        if (windows.Add(call, offset) == AddOutcome.Late)
        {
            LateEvents.Add(1);
        }
    }

    /// <summary>
    /// Whether this worker has read everything the broker last reported for the partition (librdkafka's cached
    /// high watermark, no request). Unknown counts as caught up only for an empty partition.
    /// </summary>
    private bool CaughtUp(IConsumer<byte[]?, byte[]?> consumer, int partition)
    {
        var marks = consumer.GetWatermarkOffsets(new TopicPartition(_options.Topic, partition));
        if (marks.High.IsSpecial) return false;
        var next = _nextOffsets.TryGetValue(partition, out var n) ? n : _assignedFrom.GetValueOrDefault(partition, marks.Low.IsSpecial ? 0 : marks.Low.Value);
        return next >= marks.High.Value;
    }

    private PartitionWindows WindowsOf(int partition)
    {
        if (!_windows.TryGetValue(partition, out var w))
        {
            w = new PartitionWindows(partition, _options.Windowing, _prices, _time);
            _windows[partition] = w;
        }
        return w;
    }

    private void Forget(int partition)
    {
        _windows.Remove(partition);
        _nextOffsets.Remove(partition);
        _committed.Remove(partition);
    }

    /// <summary>
    /// On assignment: reload the windows a replay from the committed offset can touch (with the event
    /// ids they already count), and the recent history anomaly baselines need.
    /// </summary>
    private async Task LoadPartitionAsync(IConsumer<byte[]?, byte[]?> consumer, TopicPartition tp, CancellationToken cancellationToken)
    {
        var partition = tp.Partition.Value;
        Forget(partition);
        var windows = WindowsOf(partition);
        var committed = consumer.Committed([tp], TimeSpan.FromSeconds(10)).FirstOrDefault()?.Offset ?? Offset.Unset;
        var from = committed.IsSpecial ? 0 : committed.Value;
        _assignedFrom[partition] = from;
        var oldest = (_time.GetUtcNow() - _options.MaxEventAge).ToUnixTimeSeconds();
        var stored = await LoadStoredAsync(partition, $"max_offset >= {from} AND window_start >= {oldest}", cancellationToken);
        foreach (var w in stored)
        {
            windows.Seed(w);
        }
        var latest = await _retry.ExecuteAsync(async ct => await _clickHouse.ScalarAsync(
            $"SELECT toUInt32(max(window_start)) FROM metrics_1m WHERE kafka_partition = {partition} AND window_seconds = {(int)_options.Windowing.WindowSize.TotalSeconds}", ct),
            cancellationToken);
        if (latest > 0)
        {
            windows.RestoreWatermark(DateTimeOffset.FromUnixTimeSeconds((long)latest) + _options.Windowing.WindowSize);
        }
        var since = _time.GetUtcNow() - _options.Windowing.WindowSize * _options.Anomalies.BaselineWindows;
        var history = await _retry.ExecuteAsync(async ct => await _clickHouse.QueryAsync(
            $"SELECT * FROM metrics_1m FINAL WHERE kafka_partition = {partition} AND window_start >= {since.ToUnixTimeSeconds()} ORDER BY window_start",
            ct), cancellationToken);
        foreach (var row in history)
        {
            _scorer.Remember(MetricsRows.FromJson(row));
        }
        LogAssigned(_log, partition, from, stored.Count, history.Count);
    }

    private static string WindowFilter(WindowKey key) =>
        ClickHouseResilience.SeriesFilter(key.Series) + $" AND window_start = {key.WindowStart.ToUnixTimeSeconds()}";

    /// <summary>Stored windows of a partition matching <paramref name="filter"/>, each seeded with the event ids it counts.</summary>
    private async Task<List<WindowState>> LoadStoredAsync(int partition, string filter, CancellationToken cancellationToken)
    {
        var rows = await _retry.ExecuteAsync(async ct => await _clickHouse.QueryAsync(
            $"SELECT * FROM metrics_1m FINAL WHERE kafka_partition = {partition} AND {filter}", ct), cancellationToken);
        var states = rows.Select(MetricsRows.FromJson).Where(s => s.Size == _options.Windowing.WindowSize).ToList();
        if (states.Count == 0) return states;
        var minOffset = states.Min(s => s.MinOffset);
        var maxOffset = states.Max(s => s.MaxOffset);
        var ids = await _retry.ExecuteAsync(async ct => await _clickHouse.QueryAsync(
            $"SELECT DISTINCT event_id, environment, service, prompt_name, prompt_version, request_model, toUInt32(occurred_at) AS t, kafka_offset FROM calls"
            + $" WHERE kafka_partition = {partition} AND kafka_offset >= {minOffset} AND kafka_offset <= {maxOffset}", ct), cancellationToken);
        var byKey = states.ToDictionary(s => s.Key);
        foreach (var r in ids)
        {
            var series = new SeriesKey(r.GetProperty("environment").GetString()!, r.GetProperty("service").GetString()!,
                r.GetProperty("prompt_name").GetString()!, r.GetProperty("prompt_version").GetString()!, r.GetProperty("request_model").GetString()!);
            var at = DateTimeOffset.FromUnixTimeSeconds(r.GetProperty("t").GetInt64());
            var key = new WindowKey(series, PartitionWindows.WindowStartOf(at, _options.Windowing.WindowSize));
            if (byKey.TryGetValue(key, out var state) && r.GetProperty("kafka_offset").GetInt64() <= state.MaxOffset)
            {
                state.SeedEventIds([Guid.Parse(r.GetProperty("event_id").GetString()!)]);
            }
        }
        return states;
    }

    private void DeadLetter(ConsumeResult<byte[]?, byte[]?> result, DecodeFailure failure, string reason)
    {
        var headers = new Headers
        {
            { FailureHeader, Encoding.UTF8.GetBytes(failure.ToString()) },
            { ReasonHeader, Encoding.UTF8.GetBytes(reason.Length > 1000 ? reason[..1000] : reason) },
            { SourceHeader, Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{result.Topic}/{result.Partition.Value}/{result.Offset.Value}")) },
        };
        _producer!.Produce(_options.DeadLetterTopic, new Message<byte[]?, byte[]?> { Key = result.Message.Key, Value = result.Message.Value, Headers = headers });
        DeadLettered++;
        DeadLetters.Add(1);
        LogDeadLetter(_log, result.Topic, result.Partition.Value, result.Offset.Value, failure.ToString(), reason);
    }

    private async Task FlushAsync(IConsumer<byte[]?, byte[]?> consumer, CancellationToken cancellationToken)
    {
        _batchOpen = false;
        _batchStartedTicks = _time.GetTimestamp();
        var started = Stopwatch.GetTimestamp();
        var now = _time.GetUtcNow();

        // 1. Raw events first: a stored window's events must already be in `calls` (restarts read their ids from there).
        if (_rows.Count > 0)
        {
            var rows = _rows.ToArray();
            await _retry.ExecuteAsync(async ct => await _clickHouse.InsertAsync("calls", CallRows.Columns, rows, ct), cancellationToken);
            EventsWritten += rows.Length;
            BatchRows.Record(rows.Length);
            _rows.Clear();
        }

        // 2. Closed windows, their anomaly scores, and the topic records.
        var due = _windows.Values.SelectMany(w => w.DueWindows(CaughtUp(consumer, w.Partition)).Select(d => (Windows: w, State: d))).ToList();
        if (due.Count > 0)
        {
            var metricRows = new List<object?[]>(due.Count);
            var anomalyRows = new List<object?[]>();
            foreach (var (_, state) in due)
            {
                var revision = state.Revision + 1;
                metricRows.Add(MetricsRows.ToRow(state, revision, _prices.Version, now));
                if (state.Revision == 0)
                {
                    anomalyRows.AddRange(_scorer.Score(state).Select(a => AnomalyRows.ToRow(a, now)));
                }
                var aggregate = MetricsRows.ToAggregate(state, revision, _prices.Version);
                _producer!.Produce(_options.MetricsTopic, new Message<byte[]?, byte[]?>
                {
                    Key = state.Key.Series.ToKafkaKey(),
                    Value = _aggregateSerializer.Serialize(aggregate),
                    Timestamp = new Timestamp(state.WindowEnd),
                    // Event time is the record's timestamp; the wall-clock emission goes in a header, for freshness and alert-delay measurements.
                    Headers = new Headers { { EmittedAtHeader, Encoding.UTF8.GetBytes(now.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)) } },
                });
            }
            await _retry.ExecuteAsync(async ct => await _clickHouse.InsertAsync("metrics_1m", MetricsRows.Columns, metricRows, ct), cancellationToken);
            if (anomalyRows.Count > 0)
            {
                await _retry.ExecuteAsync(async ct => await _clickHouse.InsertAsync("anomalies", AnomalyRows.Columns, anomalyRows, ct), cancellationToken);
            }
        }

        // 3. Dead letters and window records must be durable before offsets move past them.
        var unsent = _producer!.Flush(TimeSpan.FromSeconds(60));
        if (unsent > 0)
        {
            throw new InvalidOperationException($"{unsent} records for {_options.DeadLetterTopic}/{_options.MetricsTopic} were not delivered; offsets not committed");
        }
        foreach (var group in due.GroupBy(d => d.Windows))
        {
            group.Key.MarkEmitted(group.Select(d => d.State));
        }
        WindowsWritten += due.Count;
        WindowsOut.Add(due.Count);

        // 4. Commit: never past the oldest event an unwritten window still holds.
        var commits = new List<TopicPartitionOffset>();
        foreach (var (partition, next) in _nextOffsets)
        {
            var safe = _windows.TryGetValue(partition, out var w) && w.LowestOffsetNeeded() is { } needed ? Math.Min(needed, next) : next;
            if (!_committed.TryGetValue(partition, out var last) || last != safe)
            {
                commits.Add(new TopicPartitionOffset(_options.Topic, partition, safe));
            }
        }
        if (commits.Count > 0)
        {
            try
            {
                consumer.Commit(commits);
                foreach (var c in commits)
                {
                    _committed[c.Partition.Value] = c.Offset.Value;
                }
            }
            catch (KafkaException ex)
            {
                // Everything is written; a failed commit only means a replay that the stored windows absorb.
                LogCommitFailed(_log, ex.Error.Reason);
            }
        }
        if (due.Count > 0 || commits.Count > 0)
        {
            FlushSeconds.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
        RecordProgress(consumer, now);
    }

    /// <summary>Consumer lag (from the high watermarks librdkafka last fetched) and watermark delay, for the gauges.</summary>
    private void RecordProgress(IConsumer<byte[]?, byte[]?> consumer, DateTimeOffset now)
    {
        long lag = 0;
        foreach (var (partition, next) in _nextOffsets)
        {
            var high = consumer.GetWatermarkOffsets(new TopicPartition(_options.Topic, partition)).High;
            if (!high.IsSpecial) lag += Math.Max(0, high.Value - next);
        }
        Interlocked.Exchange(ref s_lag, lag);
        var slowest = _windows.Values.Select(w => w.Watermark).Where(w => w > DateTimeOffset.MinValue).DefaultIfEmpty(now).Min();
        Volatile.Write(ref s_watermarkDelaySeconds, Math.Max(0, (now - slowest).TotalSeconds));
        GC.KeepAlive(LagGauge);
        GC.KeepAlive(WatermarkGauge);
    }

    /// <inheritdoc />
    public void Dispose() => _producer?.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "consuming {Topic} as group {Group}")]
    private static partial void LogStarted(ILogger log, string topic, string group);
    [LoggerMessage(Level = LogLevel.Information, Message = "partition {Partition} assigned from offset {Offset}: {Windows} stored windows reloaded, {History} baseline windows")]
    private static partial void LogAssigned(ILogger log, int partition, long offset, int windows, int history);
    [LoggerMessage(Level = LogLevel.Warning, Message = "dead-lettered {Topic}/{Partition}/{Offset}: {Failure}: {Reason}")]
    private static partial void LogDeadLetter(ILogger log, string topic, int partition, long offset, string failure, string reason);
    [LoggerMessage(Level = LogLevel.Warning, Message = "offset commit failed (records will be replayed and de-duplicated): {Reason}")]
    private static partial void LogCommitFailed(ILogger log, string reason);
    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka: {Code}: {Reason}")]
    private static partial void LogKafkaError(ILogger log, string code, string reason);
}
