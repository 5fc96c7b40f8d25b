using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace Pipeline.Producers;

/// <summary>
/// Sends what the disk spill holds, oldest first: the folders of processes that are gone (see
/// <see cref="SpillFolders"/>), then this producer's own. A segment leaves the disk only once Kafka
/// acknowledged every record of it; until then it is retried through a Polly retry with backoff and a
/// circuit breaker. When the spill is empty and a broker answers, it tells the producer to send live again.
/// </summary>
internal sealed partial class SpillReplayer : IDisposable
{
    private static readonly TimeSpan OrphanScanInterval = TimeSpan.FromSeconds(30);
    private readonly SpillStore _own;
    private readonly string? _sharedRoot;
    private readonly KafkaSender _sender;
    private readonly SchemaIdResolver _schema;
    private readonly ProducerMetrics _metrics;
    private readonly ProducerOptions _options;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly Func<bool> _isSpilling;
    private readonly Action _goLive;
    private readonly ResiliencePipeline _pipeline;
    private readonly Lock _gate = new();
    private readonly List<SpillStore> _orphans;
    private long _lastScan;

    /// <param name="sharedRoot">The configured spill folder whose other subfolders are taken over; null for a private one.</param>
    public SpillReplayer(SpillStore own, string? sharedRoot, KafkaSender sender, SchemaIdResolver schema, ProducerMetrics metrics, ProducerOptions options,
        ILogger log, TimeProvider time, Func<bool> isSpilling, Action goLive)
    {
        _own = own;
        _sharedRoot = sharedRoot;
        _sender = sender;
        _schema = schema;
        _metrics = metrics;
        _options = options;
        _log = log;
        _time = time;
        _isSpilling = isSpilling;
        _goLive = goLive;
        _orphans = sharedRoot is null ? [] : SpillFolders.TakeOrphans(sharedRoot, new HashSet<string>([Path.GetFullPath(own.Folder)]));
        _lastScan = time.GetTimestamp();
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = time, Name = "producer-replay" }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<SpillReplayException>().Handle<BrokenCircuitException>()
                    .Handle<TimeoutException>().Handle<KafkaException>(),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(200),
                MaxDelay = TimeSpan.FromSeconds(5),
            })
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<SpillReplayException>().Handle<TimeoutException>().Handle<KafkaException>(),
                FailureRatio = 1.0,
                MinimumThroughput = 2,
                SamplingDuration = TimeSpan.FromSeconds(30),
                BreakDuration = TimeSpan.FromSeconds(2),
                OnOpened = args =>
                {
                    LogBreakerOpened(_log, args.BreakDuration.TotalSeconds, args.Outcome.Exception?.Message ?? "");
                    return default;
                },
            })
            .Build();
    }

    /// <summary>Records on disk: this producer's and those it took over.</summary>
    public long Records
    {
        get
        {
            lock (_gate) return _own.Records + _orphans.Sum(o => o.Records);
        }
    }

    /// <summary>Bytes on disk: this producer's and those it took over.</summary>
    public long Bytes
    {
        get
        {
            lock (_gate) return _own.Bytes + _orphans.Sum(o => o.Bytes);
        }
    }

    /// <summary>Folders taken over from processes that are gone, with their records (for the start-up line).</summary>
    public IReadOnlyList<(string Folder, long Records)> TakenOver
    {
        get
        {
            lock (_gate) return _orphans.Select(o => (o.Folder, o.Records)).ToList();
        }
    }

    public async Task RunAsync(SemaphoreSlim wake, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            if (!_schema.IsResolved)
            {
                // Nothing may leave without the registry's id; the pump spills meanwhile.
                await Task.WhenAny(_schema.Resolved, Task.Delay(TimeSpan.FromMilliseconds(500), _time, ct)).ConfigureAwait(false);
                continue;
            }
            ScanForOrphans();
            var (store, segment) = Next();
            if (store is null)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), _time, ct).ConfigureAwait(false);
                continue;
            }
            if (segment is not null)
            {
                if (segment.Corrupt > 0) LogCorrupt(_log, segment.Sequence, store.Folder);
                var state = new ReplayState(segment);
                await _pipeline.ExecuteAsync(static (s, token) => s.Owner.ReplayAsync(s.State, token), (Owner: this, State: state), ct).ConfigureAwait(false);
                // Counted before the segment leaves the spill, so a flush never sees neither.
                _metrics.OnReplayed(state.Acked);
                store.Complete(segment);
                Retire(store);
                continue;
            }
            if (_isSpilling() && await _sender.BrokerAnswersAsync().ConfigureAwait(false))
            {
                // Spill drained and Kafka answers: new calls go straight to Kafka again. A call spilled in the
                // meantime is picked up by the next turn of this loop.
                _goLive();
                continue;
            }
            try
            {
                await wake.WaitAsync(TimeSpan.FromMilliseconds(500), ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var orphan in _orphans) orphan.Dispose();
            _orphans.Clear();
        }
    }

    /// <summary>The oldest segment to send: taken-over folders first (their events are older). Null store: a disk error, retry later.</summary>
    private (SpillStore? Store, SpillSegment? Segment) Next()
    {
        SpillStore[] stores;
        lock (_gate) stores = [.. _orphans, _own];
        foreach (var store in stores)
        {
            try
            {
                if (store.Oldest() is { } segment) return (store, segment);
            }
            catch (IOException ex)
            {
                // A segment that cannot be read now (disk trouble) is retried; the loop must not die.
                LogSpillFailed(_log, ex.Message);
                return (null, null);
            }
            Retire(store);
        }
        return (_own, null);
    }

    private void Retire(SpillStore store)
    {
        if (ReferenceEquals(store, _own) || !store.IsEmpty) return;
        lock (_gate) _orphans.Remove(store);
        store.Dispose();
        SpillFolders.TryDelete(store.Folder);
        LogTakenOverDone(_log, store.Folder);
    }

    private void ScanForOrphans()
    {
        if (_sharedRoot is null || _time.GetElapsedTime(_lastScan) < OrphanScanInterval) return;
        _lastScan = _time.GetTimestamp();
        HashSet<string> held;
        lock (_gate) held = [.. _orphans.Select(o => Path.GetFullPath(o.Folder)), Path.GetFullPath(_own.Folder)];
        var found = SpillFolders.TakeOrphans(_sharedRoot, held);
        if (found.Count == 0) return;
        foreach (var o in found) LogTakingOver(_log, o.Records, o.Folder);
        lock (_gate) _orphans.AddRange(found);
    }

    /// <summary>Sends the not yet acknowledged records of a segment; throws while any of them failed.</summary>
    private async ValueTask ReplayAsync(ReplayState state, CancellationToken ct)
    {
        var records = state.Segment.Records;
        // Starts at one for the loop itself: early delivery reports must not bring it to zero (and end the wait)
        // while later records are still being handed to librdkafka. That ended replays with records in flight,
        // and the segment was deleted under them.
        var outstanding = 1;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Error? failure = null;
        var sent = 0;
        for (var i = 0; i < records.Count; i++)
        {
            if (state.IsAcked(i)) continue;
            var index = i;
            var r = records[i];
            var message = new Message<byte[], byte[]> { Key = r.Key, Value = _schema.Frame(r.Value), Timestamp = new Timestamp(r.TimestampMs, TimestampType.CreateTime) };
            Interlocked.Increment(ref outstanding);
            while (true)
            {
                try
                {
                    _sender.Produce(message, report =>
                    {
                        if (!report.Error.IsError) state.Ack(index);
                        else if (KafkaSender.IsPermanent(report.Error))
                        {
                            state.Ack(index, delivered: false);
                            _metrics.OnFailed();
                            KafkaSender.LogRefused(_log, report.Error.Code, report.Error.Reason);
                        }
                        else failure = report.Error;
                        if (Interlocked.Decrement(ref outstanding) == 0) done.TrySetResult();
                    });
                    sent++;
                    break;
                }
                catch (ProduceException<byte[], byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(10), _time, ct).ConfigureAwait(false);
                }
            }
        }
        if (Interlocked.Decrement(ref outstanding) == 0) done.TrySetResult();
        if (sent == 0) return;
        await done.Task.WaitAsync(_options.DeliveryTimeout + TimeSpan.FromSeconds(10), _time, ct).ConfigureAwait(false);
        if (failure is { } f) throw new SpillReplayException(f.Reason);
    }

    private sealed class ReplayState(SpillSegment segment)
    {
        private readonly int[] _acked = new int[segment.Records.Count];
        private int _delivered;

        public SpillSegment Segment => segment;
        public int Acked => Volatile.Read(ref _delivered);

        public bool IsAcked(int i) => Volatile.Read(ref _acked[i]) != 0;

        /// <summary>Once per record: a late report from an earlier attempt and the retry's own both arrive.</summary>
        public void Ack(int i, bool delivered = true)
        {
            if (Interlocked.Exchange(ref _acked[i], 1) == 0 && delivered) Interlocked.Increment(ref _delivered);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "spill segment {Sequence} in {Folder} has a torn or corrupt tail; the records before it are replayed")]
    private static partial void LogCorrupt(ILogger log, long sequence, string folder);
    [LoggerMessage(Level = LogLevel.Error, Message = "spill read failed: {Reason}")]
    private static partial void LogSpillFailed(ILogger log, string reason);
    [LoggerMessage(Level = LogLevel.Warning, Message = "replay circuit open for {Seconds:F0} s: {Reason}")]
    private static partial void LogBreakerOpened(ILogger log, double seconds, string reason);
    [LoggerMessage(Level = LogLevel.Information, Message = "taking over {Records} events a stopped process left in {Folder}")]
    private static partial void LogTakingOver(ILogger log, long records, string folder);
    [LoggerMessage(Level = LogLevel.Information, Message = "spill folder {Folder} taken over from a stopped process is sent and removed")]
    private static partial void LogTakenOverDone(ILogger log, string folder);
}

/// <summary>A spilled segment could not be replayed yet (Kafka still unreachable).</summary>
public sealed class SpillReplayException(string reason) : Exception($"spill replay failed: {reason}");
