using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Threading.Channels;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Schemas;

namespace Pipeline.Producers;

/// <summary>Records LLM calls; what instrumentation (the chat-client middleware, <see cref="CallScope"/>) talks to.</summary>
public interface ILlmCallTracker
{
    /// <summary>Records one call; returns false only when the call was rejected or dropped (never throws).</summary>
    bool Track(LlmCall llmCall);
}

/// <summary>Measuring calls by hand through any <see cref="ILlmCallTracker"/> (what <c>AddPipelineProducer</c> registers).</summary>
public static class LlmCallTrackerExtensions
{
    /// <summary>Starts measuring a call; see <see cref="CallScope"/>. <c>using var call = tracker.StartCall("rag_answer", "1.4", "gpt-4o", "openai");</c></summary>
    public static CallScope StartCall(this ILlmCallTracker tracker, string promptName, string promptVersion, string requestModel, string provider, string operation = "chat",
        TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(tracker);
        return new CallScope(tracker, time ?? TimeProvider.System, promptName, promptVersion, requestModel, provider, operation);
    }
}

/// <summary>
/// Publishes <see cref="LlmCall"/> events to Kafka, keyed by series so each series stays in one partition.
/// <para>
/// <see cref="Track"/> returns at once: it applies the <see cref="EdgeRules"/>, puts the call on a bounded
/// memory queue and lets a background sender serialize, batch and hand it to librdkafka (acks=all,
/// idempotence, lz4). When Kafka is unreachable, or a queue is full, events go to a disk spill
/// (<see cref="ProducerOptions.SpillDirectory"/>) and are replayed oldest first, through a Polly retry and
/// circuit breaker, once Kafka answers again, also after a restart. Only when the spill is full are events
/// dropped, and then counted and logged. Delivery is at least once: the pipeline counts each event id once.
/// </para>
/// </summary>
public sealed partial class LlmCallProducer : ILlmCallTracker, IAsyncDisposable, IDisposable
{
    private const int Live = 0;
    private const int Spilling = 1;
    private const int BatchMax = 10_000;

    private readonly ProducerOptions _options;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly ProducerMetrics _metrics;
    private readonly LlmCallSerializer _serializer = new();
    private readonly SchemaIdResolver _schema;
    private readonly KafkaSender _sender;
    private readonly Channel<Pending> _queue;
    private readonly SpillStore _spill;
    private readonly SpillReplayer _replayer;
    private readonly Sampler? _sampler;
    private readonly bool _temporarySpill;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Task _pump;
    private readonly Task _replay;
    private int _mode;
    private readonly ConcurrentDictionary<long, SpilledRecord> _inFlight = new();
    private long _sequence;
    private long _unsettled; // produced, outcome not yet counted; falls only after the outcome is counted
    private long _pumpHeld;
    private int _disposed;
    private long _spillFailures;

    /// <summary>
    /// Creates and starts a producer: validates every setting (librdkafka's keys included), takes its spill
    /// folder, starts sending what earlier processes left on disk, and logs one line saying where it sends
    /// and spills. Throws <see cref="ArgumentException"/> naming a bad setting, or
    /// <see cref="InvalidOperationException"/> when a schema registry refuses the schema. Servers that cannot be
    /// reached never make it throw: events are spilled until they answer.
    /// </summary>
    public LlmCallProducer(ProducerOptions options, ILogger? logger = null, TimeProvider? time = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Validate() is { } problem) throw new ArgumentException($"{ProducerOptions.Section}:{problem}", nameof(options));
        _options = options;
        _log = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        // The registry first: a start-up failure there must not leave a locked spill folder behind.
        _schema = new SchemaIdResolver(options, _log, _time);
        _sampler = options.Sampling.IsOff ? null : new Sampler(options.Sampling, options.Sampling.Seed is { } seed ? new Random(seed) : null);
        _temporarySpill = string.IsNullOrWhiteSpace(options.SpillDirectory);
        try
        {
            _spill = _temporarySpill
                ? new SpillStore(Path.Combine(Path.GetTempPath(), "pipeline-spill-" + Guid.NewGuid().ToString("N")), options.SpillMaxBytes, options.SpillSegmentBytes)
                : SpillFolders.CreateOwn(options.SpillDirectory!, options.SpillMaxBytes, options.SpillSegmentBytes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or System.Security.SecurityException)
        {
            _schema.Dispose();
            throw new ArgumentException($"{ProducerOptions.Section}:SpillDirectory: cannot keep a spill in '{options.SpillDirectory ?? Path.GetTempPath()}': {ex.Message}", nameof(options), ex);
        }
        _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(options.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        // The replayer is created below; the gauge reads it only once the meter is listened to.
        _metrics = new ProducerMetrics(meterFactory, options.Topic, () => _queue.Reader.Count, () => _replayer?.Bytes ?? 0);
        _sender = new KafkaSender(options, new KafkaLogRouter(_log, _time, options.LogRepeatInterval), OnKafkaError, _log);
        _replayer = new SpillReplayer(_spill, _temporarySpill ? null : Path.GetFullPath(options.SpillDirectory!), _sender, _schema, _metrics, options, _log, _time,
            () => IsSpilling && _schema.IsResolved, GoLive);

        // Events earlier processes left on disk go first; without the registry's id nothing goes at all.
        var leftover = _replayer.Records;
        if (leftover > 0 || !_schema.IsResolved) _mode = Spilling;
        if (_log.IsEnabled(LogLevel.Information))
        {
            var brokers = SecretMask.MaskText(KafkaSender.Config(options).BootstrapServers ?? "(none)");
            var schemaId = _schema.IsResolved ? _schema.Id.ToString(CultureInfo.InvariantCulture) : "pending (registry unreachable)";
            LogStarted(_log, options.Topic, brokers, schemaId, _spill.Folder, leftover);
        }
        _pump = Task.Factory.StartNew(PumpAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        _replay = Task.Run(() => _replayer.RunAsync(_wake, _stop.Token));
    }

    /// <summary>Creates a producer from librdkafka settings (at least <c>bootstrap.servers</c>) and a private spill.</summary>
    public LlmCallProducer(IEnumerable<KeyValuePair<string, string>> kafkaSettings, string topic = SchemaCatalog.Topics.Calls)
        : this(new ProducerOptions { Topic = topic, Kafka = kafkaSettings.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal) })
    {
    }

    /// <summary>The schema id written in every event (from the registry when configured; 0 while the registry has not answered).</summary>
    public int SchemaId => _schema.Id;
    /// <summary>Calls accepted by <see cref="Track"/> (possibly clamped).</summary>
    public long Accepted => Interlocked.Read(ref _metrics.Accepted);
    /// <summary>Calls Kafka acknowledged, live or replayed from the spill.</summary>
    public long Delivered => Interlocked.Read(ref _metrics.Sent);
    /// <summary>Calls written to the disk spill.</summary>
    public long Spilled => Interlocked.Read(ref _metrics.Spilled);
    /// <summary>Spilled calls Kafka acknowledged.</summary>
    public long Replayed => Interlocked.Read(ref _metrics.Replayed);
    /// <summary>Calls lost because the spill was full.</summary>
    public long Dropped => Interlocked.Read(ref _metrics.Dropped);
    /// <summary>Calls refused at the edge (see <see cref="EdgeRules"/>).</summary>
    public long Rejected => Interlocked.Read(ref _metrics.Rejected);
    /// <summary>Calls sent with clamped fields.</summary>
    public long Clamped => Interlocked.Read(ref _metrics.Clamped);
    /// <summary>Calls left out by <see cref="ProducerOptions.Sampling"/> (accepted, not sent: the kept ones carry their weight).</summary>
    public long SampledOut => Interlocked.Read(ref _metrics.SampledOut);
    /// <summary>Calls Kafka refused permanently (too large, not authorized).</summary>
    public long Failed => Interlocked.Read(ref _metrics.Failed);
    /// <summary>True while events are routed to the disk spill (Kafka unreachable or replay in progress).</summary>
    public bool IsSpilling => Volatile.Read(ref _mode) == Spilling;
    /// <summary>This producer's own spill folder (a subfolder of <see cref="ProducerOptions.SpillDirectory"/>, see <see cref="SpillFolders"/>).</summary>
    public string SpillDirectory => _spill.Folder;
    /// <summary>Calls not yet acknowledged: in memory, in librdkafka or on disk (folders taken over from stopped processes included).</summary>
    public long Outstanding => _queue.Reader.Count + Interlocked.Read(ref _pumpHeld) + Interlocked.Read(ref _unsettled) + _replayer.Records;
    /// <summary>Events on disk waiting for Kafka, folders taken over from stopped processes included.</summary>
    public long SpilledOnDisk => _replayer.Records;

    /// <summary>Records one call without blocking (see <see cref="ProducerOptions.MaxBlock"/>); never throws.</summary>
    public bool Track(LlmCall llmCall)
    {
        var call = llmCall;
        if (call is null || Volatile.Read(ref _disposed) != 0)
        {
            Reject(call is null ? "call: null" : "producer: disposed");
            return false;
        }
        EdgeResult edge;
        try
        {
            edge = EdgeRules.Apply(call, _options);
        }
#pragma warning disable CA1031 // Track must never throw into the caller.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Reject($"call: {ex.Message}");
            return false;
        }
        if (edge.Call is null)
        {
            Reject(edge.RejectReason!);
            return false;
        }
        _metrics.OnAccepted(edge.Clamped > 0);
        var kept = _sampler is null ? edge.Call : _sampler.Apply(edge.Call);
        if (kept is null)
        {
            // Left out by sampling: the kept calls of its series carry its weight.
            _metrics.OnSampledOut();
            return true;
        }
        var pending = new Pending(kept, _time.GetTimestamp());
        if (_queue.Writer.TryWrite(pending)) return true;
        if (_options.MaxBlock > TimeSpan.Zero && WaitForRoom(pending)) return true;
        // The sender is behind: this caller writes its own event to disk rather than wait.
        var ok = SpillCall(pending.Call);
        FlushSpill();
        return ok;
    }

    /// <summary>Starts measuring a call; see <see cref="CallScope"/>.</summary>
    public CallScope StartCall(string promptName, string promptVersion, string requestModel, string provider, string operation = "chat") =>
        new(this, _time, promptName, promptVersion, requestModel, provider, operation);

    /// <summary>Waits until every accepted call was acknowledged or <paramref name="timeout"/> passed; returns how many are left.</summary>
    public async Task<long> FlushAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var start = _time.GetTimestamp();
        while (true)
        {
            var left = Outstanding;
            if (left == 0 || _time.GetElapsedTime(start) >= timeout) return left;
            _wake.Release();
            await Task.Delay(TimeSpan.FromMilliseconds(20), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Blocking <see cref="FlushAsync"/>; returns how many calls are left.</summary>
    public int Flush(TimeSpan timeout) => (int)Math.Min(int.MaxValue, FlushAsync(timeout).GetAwaiter().GetResult());

    /// <summary>Drains what it can within <see cref="ProducerOptions.DrainTimeout"/>; the rest stays in the spill.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _queue.Writer.TryComplete();
        await _pump.ConfigureAwait(false);
        await FlushAsync(_options.DrainTimeout).ConfigureAwait(false);
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _replay.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        // What Kafka has not acknowledged goes to disk; a late acknowledgement then finds nothing to own,
        // and the copy on disk is a duplicate the pipeline counts once.
        foreach (var sequence in _inFlight.Keys)
        {
            if (_inFlight.TryRemove(sequence, out var record))
            {
                SpillRecord(record.Key, record.Value, record.TimestampMs);
                Interlocked.Decrement(ref _unsettled);
            }
        }
        FlushSpill();
        _sender.Dispose();
        var left = _replayer.Records;
        _replayer.Dispose();
        _schema.Dispose();
        var own = _spill.Records;
        _spill.Dispose();
        if (left > 0) LogLeftInSpill(_log, left, _temporarySpill ? _spill.Folder : _options.SpillDirectory!);
        // An empty folder of this process's own is removed (a shared folder keeps no trace of stopped processes).
        if (own == 0) SpillFolders.TryDelete(_spill.Folder);
        _metrics.Dispose();
        _stop.Dispose();
        _wake.Dispose();
    }

    /// <inheritdoc />
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private bool WaitForRoom(Pending pending)
    {
        try
        {
            using var timeout = new CancellationTokenSource(_options.MaxBlock, _time);
            _queue.Writer.WriteAsync(pending, timeout.Token).AsTask().GetAwaiter().GetResult();
            return true;
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
        {
            return false;
        }
    }

    private async Task PumpAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<Pending>(BatchMax);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < BatchMax)
            {
                // Counted before it leaves the queue, so Outstanding never misses it.
                Interlocked.Increment(ref _pumpHeld);
                if (!reader.TryRead(out var p))
                {
                    Interlocked.Decrement(ref _pumpHeld);
                    break;
                }
                batch.Add(p);
            }
            _metrics.OnBatch(batch.Count);
            var spilled = false;
            foreach (var p in batch)
            {
                // librdkafka's own queue is full while the broker is healthy (a burst): wait here, on the
                // sender, rather than spill; spilling would reorder a burst for nothing. Callers never wait:
                // the memory queue, then their own overflow to disk, absorb it. Spill only if it lasts.
                var waited = _time.GetTimestamp();
                try
                {
                    bool? outcome;
                    while ((outcome = Send(p)) is null)
                    {
                        if (_time.GetElapsedTime(waited) >= _options.DeliveryTimeout)
                        {
                            EnterSpilling("librdkafka queue full for longer than DeliveryTimeout");
                            outcome = SpillCall(p.Call);
                            break;
                        }
                        await Task.Delay(TimeSpan.FromMilliseconds(5), _time).ConfigureAwait(false);
                    }
                    spilled |= outcome.Value;
                }
#pragma warning disable CA1031 // the sender must outlive anything one event meets: it is what delivers every later one
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    _metrics.OnDropped();
                    LogSenderError(_log, $"{ex.GetType().Name}: {ex.Message}");
                }
                Interlocked.Decrement(ref _pumpHeld);
            }
            if (spilled) FlushSpill();
            batch.Clear();
        }
    }

    /// <summary>Hands one call to librdkafka, or to the spill: true when it went to the spill, null when librdkafka's queue is full.</summary>
    private bool? Send(Pending pending)
    {
        byte[] key;
        byte[] value;
        try
        {
            key = SeriesKey.Of(pending.Call).ToKafkaKey();
            value = _schema.Frame(_serializer.Serialize(pending.Call));
        }
#pragma warning disable CA1031 // a call the schema cannot carry is rejected, never fatal to the sender
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Reject($"serialize: {ex.Message}");
            return false;
        }
        var timestamp = pending.Call.OccurredAt.ToUnixTimeMilliseconds();
        if (Volatile.Read(ref _mode) == Spilling)
        {
            SpillRecord(key, value, timestamp);
            return true;
        }
        // librdkafka copies the bytes; holding them too lets Dispose spill what Kafka never acknowledged.
        var sequence = Interlocked.Increment(ref _sequence);
        _inFlight[sequence] = new SpilledRecord(key, value, timestamp);
        Interlocked.Increment(ref _unsettled);
        try
        {
            var enqueued = pending.EnqueuedAt;
            _sender.Produce(new Message<byte[], byte[]> { Key = key, Value = value, Timestamp = new Timestamp(timestamp, TimestampType.CreateTime) },
                report => OnDelivery(report, sequence, enqueued));
            return false;
        }
        catch (ProduceException<byte[], byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
        {
            _inFlight.TryRemove(sequence, out _);
            Interlocked.Decrement(ref _unsettled);
            return null;
        }
        catch (KafkaException ex)
        {
            EnterSpilling(ex.Error.Reason);
            _inFlight.TryRemove(sequence, out _);
            SpillRecord(key, value, timestamp);
            Interlocked.Decrement(ref _unsettled);
            return true;
        }
    }

    private void OnDelivery(DeliveryReport<byte[], byte[]> report, long sequence, long enqueuedAt)
    {
        // Whoever removes the entry owns the event: here, or Dispose spilling what is left.
        if (!_inFlight.TryRemove(sequence, out var record)) return;
        if (!report.Error.IsError)
        {
            _metrics.OnSent(_time.GetElapsedTime(enqueuedAt).TotalSeconds);
        }
        else if (KafkaSender.IsPermanent(report.Error))
        {
            _metrics.OnFailed();
            KafkaSender.LogRefused(_log, report.Error.Code, report.Error.Reason);
        }
        else
        {
            if (Volatile.Read(ref _disposed) == 0) EnterSpilling(report.Error.Reason);
            SpillRecord(record.Key, record.Value, record.TimestampMs);
            FlushSpill();
        }
        Interlocked.Decrement(ref _unsettled);
    }

    private void OnKafkaError(Error error)
    {
        if (error.IsFatal)
        {
            LogFatal(_log, error.Code, error.Reason);
            EnterSpilling(error.Reason);
        }
        else if (error.Code is ErrorCode.Local_AllBrokersDown or ErrorCode.Local_Authentication)
        {
            EnterSpilling(error.Reason);
        }
    }

    private void EnterSpilling(string reason)
    {
        if (Interlocked.CompareExchange(ref _mode, Spilling, Live) == Live)
        {
            LogSpilling(_log, reason, _spill.Folder);
            _wake.Release();
        }
    }

    /// <summary>Hands spilled writes to the operating system; a disk error here is logged, never thrown (callers include Track).</summary>
    private void FlushSpill()
    {
        try
        {
            _spill.Flush();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.SecurityException or ObjectDisposedException)
        {
            var failures = Interlocked.Increment(ref _spillFailures);
            if (failures <= 10 || failures % 10_000 == 0) LogSpillFailed(_log, failures, ex.Message);
        }
    }

    private void GoLive()
    {
        Interlocked.Exchange(ref _mode, Live);
        LogLive(_log);
    }

    private bool SpillCall(LlmCall call)
    {
        try
        {
            return SpillRecord(SeriesKey.Of(call).ToKafkaKey(), _serializer.Serialize(call), call.OccurredAt.ToUnixTimeMilliseconds());
        }
#pragma warning disable CA1031 // see Send
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Reject($"serialize: {ex.Message}");
            return false;
        }
    }

    private bool SpillRecord(byte[] key, byte[] value, long timestampMs)
    {
        bool stored;
        try
        {
            stored = _spill.Append(key, value, timestampMs);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.SecurityException)
        {
            // Counted as a drop below; the reason is logged for the first few and then every 10,000th.
            var failures = Interlocked.Increment(ref _spillFailures);
            if (failures <= 10 || failures % 10_000 == 0) LogSpillFailed(_log, failures, ex.Message);
            stored = false;
        }
        if (stored)
        {
            _metrics.OnSpilled();
            return true;
        }
        _metrics.OnDropped();
        var dropped = Interlocked.Read(ref _metrics.Dropped);
        if (dropped <= 10 || dropped % 10_000 == 0) LogDropped(_log, dropped, _spill.Folder, _options.SpillMaxBytes);
        return false;
    }

    private void Reject(string reason)
    {
        _metrics.OnRejected();
        var rejected = Interlocked.Read(ref _metrics.Rejected);
        if (rejected <= 10 || rejected % 10_000 == 0) LogRejected(_log, rejected, reason);
    }

    private readonly record struct Pending(LlmCall Call, long EnqueuedAt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka unavailable ({Reason}): events go to the disk spill at {Folder} until it answers")]
    private static partial void LogSpilling(ILogger log, string reason, string folder);
    [LoggerMessage(Level = LogLevel.Information, Message = "Kafka answers and the spill is drained: sending live again")]
    private static partial void LogLive(ILogger log);
    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline producer started: topic {Topic} at {Brokers} (acks=all, idempotent), schema id {SchemaId}, spill at {Folder}; {Leftover} events left on disk by earlier processes go first")]
    private static partial void LogStarted(ILogger log, string topic, string brokers, string schemaId, string folder, long leftover);
    [LoggerMessage(Level = LogLevel.Warning, Message = "{Records} events left in the spill at {Folder}; a producer started on that folder sends them")]
    private static partial void LogLeftInSpill(ILogger log, long records, string folder);
    [LoggerMessage(Level = LogLevel.Error, Message = "spill full: {Dropped} events dropped so far (folder {Folder}, cap {Cap} bytes)")]
    private static partial void LogDropped(ILogger log, long dropped, string folder, long cap);
    [LoggerMessage(Level = LogLevel.Error, Message = "spill write failed ({Failures} so far; those events are dropped): {Reason}")]
    private static partial void LogSpillFailed(ILogger log, long failures, string reason);
    [LoggerMessage(Level = LogLevel.Error, Message = "the sender met an unexpected error; the event is dropped and counted, and the sender goes on: {Reason}")]
    private static partial void LogSenderError(ILogger log, string reason);
    [LoggerMessage(Level = LogLevel.Warning, Message = "call rejected ({Rejected} so far): {Reason}")]
    private static partial void LogRejected(ILogger log, long rejected, string reason);
    [LoggerMessage(Level = LogLevel.Critical, Message = "Kafka producer fatal error {Code}: {Reason}; events go to the spill")]
    private static partial void LogFatal(ILogger log, ErrorCode code, string reason);
}
