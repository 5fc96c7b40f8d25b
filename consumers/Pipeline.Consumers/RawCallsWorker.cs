using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Pipeline.ClickHouse;
using Pipeline.Schemas;
using Polly;
using Polly.Retry;

namespace Pipeline.Consumers;

/// <summary>Settings of the raw-event writer.</summary>
public sealed class RawCallsWorkerOptions
{
    /// <summary>Topic to read. Default <c>llm.calls.v1</c>.</summary>
    public string Topic { get; set; } = SchemaCatalog.Topics.Calls;
    /// <summary>Dead-letter topic. Default <c>llm.calls.dlq.v1</c>.</summary>
    public string DeadLetterTopic { get; set; } = SchemaCatalog.Topics.CallsDeadLetter;
    /// <summary>Consumer group. Default <c>aggregator</c>.</summary>
    public string GroupId { get; set; } = "aggregator";
    /// <summary>Rows per ClickHouse insert at most. Default 100,000 (18.16 inserts fastest at this size).</summary>
    public int MaxBatchRows { get; set; } = 100_000;
    /// <summary>Longest a row waits before its batch is written. Default 1 s.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>Events older than this (by event time) go to the DLQ. Default 30 days.</summary>
    public TimeSpan MaxEventAge { get; set; } = TimeSpan.FromDays(30);
    /// <summary>Events further in the future than this go to the DLQ. Default 1 hour.</summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>
/// Reads <c>llm.calls.v1</c>, writes each event to ClickHouse <c>calls</c>, sends undecodable or
/// invalid records to the DLQ with the reason, and commits offsets only after ClickHouse (and the
/// DLQ) acknowledged, so a crash replays into identical rows that ReplacingMergeTree collapses.
/// One consume thread; ClickHouse outages are retried with backoff, never skipped.
/// </summary>
public sealed partial class RawCallsWorker : IDisposable
{
    /// <summary>DLQ header: the failure class (TooShort, BadMagicByte, UnknownSchemaId, MalformedAvro, InvalidField).</summary>
    public const string FailureHeader = "pipeline.dlq.failure";
    /// <summary>DLQ header: a one-line human-readable reason.</summary>
    public const string ReasonHeader = "pipeline.dlq.reason";
    /// <summary>DLQ header: <c>topic/partition/offset</c> of the original record.</summary>
    public const string SourceHeader = "pipeline.dlq.source";

    private readonly KafkaSettings _kafka;
    private readonly ClickHouseHttp _clickHouse;
    private readonly RawCallsWorkerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly LlmCallSerializer _serializer = new();
    private readonly ResiliencePipeline _insertRetry;
    private readonly List<object?[]> _rows = [];
    private readonly Dictionary<TopicPartition, long> _pendingOffsets = [];
    private IProducer<byte[]?, byte[]?>? _dlq;
    private long _batchStartedTicks;

    /// <summary>Creates a worker; <see cref="RunAsync"/> starts it.</summary>
    public RawCallsWorker(KafkaSettings kafka, ClickHouseHttp clickHouse, RawCallsWorkerOptions options, TimeProvider time, ILogger log)
    {
        _kafka = kafka;
        _clickHouse = clickHouse;
        _options = options;
        _time = time;
        _log = log;
        _insertRetry = new ResiliencePipelineBuilder { TimeProvider = time, Name = "clickhouse-insert" }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<ClickHouseException>(e => e.HttpStatus is 0 or >= 500)
                    .Handle<HttpRequestException>().Handle<IOException>().Handle<TaskCanceledException>(),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(200),
                MaxDelay = TimeSpan.FromSeconds(5),
                OnRetry = args =>
                {
                    LogInsertRetry(_log, args.AttemptNumber + 1, args.RetryDelay.TotalSeconds, args.Outcome.Exception?.Message ?? "");
                    return default;
                },
            })
            .Build();
    }

    /// <summary>Events written to ClickHouse so far (duplicates included).</summary>
    public long EventsWritten { get; private set; }
    /// <summary>Records sent to the DLQ so far.</summary>
    public long DeadLettered { get; private set; }

    /// <summary>Consumes until cancelled, then flushes what it holds and commits.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(_kafka.Consumer(_options.GroupId))
            .SetPartitionsRevokedHandler((c, revoked) =>
            {
                // Write and commit what we hold before the partitions move, so the next owner starts clean.
                FlushAsync(c, CancellationToken.None).GetAwaiter().GetResult();
            })
            .SetErrorHandler((_, e) => LogKafkaError(_log, e.Code.ToString(), e.Reason))
            .Build();
        _dlq = new ProducerBuilder<byte[]?, byte[]?>(_kafka.Producer()).Build();
        consumer.Subscribe(_options.Topic);
        LogStarted(_log, _options.Topic, _options.GroupId);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var result = consumer.Consume(TimeSpan.FromMilliseconds(100));
                if (result is { IsPartitionEOF: false, Message: not null })
                {
                    Handle(result);
                }
                if (_rows.Count >= _options.MaxBatchRows
                    || (_pendingOffsets.Count > 0 && _time.GetElapsedTime(_batchStartedTicks) >= _options.FlushInterval))
                {
                    await FlushAsync(consumer, cancellationToken);
                }
            }
        }
        finally
        {
            await FlushAsync(consumer, CancellationToken.None);
            consumer.Close();
            _dlq.Flush(TimeSpan.FromSeconds(10));
            _dlq.Dispose();
            _dlq = null;
        }
    }

    private void Handle(ConsumeResult<byte[]?, byte[]?> result)
    {
        if (_pendingOffsets.Count == 0)
        {
            _batchStartedTicks = _time.GetTimestamp();
        }
        _pendingOffsets[result.TopicPartition] = result.Offset.Value;
        var value = result.Message.Value ?? [];
        LlmCall call;
        try
        {
            call = _serializer.Deserialize(value);
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
        _rows.Add(CallRows.ToRow(call, result.Partition.Value, result.Offset.Value, now));
    }

    private void DeadLetter(ConsumeResult<byte[]?, byte[]?> result, DecodeFailure failure, string reason)
    {
        var headers = new Headers
        {
            { FailureHeader, Encoding.UTF8.GetBytes(failure.ToString()) },
            { ReasonHeader, Encoding.UTF8.GetBytes(reason.Length > 1000 ? reason[..1000] : reason) },
            { SourceHeader, Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{result.Topic}/{result.Partition.Value}/{result.Offset.Value}")) },
        };
        _dlq!.Produce(_options.DeadLetterTopic, new Message<byte[]?, byte[]?> { Key = result.Message.Key, Value = result.Message.Value, Headers = headers });
        DeadLettered++;
        LogDeadLetter(_log, result.Topic, result.Partition.Value, result.Offset.Value, failure.ToString(), reason);
    }

    private async Task FlushAsync(IConsumer<byte[]?, byte[]?> consumer, CancellationToken cancellationToken)
    {
        if (_pendingOffsets.Count == 0) return;
        var started = Stopwatch.GetTimestamp();
        if (_rows.Count > 0)
        {
            var rows = _rows.ToArray();
            await _insertRetry.ExecuteAsync(async ct => await _clickHouse.InsertAsync("calls", CallRows.Columns, rows, ct), cancellationToken);
            EventsWritten += rows.Length;
        }
        // Dead letters must be durable before their offsets are committed.
        var unsent = _dlq!.Flush(TimeSpan.FromSeconds(30));
        if (unsent > 0)
        {
            throw new InvalidOperationException($"{unsent} dead-letter records were not delivered; offsets not committed");
        }
        var offsets = _pendingOffsets.Select(kv => new TopicPartitionOffset(kv.Key, kv.Value + 1)).ToList();
        try
        {
            consumer.Commit(offsets);
        }
        catch (KafkaException ex)
        {
            // The rows are in ClickHouse; a failed commit only means a replay that dedup absorbs.
            LogCommitFailed(_log, ex.Error.Reason);
        }
        if (_log.IsEnabled(LogLevel.Debug))
        {
            var elapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            LogFlushed(_log, _rows.Count, offsets.Count, elapsedMs);
        }
        _rows.Clear();
        _pendingOffsets.Clear();
    }

    /// <inheritdoc />
    public void Dispose() => _dlq?.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "consuming {Topic} as group {Group}")]
    private static partial void LogStarted(ILogger log, string topic, string group);
    [LoggerMessage(Level = LogLevel.Debug, Message = "wrote {Rows} rows, committed {Partitions} partitions in {Ms:F1} ms")]
    private static partial void LogFlushed(ILogger log, int rows, int partitions, double ms);
    [LoggerMessage(Level = LogLevel.Warning, Message = "ClickHouse insert failed, retry {Attempt} in {Seconds:F1} s: {Reason}")]
    private static partial void LogInsertRetry(ILogger log, int attempt, double seconds, string reason);
    [LoggerMessage(Level = LogLevel.Warning, Message = "dead-lettered {Topic}/{Partition}/{Offset}: {Failure}: {Reason}")]
    private static partial void LogDeadLetter(ILogger log, string topic, int partition, long offset, string failure, string reason);
    [LoggerMessage(Level = LogLevel.Warning, Message = "offset commit failed (records will be replayed and de-duplicated): {Reason}")]
    private static partial void LogCommitFailed(ILogger log, string reason);
    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka: {Code}: {Reason}")]
    private static partial void LogKafkaError(ILogger log, string code, string reason);
}
