using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>One record on the dead-letter topic, with the aggregator's headers read out.</summary>
/// <param name="Partition">DLQ partition.</param>
/// <param name="Offset">DLQ offset.</param>
/// <param name="DeadLetteredAt">The record's timestamp: when the aggregator dead-lettered it.</param>
/// <param name="Failure">Header <c>pipeline.dlq.failure</c> (TooShort, InvalidField, ...), or <c>Unknown</c>.</param>
/// <param name="Reason">Header <c>pipeline.dlq.reason</c>, or empty.</param>
/// <param name="Source">Header <c>pipeline.dlq.source</c> (<c>topic/partition/offset</c>), or null.</param>
/// <param name="EventId">The event id when the value still decodes as an <c>LlmCall</c>.</param>
internal sealed record DeadLetter(
    string Topic, int Partition, long Offset, DateTimeOffset DeadLetteredAt, byte[]? Key, byte[]? Value,
    string Failure, string Reason, string? Source, Guid? EventId, string? Stub = null)
{
    /// <summary>True for a stub: the original was too large for this topic, and only its size and hash are here (<see cref="Stub"/>).</summary>
    public bool IsStub => Stub is not null;

    /// <summary><c>dlqtopic/partition/offset</c>: this record's address, sent as <see cref="DeadLetterTopic.ReplayedFromHeader"/>.</summary>
    public string Address => string.Create(CultureInfo.InvariantCulture, $"{Topic}/{Partition}/{Offset}");

    /// <summary>Bytes of the original value.</summary>
    public int Size => Value?.Length ?? 0;

    /// <summary>The group <c>list</c> counts this record under (see <see cref="DeadLetterTopic.ReasonGroup"/>).</summary>
    public string ReasonGroup => DeadLetterTopic.ReasonGroup(Reason);

    /// <summary>The source header split into topic, partition and offset; null when absent or not in that form.</summary>
    public (string Topic, int Partition, long Offset)? SourceAddress
    {
        get
        {
            if (Source is null) return null;
            var parts = Source.Split('/');
            // Topic names cannot contain '/', so anything but three parts is not ours.
            return parts.Length == 3 && parts[0].Length > 0
                && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var p)
                && long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var o)
                ? (parts[0], p, o) : null;
        }
    }
}

/// <summary>Which dead letters a command works on; every criterion given must match.</summary>
internal sealed record DeadLetterFilter
{
    /// <summary>Failure class, exact but case-insensitive (<c>InvalidField</c>).</summary>
    public string? Failure { get; init; }
    /// <summary>A piece of the reason, case-insensitive (<c>occurred_at</c>, <c>schema id 77</c>).</summary>
    public string? Reason { get; init; }
    /// <summary>Dead-lettered at or after this time.</summary>
    public DateTimeOffset? From { get; init; }
    /// <summary>Dead-lettered before this time.</summary>
    public DateTimeOffset? To { get; init; }

    /// <summary>True when <paramref name="d"/> meets every criterion set.</summary>
    public bool Matches(DeadLetter d)
    {
        ArgumentNullException.ThrowIfNull(d);
        return (Failure is null || string.Equals(d.Failure, Failure, StringComparison.OrdinalIgnoreCase))
            && (Reason is null || d.Reason.Contains(Reason, StringComparison.OrdinalIgnoreCase))
            && (From is null || d.DeadLetteredAt >= From)
            && (To is null || d.DeadLetteredAt < To);
    }
}

/// <summary>A row of <c>pipeline dlq list</c>: dead letters of one class and reason group.</summary>
internal sealed record DeadLetterGroup(string Failure, string Reason, long Count, DateTimeOffset First, DateTimeOffset Last);

/// <summary>What a replay did. <see cref="Sent"/> + <see cref="Failed"/> + <see cref="Duplicates"/> = <see cref="Matched"/>.</summary>
/// <param name="Read">DLQ records read (the whole topic up to its end).</param>
/// <param name="Matched">Records the filter selected.</param>
/// <param name="Sent">Records the broker acknowledged (or, in a dry run, would have been sent).</param>
/// <param name="Duplicates">Matched records skipped because this run already sent the same DLQ offset or the same source record.</param>
/// <param name="Failed">Records the broker did not acknowledge.</param>
/// <param name="ByTarget">Sent records per target topic.</param>
/// <param name="NotReplayable">Records the filter selected that are evidence, not events: stubs (no value) and rejected window rows.</param>
internal sealed record ReplayResult(long Read, long Matched, long Sent, long Duplicates, long Failed, IReadOnlyDictionary<string, long> ByTarget, IReadOnlyList<string> Errors,
    long NotReplayable = 0)
{
    /// <summary>Records read that the filter did not select.</summary>
    public long NotMatched => Read - Matched - NotReplayable;
}

/// <summary>
/// The dead-letter topic (<c>llm.calls.dlq.v1</c>) from the outside: read it to its current end without a
/// consumer group (assign + watermarks, nothing committed), summarise it, and replay records to the topic they
/// came from after a fix. Replays are safe to repeat: the aggregator de-duplicates by <c>event_id</c>.
/// </summary>
internal sealed partial class DeadLetterTopic
{
    /// <summary>Header on replayed records: <c>dlqtopic/partition/offset</c> of the dead letter they came from.</summary>
    public const string ReplayedFromHeader = "pipeline.dlq.replayed_from";

    private static readonly TimeSpan MetadataTimeout = TimeSpan.FromSeconds(15);
    private readonly KafkaSettings _kafka;
    private readonly TimeProvider _time;
    private readonly LlmCallSerializer _serializer = new();

    /// <summary>The dead-letter topic <paramref name="topic"/>; replays of records without a source header go to <paramref name="fallbackTopic"/>.</summary>
    public DeadLetterTopic(KafkaSettings kafka, string topic, string fallbackTopic, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(kafka);
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ArgumentException.ThrowIfNullOrWhiteSpace(fallbackTopic);
        _kafka = kafka;
        _time = time ?? TimeProvider.System;
        Topic = topic;
        FallbackTopic = fallbackTopic;
    }

    /// <summary>The dead-letter topic.</summary>
    public string Topic { get; }
    /// <summary>Where records without a usable source header are replayed.</summary>
    public string FallbackTopic { get; }

    /// <summary>Longest a read waits for the next record before it gives up (a broker that stopped answering).</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Every record from the beginning of each partition up to the high watermark taken when the read starts
    /// (records dead-lettered meanwhile are left for the next run). A missing topic reads as empty.
    /// </summary>
    public IEnumerable<DeadLetter> ReadToEnd(CancellationToken cancellationToken)
    {
        var config = _kafka.Consumer("pipeline-dlq-reader-" + Guid.NewGuid().ToString("N"));
        config.EnablePartitionEof = true;
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).SetLogHandler((_, _) => { }).Build();
        var ends = new Dictionary<int, long>();
        foreach (var partition in Partitions(consumer.Handle, Topic))
        {
            var marks = consumer.QueryWatermarkOffsets(new TopicPartition(Topic, partition), MetadataTimeout);
            if (marks.High.Value > marks.Low.Value)
            {
                ends[partition] = marks.High.Value;
            }
        }
        if (ends.Count == 0) yield break;
        consumer.Assign(ends.Keys.Select(p => new TopicPartitionOffset(Topic, p, Offset.Beginning)));
        var lastProgress = _time.GetTimestamp();
        while (ends.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result is null)
            {
                if (_time.GetElapsedTime(lastProgress) > StallTimeout)
                {
                    throw new InvalidOperationException($"reading {Topic} stalled: no record for {StallTimeout.TotalSeconds:0} s with partitions {string.Join(", ", ends.Keys)} not at their end; is Kafka at {_kafka.BootstrapServers} up?");
                }
                continue;
            }
            lastProgress = _time.GetTimestamp();
            var p = result.Partition.Value;
            if (!ends.TryGetValue(p, out var end)) continue;
            if (result.IsPartitionEOF || result.Offset.Value >= end)
            {
                // The end may sit past the last record (transaction markers, compaction); at EOF nothing more is there.
                Done(p);
                continue;
            }
            yield return ToDeadLetter(result);
            if (result.Offset.Value + 1 >= end)
            {
                Done(p);
            }
        }
        consumer.Close();

        void Done(int partition)
        {
            ends.Remove(partition);
            consumer.Pause([new TopicPartition(Topic, partition)]);
        }
    }

    /// <summary>Counts by failure class and reason group, most frequent first.</summary>
    public static IReadOnlyList<DeadLetterGroup> Summarise(IEnumerable<DeadLetter> records)
    {
        var groups = new Dictionary<(string, string), DeadLetterGroup>();
        foreach (var d in records)
        {
            var key = (d.Failure, d.ReasonGroup);
            groups[key] = groups.TryGetValue(key, out var g)
                ? g with { Count = g.Count + 1, First = d.DeadLetteredAt < g.First ? d.DeadLetteredAt : g.First, Last = d.DeadLetteredAt > g.Last ? d.DeadLetteredAt : g.Last }
                : new DeadLetterGroup(d.Failure, d.ReasonGroup, 1, d.DeadLetteredAt, d.DeadLetteredAt);
        }
        return groups.Values.OrderByDescending(g => g.Count).ThenBy(g => g.Failure, StringComparer.Ordinal).ThenBy(g => g.Reason, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// What reasons are grouped by: a field reason (<c>occurred_at: 2026-... is more than 30.00:00:00 in the past</c>)
    /// by its field (<c>occurred_at</c>); any other reason with its numbers (decimal or 0x hex) replaced by <c>N</c>
    /// (<c>schema id N is not LlmCall</c>) and cut to 80 characters.
    /// </summary>
    public static string ReasonGroup(string reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        var colon = reason.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0 && FieldName().IsMatch(reason.AsSpan(0, colon)))
        {
            return reason[..colon];
        }
        var general = Numbers().Replace(reason, "N").Trim();
        return general.Length > 80 ? general[..80] : general;
    }

    /// <summary>
    /// Sends every record <paramref name="filter"/> selects back to its source topic (header <c>pipeline.dlq.source</c>,
    /// else <see cref="FallbackTopic"/>), to its original partition when the topic still has it (so the series stays on
    /// one partition), with the original key and value and <see cref="ReplayedFromHeader"/>. acks=all and idempotence;
    /// flushed before returning. Within one run a DLQ offset, or a source record dead-lettered twice, is sent once.
    /// </summary>
    public ReplayResult Replay(DeadLetterFilter filter, bool dryRun, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        long read = 0, matched = 0, duplicates = 0, failed = 0, delivered = 0, notReplayable = 0;
        var byTarget = new Dictionary<string, long>(StringComparer.Ordinal);
        var errors = new List<string>();
        var seenOffsets = new HashSet<(int, long)>();
        var seenSources = new HashSet<string>(StringComparer.Ordinal);
        var partitionCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        var producerConfig = _kafka.Producer();
        producerConfig.Acks = Acks.All;
        producerConfig.EnableIdempotence = true;
        using var producer = dryRun ? null : new ProducerBuilder<byte[]?, byte[]?>(producerConfig).SetLogHandler((_, _) => { }).Build();
        using var admin = producer is null ? null : new DependentAdminClientBuilder(producer.Handle).Build();
        foreach (var d in ReadToEnd(cancellationToken))
        {
            read++;
            // A rejected window row or a stub (the original was too large to keep) is evidence, not an event: never replayed.
            if (!filter.Matches(d)) continue;
            if (d.Value is null || d.Failure == "WindowRejected")
            {
                notReplayable++;
                continue;
            }
            matched++;
            if (!seenOffsets.Add((d.Partition, d.Offset)) || (d.Source is { } s && !seenSources.Add(s)))
            {
                duplicates++;
                continue;
            }
            var source = d.SourceAddress;
            var target = source?.Topic ?? FallbackTopic;
            if (producer is null)
            {
                Count(target);
                continue;
            }
            if (!partitionCounts.TryGetValue(target, out var partitions))
            {
                partitions = PartitionCount(admin!, target);
                partitionCounts[target] = partitions;
            }
            var message = new Message<byte[]?, byte[]?>
            {
                Key = d.Key,
                Value = d.Value,
                Headers = new Headers { { ReplayedFromHeader, Encoding.UTF8.GetBytes(d.Address) } },
            };
            void Delivered(DeliveryReport<byte[]?, byte[]?> report)
            {
                lock (byTarget)
                {
                    if (report.Error.IsError)
                    {
                        failed++;
                        if (errors.Count < 10) errors.Add($"{d.Address} -> {target}: {report.Error.Reason}");
                    }
                    else
                    {
                        delivered++;
                        Count(target);
                    }
                }
            }
            var destination = source is { } src && src.Partition < partitions
                ? new TopicPartition(target, src.Partition)
                : new TopicPartition(target, Partition.Any);
            while (true)
            {
                try
                {
                    producer.Produce(destination, message, Delivered);
                    break;
                }
                catch (ProduceException<byte[]?, byte[]?> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                {
                    // A big replay outruns the broker: let deliveries drain, then send this record.
                    cancellationToken.ThrowIfCancellationRequested();
                    producer.Poll(TimeSpan.FromMilliseconds(100));
                }
            }
        }
        if (producer is not null)
        {
            while (producer.Flush(TimeSpan.FromSeconds(1)) > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        lock (byTarget)
        {
            var sent = dryRun ? byTarget.Values.Sum() : delivered;
            return new ReplayResult(read, matched, sent, duplicates, failed, new Dictionary<string, long>(byTarget), errors, notReplayable);
        }

        void Count(string target) => byTarget[target] = byTarget.GetValueOrDefault(target) + 1;
    }

    private DeadLetter ToDeadLetter(ConsumeResult<byte[]?, byte[]?> result)
    {
        var m = result.Message;
        Guid? eventId = null;
        if (m.Value is { } value)
        {
            try
            {
                eventId = _serializer.Deserialize(value).EventId;
            }
            catch (EventDecodeException)
            {
                // Undecodable values are what a DLQ is for; they simply have no event id.
            }
        }
        return new DeadLetter(result.Topic, result.Partition.Value, result.Offset.Value,
            m.Timestamp.Type == TimestampType.NotAvailable ? DateTimeOffset.MinValue : new DateTimeOffset(m.Timestamp.UtcDateTime),
            m.Key, m.Value,
            Header(m.Headers, AggregatorWorker.FailureHeader) ?? "Unknown",
            Header(m.Headers, AggregatorWorker.ReasonHeader) ?? "",
            Header(m.Headers, AggregatorWorker.SourceHeader),
            eventId,
            Header(m.Headers, AggregatorWorker.StubHeader));
    }

    private static string? Header(Headers? headers, string name) =>
        headers is not null && headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;

    private static List<int> Partitions(Handle handle, string topic)
    {
        using var admin = new DependentAdminClientBuilder(handle).Build();
        var metadata = admin.GetMetadata(topic, MetadataTimeout).Topics.SingleOrDefault(t => t.Topic == topic);
        if (metadata is null || metadata.Error.Code == ErrorCode.UnknownTopicOrPart) return [];
        if (metadata.Error.IsError)
        {
            throw new InvalidOperationException($"topic {topic}: {metadata.Error.Reason}");
        }
        return metadata.Partitions.Select(p => p.PartitionId).Order().ToList();
    }

    private static int PartitionCount(IAdminClient admin, string topic)
    {
        var metadata = admin.GetMetadata(topic, MetadataTimeout).Topics.SingleOrDefault(t => t.Topic == topic);
        return metadata is null || metadata.Error.IsError ? 0 : metadata.Partitions.Count;
    }

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_.\[\]]{0,63}$")]
    private static partial Regex FieldName();

    [GeneratedRegex(@"0x[0-9A-Fa-f]+|\d+")]
    private static partial Regex Numbers();
}
