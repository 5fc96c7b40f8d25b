using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using Pipeline.Consumers;
using Spectre.Console;

namespace Pipeline.Cli;

/// <summary><c>pipeline dlq list|show|replay</c>: inspect the dead-letter topic and replay records after a fix.</summary>
internal static class DlqCommands
{
    private static readonly Option<string?> Since = new("--since") { Description = "Only records dead-lettered in this last span (30m, 2h, 7d) or since this ISO 8601 time" };
    private static readonly Option<string?> Reason = new("--reason") { Description = "Only records whose reason contains this text (case-insensitive), e.g. occurred_at" };
    private static readonly Option<string?> Failure = new("--failure") { Description = "Only records of this failure class: TooShort, BadMagicByte, UnknownSchemaId, MalformedAvro, InvalidField, ..." };
    private static readonly Option<string?> From = new("--from") { Description = "Only records dead-lettered at or after this time: ISO 8601 (2026-11-23T09:00Z) or a span ago (2h)" };
    private static readonly Option<string?> To = new("--to") { Description = "Only records dead-lettered before this time: ISO 8601 or a span ago" };
    private static readonly Option<int> Limit = new("--limit") { Description = "Show at most this many records, the newest (default 20)", DefaultValueFactory = _ => 20 };
    private static readonly Option<bool> Json = new("--json") { Description = "One JSON object per record (key and value base64)" };
    private static readonly string[] ListColumns = ["failure", "reason", "count", "first", "last"];
    private static readonly Option<bool> DryRun = new("--dry-run") { Description = "Count what would be sent, send nothing" };

    public static Command Create()
    {
        var list = new Command("list", """
            Summarise the dead-letter topic (Aggregator:DeadLetterTopic, default llm.calls.dlq.v1): counts per
            failure class and reason group (a field reason by its field, e.g. 'occurred_at'), with the first and
            last time a record of the group was dead-lettered. Reads every partition from its beginning to its
            current end without a consumer group: nothing is committed, the aggregator is not disturbed.

            Examples:
              pipeline dlq list
              pipeline dlq list --since 2h
            """);
        list.Options.Add(Since);
        list.Options.Add(Json);
        CommandRunner.SetHandler(list, (config, parse, ct) => RunAsync(config, parse, (topic, filter) =>
        {
            var groups = DeadLetterTopic.Summarise(topic.ReadToEnd(ct).Where(filter.Matches));
            if (parse.GetValue(Json))
            {
                foreach (var g in groups)
                {
                    Console.WriteLine(JsonSerializer.Serialize(new { failure = g.Failure, reason = g.Reason, count = g.Count, first = g.First, last = g.Last }));
                }
                return ExitCodes.Ok;
            }
            if (groups.Count == 0)
            {
                Console.WriteLine($"{topic.Topic}: no dead letters{(filter.From is { } f ? $" since {f:yyyy-MM-dd HH:mm:ss}Z" : "")}");
                return ExitCodes.Ok;
            }
            var table = new Table().Border(TableBorder.Rounded);
            foreach (var c in ListColumns)
            {
                table.AddColumn(new TableColumn(c));
            }
            foreach (var g in groups)
            {
                table.AddRow(Terminal.Safe(g.Failure), Terminal.Safe(g.Reason), g.Count.ToString("N0", CultureInfo.InvariantCulture), Time(g.First), Time(g.Last));
            }
            AnsiConsole.Write(table);
            Console.WriteLine($"{groups.Sum(g => g.Count)} dead letters on {topic.Topic}; see them with 'pipeline dlq show --failure F --reason R'");
            return ExitCodes.Ok;
        }, ct));

        var show = new Command("show", """
            Print dead-lettered records: DLQ address, source (topic/partition/offset), failure class, reason,
            when it was dead-lettered, value size, and the event_id when the value still decodes. The newest
            --limit matching records, oldest first.

            Examples:
              pipeline dlq show --failure InvalidField --reason occurred_at
              pipeline dlq show --limit 5 --json
            """);
        show.Options.Add(Reason);
        show.Options.Add(Failure);
        show.Options.Add(Since);
        show.Options.Add(Limit);
        show.Options.Add(Json);
        CommandRunner.SetHandler(show, (config, parse, ct) => RunAsync(config, parse, (topic, filter) =>
        {
            var limit = parse.GetValue(Limit);
            if (limit < 1) throw new UsageException("--limit must be at least 1");
            // The newest by dead-letter time across partitions: a heap that drops the oldest beyond --limit.
            var newest = new PriorityQueue<DeadLetter, (DateTimeOffset, int, long)>();
            long total = 0;
            foreach (var d in topic.ReadToEnd(ct).Where(filter.Matches))
            {
                total++;
                newest.Enqueue(d, (d.DeadLetteredAt, d.Partition, d.Offset));
                if (newest.Count > limit) newest.Dequeue();
            }
            var shown = newest.UnorderedItems.Select(x => x.Element).OrderBy(d => d.DeadLetteredAt).ThenBy(d => d.Partition).ThenBy(d => d.Offset).ToList();
            foreach (var d in shown)
            {
                Console.WriteLine(parse.GetValue(Json) ? JsonSerializer.Serialize(ToJson(d)) : string.Join("  ",
                    Time(d.DeadLetteredAt), d.Address, "from " + Terminal.Plain(d.Source ?? "?"), Terminal.Plain(d.Failure),
                    // A stub's value is gone: say so, with the original's size and hash, instead of "0 B".
                    d.IsStub ? $"STUB (original not kept: {Terminal.Plain(d.Stub!)})" : d.Size.ToString(CultureInfo.InvariantCulture) + " B",
                    d.EventId?.ToString() ?? "-", Terminal.Plain(d.Reason)));
            }
            if (!parse.GetValue(Json))
            {
                Console.Error.WriteLine($"{shown.Count} of {total} matching records shown");
            }
            return ExitCodes.Ok;
        }, ct));

        var replay = new Command("replay", """
            Send matching dead letters back to the topic they came from (header pipeline.dlq.source, else
            Aggregator:Topic), to their original partition, with the original key and value and a header
            pipeline.dlq.replayed_from=dlqtopic/partition/offset; acks=all, idempotent, flushed before it
            reports the counts. Fix the cause first (a setting such as Aggregator:MaxEventAge, a schema, the
            aggregator), then replay: records that still fail are dead-lettered again.

            Replaying is safe to repeat: the aggregator de-duplicates by event_id (calls is a ReplacingMergeTree,
            and written windows are rebuilt from calls FINAL), so a record replayed twice counts once. Within one
            run a DLQ offset, or a source record dead-lettered twice, is sent once. Exit code 1 when a record
            was not acknowledged.

            Examples:
              pipeline dlq replay --failure InvalidField --reason occurred_at --dry-run
              pipeline dlq replay --failure UnknownSchemaId --from 2026-11-23T09:00Z --to 2026-11-23T12:00Z
            """);
        replay.Options.Add(Reason);
        replay.Options.Add(Failure);
        replay.Options.Add(From);
        replay.Options.Add(To);
        replay.Options.Add(DryRun);
        CommandRunner.SetHandler(replay, (config, parse, ct) => RunAsync(config, parse, (topic, filter) =>
        {
            var dryRun = parse.GetValue(DryRun);
            var result = topic.Replay(filter, dryRun, ct);
            foreach (var (target, n) in result.ByTarget.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                Console.WriteLine($"  {(dryRun ? "would send" : "sent")} {n} to {Terminal.Plain(target)}");
            }
            foreach (var e in result.Errors)
            {
                Console.Error.WriteLine($"  not acknowledged: {Terminal.Plain(e)}");
            }
            Console.WriteLine($"{(dryRun ? "dry run: would send" : "sent")} {result.Sent}, skipped {result.NotMatched + result.Duplicates + result.NotReplayable} "
                + $"({result.NotMatched} not matching, {result.Duplicates} duplicates, {result.NotReplayable} stubs or rejected windows, never replayed), failed {result.Failed}; {result.Read} records on {topic.Topic}");
            return result.Failed > 0 ? ExitCodes.Failed : ExitCodes.Ok;
        }, ct));

        var command = new Command("dlq", """
            The dead-letter topic: what failed and why, the records themselves, and replay after a fix.

            Examples:
              pipeline dlq list --since 2h
              pipeline dlq show --failure InvalidField
              pipeline dlq replay --reason occurred_at --dry-run
            """);
        command.Subcommands.Add(list);
        command.Subcommands.Add(show);
        command.Subcommands.Add(replay);
        return command;
    }

    private static async Task<int> RunAsync(PipelineConfig config, ParseResult parse, Func<DeadLetterTopic, DeadLetterFilter, int> body, CancellationToken ct)
    {
        var now = TimeProvider.System.GetUtcNow();
        DeadLetterFilter filter;
        try
        {
            filter = new DeadLetterFilter
            {
                Failure = Value(parse, Failure),
                Reason = Value(parse, Reason),
                From = Value(parse, From) is { } from ? ParseTime(from, now, "--from") : Value(parse, Since) is { } since ? ParseTime(since, now, "--since") : null,
                To = Value(parse, To) is { } to ? ParseTime(to, now, "--to") : null,
            };
        }
        catch (UsageException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}");
            return ExitCodes.Usage;
        }
        var kafka = await ServerCommands.KafkaStatusAsync(config, ct);
        if (!kafka.Up)
        {
            throw new ServerUnavailableException($"Kafka is not reachable at {kafka.Address}: {kafka.Detail}");
        }
        var topic = new DeadLetterTopic(config.Kafka, config.Aggregator.DeadLetterTopic, config.Aggregator.Topic);
        try
        {
            return await Task.Run(() => body(topic, filter), ct);
        }
        catch (UsageException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}");
            return ExitCodes.Usage;
        }
        catch (KafkaException ex)
        {
            throw new ServerUnavailableException($"Kafka at {config.Kafka.BootstrapServers}: {ex.Error.Reason}");
        }
    }

    private static string? Value(ParseResult parse, Option<string?> option) =>
        parse.CommandResult.Command.Options.Contains(option) && parse.GetValue(option) is { Length: > 0 } v ? v : null;

    /// <summary>An ISO 8601 time (UTC unless it says otherwise), or a span before <paramref name="now"/>: 90s, 30m, 2h, 7d.</summary>
    internal static DateTimeOffset ParseTime(string text, DateTimeOffset now, string option)
    {
        if (text.Length >= 2 && char.IsAsciiDigit(text[0])
            && double.TryParse(text[..^1], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n)
            && text[^1] is 's' or 'm' or 'h' or 'd')
        {
            return now - text[^1] switch
            {
                's' => TimeSpan.FromSeconds(n),
                'm' => TimeSpan.FromMinutes(n),
                'h' => TimeSpan.FromHours(n),
                _ => TimeSpan.FromDays(n),
            };
        }
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
            ? t : throw new UsageException($"{option} '{text}' is neither a time (2026-11-23T09:00Z) nor a span ago (30m, 2h, 7d)");
    }

    private static string Time(DateTimeOffset t) => t == DateTimeOffset.MinValue ? "-" : t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static object ToJson(DeadLetter d) => new
    {
        dlq = d.Address, source = d.Source, failure = d.Failure, reason = d.Reason, dead_lettered_at = d.DeadLetteredAt, size = d.Size,
        stub = d.Stub,
        event_id = d.EventId, key = d.Key is null ? null : Convert.ToBase64String(d.Key), value = d.Value is null ? null : Convert.ToBase64String(d.Value),
    };

    private sealed class UsageException(string message) : Exception(message);
}
