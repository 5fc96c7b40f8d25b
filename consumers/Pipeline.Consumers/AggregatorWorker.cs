using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Pipeline.Aggregation;
using Pipeline.ClickHouse;
using Pipeline.Schemas;
using Polly;

namespace Pipeline.Consumers;

/// <summary>The input topic does not exist and <see cref="AggregatorOptions.MissingTopic"/> is <c>Fail</c>.</summary>
public sealed class MissingTopicException(string message) : InvalidOperationException(message);

/// <summary>
/// The aggregator: reads <c>llm.calls.v1</c>; writes every event to ClickHouse <c>calls</c>; folds it into
/// its series' event-time window; writes closed windows to <c>metrics_1m</c> and <c>llm.metrics.1m.v1</c>
/// and their anomaly scores to <c>anomalies</c>; sends bad records to the DLQ with the reason.
/// Exactly once in effect: offsets are committed only after everything before them is durably written,
/// and never past the oldest event an unwritten window still holds; after a restart or rebalance the
/// stored windows (with their offset ranges and event ids) are reloaded, so a replay neither loses nor
/// double counts an event.
/// Nothing a record contains stops it: every per-record step sits in one boundary that dead-letters with
/// the reason, and rows ClickHouse rejects are isolated by bisection and dead-lettered. While ClickHouse or
/// Kafka cannot take a write, the partitions are paused and the poll loop stays alive (no rebalance);
/// <see cref="NotReadyReason"/> says why.
/// </summary>
public sealed partial class AggregatorWorker : IDisposable
{
    /// <summary>Header on window records: when the worker emitted the record (unix ms, wall clock).</summary>
    public const string EmittedAtHeader = "pipeline.emitted_at_ms";
    /// <summary>
    /// Header naming the calls partition a window was aggregated from (<c>topic:partition</c>): every series of a
    /// source closes its windows together, so the alert worker knows a minute of a series is complete (and an
    /// absent window means no calls) once its source has delivered a later minute.
    /// </summary>
    public const string WindowSourceHeader = "pipeline.source";

    /// <summary>
    /// DLQ header: the failure class: a <see cref="DecodeFailure"/> name, <c>ProcessingError</c> (a bug met
    /// this record), <c>ClickHouseRejected</c> (the server refused its row) or <c>WindowRejected</c>.
    /// </summary>
    public const string FailureHeader = "pipeline.dlq.failure";
    /// <summary>DLQ header: a one-line human-readable reason.</summary>
    public const string ReasonHeader = "pipeline.dlq.reason";
    /// <summary>DLQ header: <c>topic/partition/offset</c> of the original record.</summary>
    public const string SourceHeader = "pipeline.dlq.source";
    /// <summary>DLQ header on a stub that stands for a record the DLQ refused: <c>size=N sha256=HEX error=...</c>.</summary>
    public const string StubHeader = "pipeline.dlq.stub";

    // The instruments live in AggregatorMetrics (one per worker, tagged pipeline.instance); these names keep the call sites short.
    private TaggedCounter EventsIn => _metrics.EventsIn;
    private TaggedCounter DeadLetters => _metrics.DeadLetters;
    private TaggedCounter WindowsOut => _metrics.WindowsOut;
    private TaggedCounter LateEvents => _metrics.LateEvents;
    private TaggedCounter ProcessingErrors => _metrics.ProcessingErrors;
    private TaggedCounter RejectedRows => _metrics.RejectedRows;
    private TaggedCounter SkippedRecords => _metrics.SkippedRecords;
    private TaggedCounter SaturatedWindows => _metrics.SaturatedWindows;
    private TaggedHistogram<double> FlushSeconds => _metrics.FlushSeconds;
    private TaggedHistogram<long> BatchRows => _metrics.BatchRows;

    private readonly KafkaSettings _kafka;
    private readonly ClickHouseHttp _clickHouse;
    private readonly AggregatorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly AggregatorMetrics _metrics;
    private readonly bool _ownsMetrics;
    private readonly PriceTable _prices;
    private readonly LlmCallSerializer _serializer;
    private readonly RegistryWriterSchemas? _registry;
    private volatile string? _registryProblem;
    private readonly WindowAggregateSerializer _aggregateSerializer = new();
    private readonly AnomalyScorer _scorer;
    private readonly ResiliencePipeline _retry;
    private readonly List<CallRow> _rows = [];
    private readonly List<SourceRecord> _sources = [];
    private readonly Dictionary<int, PartitionWindows> _windows = [];
    private readonly Dictionary<int, long> _nextOffsets = [];
    private readonly Dictionary<int, long> _assignedFrom = [];
    private readonly Dictionary<int, long> _committed = [];
    private readonly HashSet<int> _owned = [];
    // Records returned by a poll while the partitions were paused for a write; processed, in order, before the next poll.
    private readonly Queue<ConsumeResult<byte[]?, byte[]?>> _held = new();
    // Written windows that late events touched, to rebuild from calls at the next flush (with their partition).
    private readonly Dictionary<WindowKey, int> _recompute = [];
    private readonly ConcurrentQueue<Undelivered> _undelivered = new();
    private readonly ConcurrentQueue<(int Partition, long At, string To)> _resets = new();
    private readonly Dictionary<int, long> _resetAt = [];
    private IProducer<byte[]?, byte[]?>? _producer;
    private Batch? _inFlight;
    private long _batchStartedTicks;
    private bool _batchOpen;
    // Set once a batch could not be written (stopping mid-write): nothing more is committed this run.
    private bool _commitsStopped;
    private volatile string? _blocked;
    private long _blockedSinceTicks;
    private volatile string? _topicProblem;
    private volatile string? _skipped;
    private long _lastTopicWarningTicks;
    // Cancelled 30 s after a stop: bounds every wait for a server, in callbacks too.
    private CancellationToken _writes;
    private long _recordsConsumed;
    private long _lateEvents;
    private long _eventsWritten;
    private long _deadLettered;
    // Dead letters sent since the last flush: their delivery must be confirmed before offsets move past them.
    private long _deadLetteredSinceFlush;

    /// <summary>Creates a worker; <see cref="RunAsync"/> starts it.</summary>
    /// <param name="prices">Prices for calls without <c>cost_usd</c>; default: the built-in table with <see cref="AggregatorOptions.Prices"/> and <see cref="AggregatorOptions.PricesFile"/> applied (an <see cref="ArgumentException"/> names a bad entry).</param>
    /// <param name="metrics">Its meters (from the host's <c>IMeterFactory</c>, with its instance tag); default: meters of its own.</param>
    public AggregatorWorker(KafkaSettings kafka, ClickHouseHttp clickHouse, AggregatorOptions options, TimeProvider time, ILogger log, PriceTable? prices = null,
        AggregatorMetrics? metrics = null)
    {
        // First: a bad price entry throws before anything that needs disposing exists.
        _prices = prices ?? PriceConfiguration.Build(options);
        _ownsMetrics = metrics is null;
        _metrics = metrics ?? new AggregatorMetrics();
        _kafka = kafka;
        _clickHouse = clickHouse;
        _options = options;
        _time = time;
        _log = log;
        _scorer = new AnomalyScorer(options.Anomalies);
        _retry = ClickHouseResilience.Create(time, log, reason => Block(reason), options.BlockedRetryInterval);
        if (!string.IsNullOrWhiteSpace(options.SchemaRegistryUrl) && options.SchemaRegistryUrl is { } registry)
        {
            _registry = new RegistryWriterSchemas(registry, time);
            _serializer = new LlmCallSerializer(writerSchemas: _registry.Find);
        }
        else
        {
            _serializer = new LlmCallSerializer();
        }
    }

    /// <summary>Records taken from Kafka so far (read by benchmarks from another thread).</summary>
    public long RecordsConsumed => Interlocked.Read(ref _recordsConsumed);
    /// <summary>Events written to <c>calls</c> so far (duplicates included).</summary>
    public long EventsWritten => Interlocked.Read(ref _eventsWritten);
    /// <summary>Records sent to the DLQ so far.</summary>
    public long DeadLettered => Interlocked.Read(ref _deadLettered);
    /// <summary>Window revisions written so far.</summary>
    public long WindowsWritten { get; private set; }
    /// <summary>Written windows dropped from memory by <see cref="WindowingOptions.MaxRetainedWindows"/>.</summary>
    public long WindowsEvicted { get; private set; }
    /// <summary>Events this worker counted late (its share of <c>pipeline.aggregator.late_events</c>, which every worker in a process shares by name).</summary>
    public long LateEventsCounted => Interlocked.Read(ref _lateEvents);
    /// <summary>Times partitions were assigned to this worker (one while its group membership holds).</summary>
    public int Assignments { get; private set; }

    /// <summary>
    /// Null while the worker makes progress; otherwise why it does not: ClickHouse or Kafka refusing writes
    /// (partitions paused), the input topic missing, or records skipped by an offset reset (data loss,
    /// reported until the worker restarts).
    /// </summary>
    public string? NotReadyReason => _blocked ?? _registryProblem ?? _topicProblem ?? _skipped;

    private void Block(string? reason)
    {
        if (reason is null)
        {
            Unblock();
            return;
        }
        if (_blocked is null) _blockedSinceTicks = _time.GetTimestamp();
        _blocked = reason.ReplaceLineEndings(" ");
    }

    private void Unblock()
    {
        if (_blocked is null) return;
        var seconds = _time.GetElapsedTime(_blockedSinceTicks).TotalSeconds;
        LogResumed(_log, seconds, _blocked);
        _blocked = null;
    }

    /// <summary>Consumes until cancelled, then writes what it holds and commits.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _producer = new ProducerBuilder<byte[]?, byte[]?>(_kafka.Producer()).Build();
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(_kafka.Consumer(_options.GroupId))
            .SetPartitionsAssignedHandler((c, assigned) =>
            {
                _topicProblem = null;
                if (assigned.Count > 0) Assignments++;
                foreach (var tp in assigned)
                {
                    _owned.Add(tp.Partition.Value);
                    LoadPartitionAsync(c, tp, _writes).GetAwaiter().GetResult();
                }
            })
            .SetPartitionsRevokedHandler((c, revoked) =>
            {
                // Write what is closed and commit what is safe; the next owner replays the rest.
                HandOver(c);
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
            .SetLogHandler((_, m) => OnKafkaLog(m))
            .Build();
        consumer.Subscribe(_options.Topic);
        LogStarted(_log, _options.Topic, _options.GroupId, _prices.Version);
        // A stop lets the write in flight finish (so its offsets are committed): writes are cancelled only
        // if they still wait for a server 30 s after the stop; then nothing more is committed and a restart replays.
        using var writes = new CancellationTokenSource();
        _writes = writes.Token;
        using var stopping = cancellationToken.Register(() => writes.CancelAfter(TimeSpan.FromSeconds(30)));
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var result = _held.Count > 0 ? _held.Dequeue() : Poll(consumer, TimeSpan.FromMilliseconds(100));
                NoteResets();
                if (result is { IsPartitionEOF: false, Message: not null })
                {
                    // False only when stopping while the registry is away: the record is left for the next run.
                    if (!await ResolveSchemaAsync(consumer, result, cancellationToken)) break;
                    Handle(result);
                }
                if (_rows.Count >= _options.MaxBatchRows || _time.GetElapsedTime(_batchStartedTicks) >= _options.FlushInterval)
                {
                    await FlushAsync(consumer, poll: true, writes.Token);
                }
            }
        }
        catch (OperationCanceledException) when (writes.IsCancellationRequested)
        {
            // Stopped while a server was still away: what was not written is replayed on restart (nothing past it is committed).
        }
        finally
        {
            if (_inFlight is not null)
            {
                _commitsStopped = true;
                _inFlight = null;
            }
            try
            {
                await FlushAsync(consumer, poll: false, writes.Token);
            }
            catch (OperationCanceledException)
            {
                // ClickHouse is still away: the last records are replayed on restart.
            }
            consumer.Close();
            _producer.Flush(TimeSpan.FromSeconds(10));
            _producer.Dispose();
            _producer = null;
        }
    }

    /// <summary>
    /// With a schema registry, makes sure the record's schema id is settled (known, or known to be unknown)
    /// before it is decoded: while the registry does not answer, the partitions pause (the poll loop stays
    /// alive, later records are held in order) and the worker reports why it is not ready.
    /// </summary>
    private async Task<bool> ResolveSchemaAsync(IConsumer<byte[]?, byte[]?> consumer, ConsumeResult<byte[]?, byte[]?> result, CancellationToken cancellationToken)
    {
        if (_registry is null || result.Message.Value is not { Length: >= WireFormat.HeaderLength } value || value[0] != 0) return true;
        var id = WireFormat.ReadSchemaId(value);
        if (_registry.IsSettled(id)) return true;
        long? waitingSince = null;
        var lastLine = 0L;
        void Waiting(string reason)
        {
            _registryProblem = reason;
            waitingSince ??= _time.GetTimestamp();
            // One line at once, then one a minute while it lasts: /readyz has the reason meanwhile.
            if (lastLine == 0 || _time.GetElapsedTime(lastLine) >= TimeSpan.FromMinutes(1))
            {
                lastLine = _time.GetTimestamp();
                LogRegistryWaiting(_log, reason);
            }
        }
        try
        {
            await WhilePollingAsync(consumer, _registry.ResolveAsync(id, Waiting, cancellationToken), poll: true);
            if (waitingSince is { } since && _log.IsEnabled(LogLevel.Information))
            {
                var seconds = _time.GetElapsedTime(since).TotalSeconds;
                LogRegistryBack(_log, id, seconds);
            }
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
        finally
        {
            _registryProblem = null;
        }
    }

    /// <summary>One poll. Consume errors never escape: a missing topic waits (or fails, by configuration); others are logged.</summary>
    private ConsumeResult<byte[]?, byte[]?>? Poll(IConsumer<byte[]?, byte[]?> consumer, TimeSpan timeout)
    {
        try
        {
            var result = consumer.Consume(timeout);
            if (result is not null) _topicProblem = null;
            return result;
        }
        catch (ConsumeException ex) when (ex.Error.Code is ErrorCode.UnknownTopicOrPart or ErrorCode.Local_UnknownTopic or ErrorCode.Local_UnknownPartition)
        {
            var problem = $"topic {_options.Topic} does not exist ({ex.Error.Reason})";
            if (_options.MissingTopic == MissingTopicPolicy.Fail)
            {
                throw new MissingTopicException($"{problem}; create it, or set Aggregator:MissingTopic=Wait to wait for it");
            }
            _topicProblem = problem + "; waiting for it to be created";
            if (_lastTopicWarningTicks == 0 || _time.GetElapsedTime(_lastTopicWarningTicks) > TimeSpan.FromSeconds(30))
            {
                _lastTopicWarningTicks = _time.GetTimestamp();
                LogTopicMissing(_log, _options.Topic);
            }
            return null;
        }
        catch (ConsumeException ex) when (!ex.Error.IsFatal)
        {
            LogKafkaError(_log, ex.Error.Code.ToString(), ex.Error.Reason);
            return null;
        }
    }

    private void Handle(ConsumeResult<byte[]?, byte[]?> result)
    {
        var partition = result.Partition.Value;
        if (!_owned.Contains(partition)) return; // held across a revocation: the new owner reads it
        if (!_batchOpen)
        {
            _batchStartedTicks = _time.GetTimestamp();
            _batchOpen = true;
        }
        var offset = result.Offset.Value;
        NoteProgressAfterReset(partition, offset);
        Interlocked.Increment(ref _recordsConsumed);
        // One boundary around every per-record step: nothing a record contains stops the partition.
        try
        {
            LlmCall call;
            if (result.Message.Value is null)
            {
                DeadLetter(SourceRecord.Of(result), nameof(DecodeFailure.TooShort), "tombstone: the record has no value (null), not an event");
                _nextOffsets[partition] = offset + 1;
                return;
            }
            try
            {
                call = _serializer.Deserialize(result.Message.Value);
            }
            catch (EventDecodeException ex)
            {
                DeadLetter(SourceRecord.Of(result), ex.Failure.ToString(), ex.Message);
                _nextOffsets[partition] = offset + 1;
                return;
            }
            var now = _time.GetUtcNow();
            if (LlmCallValidator.Validate(call, now, _options.MaxEventAge, _options.MaxClockSkew) is { } reason)
            {
                DeadLetter(SourceRecord.Of(result), nameof(DecodeFailure.InvalidField), reason);
                _nextOffsets[partition] = offset + 1;
                return;
            }
            var row = new CallRow(call, partition, offset, now);
            var windows = WindowsOf(partition);
            if (windows.NeedsStoredState(call))
            {
                // Late for a window already written and no longer in memory (a backfill, a replay after a restart):
                // its row goes to calls, and the window is rebuilt from calls FINAL once this batch is inserted.
                // Exact (duplicates collapse by event id) and nothing held in memory, however far behind it is.
                _recompute[new WindowKey(SeriesKey.Of(call), PartitionWindows.WindowStartOf(call.OccurredAt, _options.Windowing.WindowSize))] = partition;
                CountLate();
            }
            else if (windows.Add(call, offset) == AddOutcome.Late)
            {
                CountLate();
            }
            _rows.Add(row);
            _sources.Add(SourceRecord.Of(result));
            EventsIn.Add(1);
            _nextOffsets[partition] = offset + 1;
        }
        catch (Exception ex)
        {
            // A bug met this record (nothing else reaches here): dead-letter it, count it, keep going.
            ProcessingErrors.Add(1);
            DeadLetter(SourceRecord.Of(result), "ProcessingError", $"{ex.GetType().Name}: {ex.Message}");
            _nextOffsets[partition] = offset + 1;
        }
    }

    private void CountLate()
    {
        LateEvents.Add(1);
        Interlocked.Increment(ref _lateEvents);
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
        _owned.Remove(partition);
        _windows.Remove(partition);
        _nextOffsets.Remove(partition);
        _committed.Remove(partition);
        _resetAt.Remove(partition);
        foreach (var key in _recompute.Where(kv => kv.Value == partition).Select(kv => kv.Key).ToList())
        {
            _recompute.Remove(key);
        }
    }

    /// <summary>Before partitions move: finish the write in flight, write what is due, commit what is safe (no polling: this runs inside a rebalance).</summary>
    private void HandOver(IConsumer<byte[]?, byte[]?> consumer)
    {
        if (_inFlight is { } batch)
        {
            try
            {
                batch.Write!.GetAwaiter().GetResult();
                Finish(consumer, batch);
            }
            catch (OperationCanceledException)
            {
                _commitsStopped = true;
            }
            _inFlight = null;
        }
        try
        {
            FlushAsync(consumer, poll: false, _writes).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            _commitsStopped = true;
        }
    }

    /// <summary>
    /// On assignment: reload the windows a replay from the committed offset can touch (with the event
    /// ids they already count), and the recent history anomaly baselines need.
    /// </summary>
    private async Task LoadPartitionAsync(IConsumer<byte[]?, byte[]?> consumer, TopicPartition tp, CancellationToken cancellationToken)
    {
        var partition = tp.Partition.Value;
        _windows.Remove(partition);
        _nextOffsets.Remove(partition);
        _committed.Remove(partition);
        var windows = WindowsOf(partition);
        var committed = consumer.Committed([tp], TimeSpan.FromSeconds(10)).FirstOrDefault()?.Offset ?? Offset.Unset;
        var from = committed.IsSpecial ? 0 : committed.Value;
        _assignedFrom[partition] = from;
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
            try
            {
                _scorer.Remember(MetricsRows.FromJson(row));
            }
            catch (Exception ex) when (ex is FormatException or KeyNotFoundException or InvalidOperationException or ArgumentException or OverflowException)
            {
                // A row this version cannot read (an older writer's, or altered by hand) only thins the baseline.
                LogUnreadableRow(_log, partition, ex.Message);
            }
        }
        Unblock();
        LogAssigned(_log, partition, from, history.Count);
    }

    /// <summary>
    /// Rebuilds windows that late events touched from <c>calls FINAL</c> (this batch's rows are already there),
    /// and adds a new revision of each that changed to the batch. Windows are read in chunks, so a backfill
    /// costs a few queries per flush and no memory between flushes.
    /// </summary>
    private async Task RecomputeAsync(Batch batch, CancellationToken cancellationToken)
    {
        var size = (long)_options.Windowing.WindowSize.TotalSeconds;
        foreach (var chunk in batch.Recompute.Chunk(200))
        {
            var tuples = string.Join(",", chunk.Select(k => $"({Quoted(k.Key.Series)}, {k.Key.WindowStart.ToUnixTimeSeconds()})"));
            var from = chunk.Min(k => k.Key.WindowStart).ToUnixTimeSeconds();
            var to = chunk.Max(k => k.Key.WindowStart).ToUnixTimeSeconds() + size;
            var rows = await _retry.ExecuteAsync(async ct => await _clickHouse.QueryAsync(
                $"SELECT {CallRows.WindowColumns} FROM calls FINAL WHERE occurred_at >= {from} AND occurred_at < {to}"
                + $" AND (environment, service, prompt_name, prompt_version, request_model, intDiv(toUInt32(occurred_at), {size}) * {size}) IN ({tuples})", ct),
                cancellationToken);
            var stored = (await _retry.ExecuteAsync(async ct => await _clickHouse.QueryAsync(
                "SELECT environment, service, prompt_name, prompt_version, request_model, toUInt32(window_start) AS ws, max(revision) AS last_revision, argMax(events, revision) AS last_events"
                + $" FROM metrics_1m WHERE window_seconds = {size} AND (environment, service, prompt_name, prompt_version, request_model, toUInt32(window_start)) IN ({tuples})"
                + " GROUP BY environment, service, prompt_name, prompt_version, request_model, ws", ct), cancellationToken))
                .ToDictionary(r => new WindowKey(new SeriesKey(r.GetProperty("environment").GetString()!, r.GetProperty("service").GetString()!,
                    r.GetProperty("prompt_name").GetString()!, r.GetProperty("prompt_version").GetString()!, r.GetProperty("request_model").GetString()!),
                    DateTimeOffset.FromUnixTimeSeconds(r.GetProperty("ws").GetInt64())),
                    r => (Revision: (int)MetricsRows.StoredInt(r.GetProperty("last_revision")), Events: MetricsRows.StoredInt(r.GetProperty("last_events"))));
            var states = chunk.ToDictionary(k => k.Key, k => new WindowState(k.Key, _options.Windowing.WindowSize, k.Value));
            foreach (var row in rows)
            {
                var (call, offset) = CallRows.FromJson(row);
                var key = new WindowKey(SeriesKey.Of(call), PartitionWindows.WindowStartOf(call.OccurredAt, _options.Windowing.WindowSize));
                if (states.TryGetValue(key, out var state)) state.Add(call, offset, _prices);
            }
            foreach (var state in states.Values)
            {
                var before = stored.TryGetValue(state.Key, out var s) ? s : (Revision: 0, Events: 0L);
                // Ids decide membership and calls only grows, so an equal count is the same window: a replay, not news.
                if (state.Events == 0 || state.Events == before.Events) continue;
                AddEmission(batch, state, before.Revision + 1);
            }
        }
        Unblock();
    }

    private static string Quoted(SeriesKey s) =>
        $"{ClickHouseHttp.Quote(s.Environment)}, {ClickHouseHttp.Quote(s.Service)}, {ClickHouseHttp.Quote(s.PromptName)}, {ClickHouseHttp.Quote(s.PromptVersion)}, {ClickHouseHttp.Quote(s.RequestModel)}";

    private void DeadLetter(SourceRecord source, string failure, string reason)
    {
        var headers = new Headers
        {
            { FailureHeader, Encoding.UTF8.GetBytes(failure) },
            { ReasonHeader, Encoding.UTF8.GetBytes(reason.Length > 1000 ? reason[..1000] : reason) },
            { SourceHeader, Encoding.UTF8.GetBytes(source.Describe()) },
        };
        Send(_options.DeadLetterTopic, new Message<byte[]?, byte[]?> { Key = source.Key, Value = source.Value, Headers = headers });
        Interlocked.Increment(ref _deadLetteredSinceFlush);
        Interlocked.Increment(ref _deadLettered);
        DeadLetters.Add(1);
        LogDeadLetter(_log, source.Describe(), failure, reason);
    }

    /// <summary>Produces with a delivery report; a record Kafka refuses is kept for <see cref="DeliverAllAsync"/>, never dropped.</summary>
    private void Send(string topic, Message<byte[]?, byte[]?> message)
    {
        try
        {
            _producer!.Produce(topic, message, report =>
            {
                if (report.Error.IsError) _undelivered.Enqueue(new Undelivered(topic, message, report.Error));
            });
        }
        catch (ProduceException<byte[]?, byte[]?> ex)
        {
            _undelivered.Enqueue(new Undelivered(topic, message, ex.Error));
        }
        catch (KafkaException ex)
        {
            _undelivered.Enqueue(new Undelivered(topic, message, ex.Error));
        }
    }

    /// <summary>Writes what is closed, then commits. While the write waits for a server, the partitions pause and the poll loop stays alive.</summary>
    private async Task FlushAsync(IConsumer<byte[]?, byte[]?> consumer, bool poll, CancellationToken cancellationToken)
    {
        if (_inFlight is not null) return; // a rebalance inside the polling of an earlier write: that write finishes it
        _batchOpen = false;
        _batchStartedTicks = _time.GetTimestamp();
        var batch = TakeBatch(consumer);
        var deadLetters = Interlocked.Exchange(ref _deadLetteredSinceFlush, 0);
        if (batch.Rows.Length > 0 || batch.Due.Count > 0 || batch.Recompute.Count > 0 || deadLetters > 0 || !_undelivered.IsEmpty)
        {
            _inFlight = batch;
            batch.Write = WriteAsync(batch, cancellationToken);
            try
            {
                await WhilePollingAsync(consumer, batch.Write, poll);
            }
            catch
            {
                _commitsStopped = true;
                _inFlight = null;
                throw;
            }
            if (_inFlight is null) return; // finished by a hand-over during a rebalance
            _inFlight = null;
        }
        Finish(consumer, batch);
    }

    /// <summary>Takes the rows and the due windows out of the worker's state, and encodes them.</summary>
    private Batch TakeBatch(IConsumer<byte[]?, byte[]?> consumer)
    {
        var now = _time.GetUtcNow();
        var batch = new Batch([.. _rows], [.. _sources], now);
        _rows.Clear();
        _sources.Clear();
        foreach (var w in _windows.Values)
        {
            if (!_owned.Contains(w.Partition)) continue;
            foreach (var state in w.DueWindows(CaughtUp(consumer, w.Partition)))
            {
                batch.Due.Add((w, state));
                AddEmission(batch, state, state.Revision + 1);
            }
        }
        foreach (var (key, partition) in _recompute)
        {
            if (_owned.Contains(partition)) batch.Recompute.Add(key, partition);
        }
        _recompute.Clear();
        return batch;
    }

    /// <summary>One window revision into the batch: its row, its anomaly scores and its topic record.</summary>
    private void AddEmission(Batch batch, WindowState state, int revision)
    {
        var now = batch.TakenAt;
        if (state.Saturated) SaturatedWindows.Add(1);
        batch.Emitted.Add(state);
        batch.MetricRows.Add(MetricsRows.ToRow(state, revision, _prices.Version, now));
        // Every revision is scored (the anomalies table keeps the latest per window and metric), so a
        // window continued after a reload is scored like any other.
        batch.AnomalyRows.AddRange(_scorer.Score(state).Select(a => AnomalyRows.ToRow(a, now)));
        batch.Aggregates.Add(new Message<byte[]?, byte[]?>
        {
            Key = state.Key.Series.ToKafkaKey(),
            Value = _aggregateSerializer.Serialize(MetricsRows.ToAggregate(state, revision, _prices.Version)),
            Timestamp = new Timestamp(state.WindowEnd),
            // Event time is the record's timestamp; the wall-clock emission goes in a header, for freshness and alert-delay measurements.
            Headers = new Headers
            {
                { EmittedAtHeader, Encoding.UTF8.GetBytes(now.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)) },
                { WindowSourceHeader, Encoding.UTF8.GetBytes(_options.Topic + ":" + state.Partition.ToString(CultureInfo.InvariantCulture)) },
            },
        });
    }

    /// <summary>
    /// Writes a batch durably: raw events first (a stored window's events must already be in <c>calls</c>:
    /// restarts read their ids from there), then the windows, their scores and topic records, then waits
    /// until Kafka has every record. Servers that are away are waited for; rows the server rejects are
    /// isolated and dead-lettered. Throws only when cancelled.
    /// </summary>
    private async Task WriteAsync(Batch batch, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var started = Stopwatch.GetTimestamp();
        if (batch.Rows.Length > 0)
        {
            await InsertIsolatingAsync("calls", batch.Rows, InsertCallsAsync,
                (i, reason) => DeadLetter(batch.Sources[i], "ClickHouseRejected", reason), cancellationToken);
            Interlocked.Add(ref _eventsWritten, batch.Rows.Length);
            BatchRows.Record(batch.Rows.Length);
        }
        var inserted = Stopwatch.GetTimestamp();
        if (batch.Recompute.Count > 0)
        {
            await RecomputeAsync(batch, cancellationToken);
        }
        var recomputed = Stopwatch.GetTimestamp();
        if (batch.Emitted.Count > 0)
        {
            for (var i = 0; i < batch.Aggregates.Count; i++)
            {
                Send(_options.MetricsTopic, batch.Aggregates[i]);
            }
            await InsertIsolatingAsync("metrics_1m", [.. batch.MetricRows], (rows, ct) => _clickHouse.InsertAsync("metrics_1m", MetricsRows.Columns, rows, ct),
                (i, reason) => DeadLetterWindow(batch.Emitted[i], batch.Aggregates[i], reason), cancellationToken);
            if (batch.AnomalyRows.Count > 0)
            {
                await InsertIsolatingAsync("anomalies", [.. batch.AnomalyRows], (rows, ct) => _clickHouse.InsertAsync("anomalies", AnomalyRows.Columns, rows, ct),
                    (_, reason) => LogRowDropped(_log, "anomalies", reason), cancellationToken);
            }
        }
        // Dead letters and window records must be durable before offsets move past them.
        await DeliverAllAsync(cancellationToken);
        Unblock();
        var insertMs = Stopwatch.GetElapsedTime(started, inserted).TotalMilliseconds;
        var rebuildMs = Stopwatch.GetElapsedTime(inserted, recomputed).TotalMilliseconds;
        var restMs = Stopwatch.GetElapsedTime(recomputed).TotalMilliseconds;
        LogFlush(_log, batch.Rows.Length, batch.Recompute.Count, batch.Emitted.Count, insertMs, rebuildMs, restMs);
        if (batch.Emitted.Count > 0 || batch.Rows.Length > 0)
        {
            FlushSeconds.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    /// <summary>Writes events to calls in RowBinary straight from the decoded events (no object[] per row).</summary>
    private Task<long> InsertCallsAsync(ArraySegment<CallRow> rows, CancellationToken cancellationToken)
    {
        var body = new ArrayBufferWriter<byte>(Math.Max(rows.Count, 1) * 320);
        foreach (var row in rows) CallRows.Write(body, row);
        return _clickHouse.InsertRowBinaryAsync("calls", CallRows.ColumnNames, body.WrittenMemory, rows.Count, cancellationToken);
    }

    /// <summary>
    /// Inserts rows; when the server rejects them, bisects to the rows it rejects and hands those to
    /// <paramref name="onRejected"/>. If it rejects every row of a batch of several, the fault is the table's,
    /// not the rows': the write waits (unready) and is tried again, so a repair resumes it without loss.
    /// </summary>
    private async Task InsertIsolatingAsync<TRow>(string table, TRow[] rows, Func<ArraySegment<TRow>, CancellationToken, Task<long>> insert,
        Action<int, string> onRejected, CancellationToken cancellationToken)
    {
        while (true)
        {
            var rejected = new List<(int Index, string Reason)>();
            await InsertRangeAsync(table, rows, insert, 0, rows.Length, rejected, cancellationToken);
            if (rejected.Count == 0) return;
            if (rejected.Count == rows.Length && rows.Length > 1)
            {
                Block($"ClickHouse rejects every row of a {rows.Length}-row insert into {table} ({rejected[0].Reason}); partitions paused, retrying every {_options.BlockedRetryInterval.TotalSeconds:0} s");
                LogTableRejects(_log, table, rows.Length, rejected[0].Reason);
                await Task.Delay(_options.BlockedRetryInterval, _time, cancellationToken);
                continue;
            }
            foreach (var (index, reason) in rejected)
            {
                RejectedRows.Add(1);
                onRejected(index, reason);
            }
            return;
        }
    }

    private async Task InsertRangeAsync<TRow>(string table, TRow[] rows, Func<ArraySegment<TRow>, CancellationToken, Task<long>> insert,
        int from, int count, List<(int, string)> rejected, CancellationToken cancellationToken)
    {
        if (count == 0) return;
        try
        {
            var slice = new ArraySegment<TRow>(rows, from, count);
            await _retry.ExecuteAsync(async ct => await insert(slice, ct), cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException
                                   && ClickHouseErrors.Classify(ex) is null or ClickHouseErrorClass.Rejected)
        {
            // The server (or the driver encoding a value) refused these rows: find which.
            if (count == 1)
            {
                rejected.Add((from, $"{table}: {ex.Message}"));
                return;
            }
            var half = count / 2;
            await InsertRangeAsync(table, rows, insert, from, half, rejected, cancellationToken);
            await InsertRangeAsync(table, rows, insert, from + half, count - half, rejected, cancellationToken);
        }
    }

    private void DeadLetterWindow(WindowState state, Message<byte[]?, byte[]?> record, string reason)
    {
        var source = new SourceRecord("metrics_1m", state.Partition, state.MaxOffset, record.Key, record.Value);
        DeadLetter(source, "WindowRejected", $"window {state.Key.Series} {state.Key.WindowStart:O}: {reason}");
    }

    /// <summary>
    /// Flushes the producer until Kafka has every record. Records Kafka refused are sent again; one too
    /// large for its topic is replaced by a stub on the DLQ (size, hash, source, reason), so nothing vanishes.
    /// </summary>
    private async Task DeliverAllAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var unsent = await Task.Run(() => _producer!.Flush(TimeSpan.FromSeconds(5)), cancellationToken);
            if (unsent > 0)
            {
                Block($"Kafka: {unsent} records for {_options.DeadLetterTopic}/{_options.MetricsTopic} not yet delivered; partitions paused");
                continue;
            }
            if (_undelivered.IsEmpty) return;
            var again = new List<Undelivered>();
            while (_undelivered.TryDequeue(out var u))
            {
                again.Add(u);
            }
            foreach (var u in again)
            {
                if (u.Error.Code is ErrorCode.MsgSizeTooLarge or ErrorCode.RecordListTooLarge)
                {
                    SendStub(u);
                }
                else
                {
                    Block($"Kafka refused a record for {u.Topic} ({u.Error.Code}: {u.Error.Reason}); retrying");
                    LogDeliveryRetry(_log, u.Topic, u.Error.Code.ToString(), u.Error.Reason);
                    Send(u.Topic, u.Message);
                }
            }
            if (!_undelivered.IsEmpty || _blocked is not null)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), _time, cancellationToken);
            }
        }
    }

    private void SendStub(Undelivered u)
    {
        var value = u.Message.Value ?? [];
        var headers = new Headers();
        foreach (var h in u.Message.Headers ?? [])
        {
            headers.Add(h.Key, h.GetValueBytes());
        }
        if (u.Topic != _options.DeadLetterTopic)
        {
            headers.Add(FailureHeader, Encoding.UTF8.GetBytes("WindowRejected"));
            headers.Add(ReasonHeader, Encoding.UTF8.GetBytes($"record for {u.Topic} too large ({value.Length} bytes)"));
        }
        headers.Add(StubHeader, Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"size={value.Length} sha256={Convert.ToHexStringLower(SHA256.HashData(value))} error={u.Error.Code}")));
        LogStub(_log, u.Topic, value.Length, u.Error.Reason);
        Send(_options.DeadLetterTopic, new Message<byte[]?, byte[]?> { Key = u.Message.Key, Value = null, Headers = headers });
    }

    /// <summary>After a batch is durable: windows marked written, offsets committed (never past the oldest event an unwritten window holds).</summary>
    private void Finish(IConsumer<byte[]?, byte[]?> consumer, Batch batch)
    {
        foreach (var group in batch.Due.GroupBy(d => d.Windows))
        {
            var evicted = group.Key.MarkEmitted(group.Select(d => d.State));
            if (evicted > 0)
            {
                WindowsEvicted += evicted;
                _metrics.EvictedWindows.Add(evicted);
            }
        }
        WindowsWritten += batch.Emitted.Count;
        WindowsOut.Add(batch.Emitted.Count);
        if (!_commitsStopped)
        {
            var commits = new List<TopicPartitionOffset>();
            foreach (var (partition, next) in _nextOffsets)
            {
                if (!_owned.Contains(partition)) continue;
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
        }
        RecordProgress(consumer, batch.TakenAt);
    }

    /// <summary>
    /// Awaits <paramref name="task"/>; if it takes a while (a server is away), pauses every assigned partition
    /// and keeps polling so the group membership stays alive; records a poll still returns are held, in order.
    /// </summary>
    private async Task WhilePollingAsync(IConsumer<byte[]?, byte[]?> consumer, Task task, bool poll)
    {
        if (!poll || task.IsCompleted)
        {
            await task;
            return;
        }
        if (await Task.WhenAny(task, Task.Delay(TimeSpan.FromMilliseconds(250), _time)) == task)
        {
            await task;
            return;
        }
        var paused = consumer.Assignment;
        consumer.Pause(paused);
        try
        {
            while (!task.IsCompleted)
            {
                var result = Poll(consumer, TimeSpan.FromMilliseconds(100));
                if (result is { IsPartitionEOF: false, Message: not null })
                {
                    _held.Enqueue(result);
                }
            }
        }
        finally
        {
            consumer.Resume(consumer.Assignment);
        }
        await task;
    }

    // librdkafka logs "topic [3]: offset reset (at offset 901182 (leader epoch 0), broker 1) to cached BEGINNING offset 4126: ..."
    // and carries on; we make it an error.
    [GeneratedRegex(@"\[(\d+)\]: offset reset \(at offset (\d+).*?\) to (?:cached )?([A-Za-z]+)")]
    private static partial Regex OffsetResetPattern();

    private void OnKafkaLog(LogMessage message)
    {
        if (message.Facility == "OFFSET" && OffsetResetPattern().Match(message.Message) is { Success: true } m
            && message.Message.Contains(_options.Topic, StringComparison.Ordinal))
        {
            _resets.Enqueue((int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), m.Groups[3].Value));
        }
        if (message.Level <= SyslogLevel.Warning)
        {
            LogKafkaError(_log, message.Facility, message.Message);
        }
    }

    private void NoteResets()
    {
        while (_resets.TryDequeue(out var r))
        {
            _resetAt[r.Partition] = r.At;
            LogOffsetReset(_log, _options.Topic, r.Partition, r.At, r.To);
            if (r.To.Contains("END", StringComparison.OrdinalIgnoreCase))
            {
                // Jumped to the end: whatever lay between the committed offset and the end is skipped.
                _skipped = $"partition {r.Partition} of {_options.Topic}: offset reset at offset {r.At} to the end: records after it were skipped (data loss); restart the worker to acknowledge";
            }
        }
    }

    /// <summary>
    /// The first record after an offset reset tells what it did: forward past the committed offset is data loss
    /// (retention deleted records before they were read); back to an earlier offset is a replay, which de-duplicates.
    /// </summary>
    private void NoteProgressAfterReset(int partition, long offset)
    {
        if (!_resetAt.Remove(partition, out var at)) return;
        if (offset > at)
        {
            SkippedRecords.Add(offset - at);
            _skipped = $"partition {partition} of {_options.Topic}: offsets {at}..{offset - 1} ({offset - at} records) were skipped by an offset reset (data loss); restart the worker to acknowledge";
            LogRecordsSkipped(_log, _options.Topic, partition, at, offset - 1);
        }
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
        var slowest = _windows.Values.Select(w => w.Watermark).Where(w => w > DateTimeOffset.MinValue).DefaultIfEmpty(now).Min();
        _metrics.SetProgress(lag, Math.Max(0, (now - slowest).TotalSeconds));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _producer?.Dispose();
        _registry?.Dispose();
        if (_ownsMetrics) _metrics.Dispose();
    }

    /// <summary>Where a row came from, kept until it is written, so a row ClickHouse rejects can be dead-lettered as the original bytes.</summary>
    private readonly record struct SourceRecord(string Topic, int Partition, long Offset, byte[]? Key, byte[]? Value)
    {
        public static SourceRecord Of(ConsumeResult<byte[]?, byte[]?> r) => new(r.Topic, r.Partition.Value, r.Offset.Value, r.Message.Key, r.Message.Value);
        public string Describe() => string.Create(CultureInfo.InvariantCulture, $"{Topic}/{Partition}/{Offset}");
    }

    private sealed record Undelivered(string Topic, Message<byte[]?, byte[]?> Message, Error Error);

    /// <summary>What one flush writes: taken from the worker's state on the consume thread, written on another.</summary>
    private sealed class Batch(CallRow[] rows, SourceRecord[] sources, DateTimeOffset takenAt)
    {
        public CallRow[] Rows { get; } = rows;
        public SourceRecord[] Sources { get; } = sources;
        public DateTimeOffset TakenAt { get; } = takenAt;
        public List<(PartitionWindows Windows, WindowState State)> Due { get; } = [];
        /// <summary>Windows to rebuild from calls after the insert, with their partition.</summary>
        public Dictionary<WindowKey, int> Recompute { get; } = [];
        /// <summary>Every window revision written, in the order of <see cref="MetricRows"/> and <see cref="Aggregates"/>.</summary>
        public List<WindowState> Emitted { get; } = [];
        public List<object?[]> MetricRows { get; } = [];
        public List<object?[]> AnomalyRows { get; } = [];
        public List<Message<byte[]?, byte[]?>> Aggregates { get; } = [];
        public Task? Write { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "consuming {Topic} as group {Group}; prices {PriceVersion}")]
    private static partial void LogStarted(ILogger log, string topic, string group, string priceVersion);
    [LoggerMessage(Level = LogLevel.Information, Message = "partition {Partition} assigned from offset {Offset}: {History} baseline windows")]
    private static partial void LogAssigned(ILogger log, int partition, long offset, int history);
    [LoggerMessage(Level = LogLevel.Warning, Message = "dead-lettered {Source}: {Failure}: {Reason}")]
    private static partial void LogDeadLetter(ILogger log, string source, string failure, string reason);
    [LoggerMessage(Level = LogLevel.Warning, Message = "offset commit failed (records will be replayed and de-duplicated): {Reason}")]
    private static partial void LogCommitFailed(ILogger log, string reason);
    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka: {Code}: {Reason}")]
    private static partial void LogKafkaError(ILogger log, string code, string reason);
    [LoggerMessage(Level = LogLevel.Debug, Message = "flush: {Rows} rows, {Recomputed} windows rebuilt, {Windows} window revisions; insert {InsertMs:F0} ms, rebuild {RebuildMs:F0} ms, windows and delivery {RestMs:F0} ms")]
    private static partial void LogFlush(ILogger log, int rows, int recomputed, int windows, double insertMs, double rebuildMs, double restMs);
    [LoggerMessage(Level = LogLevel.Warning, Message = "partition {Partition}: a stored metrics_1m row is unreadable and left out of the baseline: {Reason}")]
    private static partial void LogUnreadableRow(ILogger log, int partition, string reason);
    [LoggerMessage(Level = LogLevel.Information, Message = "writes resumed after {Seconds:F0} s (was: {Reason})")]
    private static partial void LogResumed(ILogger log, double seconds, string reason);
    [LoggerMessage(Level = LogLevel.Warning, Message = "{Reason}; the partitions are paused and nothing is dead-lettered meanwhile")]
    private static partial void LogRegistryWaiting(ILogger log, string reason);
    [LoggerMessage(Level = LogLevel.Information, Message = "schema registry answered for schema id {Id} after {Seconds:F0} s; consuming again")]
    private static partial void LogRegistryBack(ILogger log, int id, double seconds);
    [LoggerMessage(Level = LogLevel.Warning, Message = "topic {Topic} does not exist; waiting for it to be created (Aggregator:MissingTopic=Fail stops instead)")]
    private static partial void LogTopicMissing(ILogger log, string topic);
    [LoggerMessage(Level = LogLevel.Error, Message = "ClickHouse rejects all {Rows} rows of an insert into {Table}: {Reason}; waiting for a repair")]
    private static partial void LogTableRejects(ILogger log, string table, int rows, string reason);
    [LoggerMessage(Level = LogLevel.Error, Message = "a row for {Table} was rejected and dropped: {Reason}")]
    private static partial void LogRowDropped(ILogger log, string table, string reason);
    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka did not take a record for {Topic} ({Code}: {Reason}); sending it again")]
    private static partial void LogDeliveryRetry(ILogger log, string topic, string code, string reason);
    [LoggerMessage(Level = LogLevel.Error, Message = "a record for {Topic} of {Bytes} bytes was refused ({Reason}); a stub with its hash went to the DLQ")]
    private static partial void LogStub(ILogger log, string topic, int bytes, string reason);
    [LoggerMessage(Level = LogLevel.Error, Message = "offset reset on {Topic} partition {Partition} at offset {Offset} to {To}: records may have been skipped")]
    private static partial void LogOffsetReset(ILogger log, string topic, int partition, long offset, string to);
    [LoggerMessage(Level = LogLevel.Error, Message = "data loss: {Topic} partition {Partition} offsets {From}..{To} skipped by an offset reset")]
    private static partial void LogRecordsSkipped(ILogger log, string topic, int partition, long from, long to);
}
