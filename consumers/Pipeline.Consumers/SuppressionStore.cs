using System.Text.Json;
using Pipeline.ClickHouse;
using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>
/// Silences and acknowledgements in ClickHouse (<c>alert_silences</c>, <c>alert_acks</c>, migration 007;
/// <c>alert_ack_log</c>, migration 008): written by <c>pipeline alerts ack|silence|unsilence</c>, read by every
/// alert worker. <c>alert_acks</c> holds the latest acknowledgement of an incident (what workers apply),
/// <c>alert_ack_log</c> every one of them. All are ReplacingMergeTrees versioned in milliseconds, read with FINAL.
/// </summary>
public sealed class SuppressionStore(ClickHouseHttp clickHouse, TimeProvider time)
{
    /// <summary>The longest silence <c>pipeline alerts silence --for</c> accepts.</summary>
    public static readonly TimeSpan MaxSilence = TimeSpan.FromDays(7);

    private static readonly IReadOnlyList<KeyValuePair<string, string>> AckColumns =
    [
        new("alert_id", "String"), new("fingerprint", "String"), new("rule_id", "String"), new("acked_by", "String"),
        new("acked_at", "DateTime"), new("note", "String"), new("version", "UInt64"),
    ];

    private static readonly IReadOnlyList<KeyValuePair<string, string>> SilenceColumns =
    [
        new("silence_id", "String"), new("matcher_keys", "Array(String)"), new("matcher_values", "Array(String)"),
        new("starts_at", "DateTime"), new("ends_at", "DateTime"), new("created_by", "String"), new("reason", "String"),
        new("created_at", "DateTime"), new("ended_by", "String"), new("version", "UInt64"),
    ];

    /// <summary>Silences not yet ended at <paramref name="now"/> (a worker needs no more).</summary>
    public async Task<IReadOnlyList<Silence>> ActiveSilencesAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var rows = await clickHouse.QueryAsync(
            $"SELECT * FROM alert_silences FINAL WHERE ends_at > {now.ToUnixTimeSeconds()} ORDER BY silence_id", cancellationToken);
        return rows.Select(FromSilenceRow).OfType<Silence>().ToList();
    }

    /// <summary>Every silence, newest first (<c>pipeline alerts silences --all</c>).</summary>
    public async Task<IReadOnlyList<Silence>> AllSilencesAsync(CancellationToken cancellationToken)
    {
        var rows = await clickHouse.QueryAsync("SELECT * FROM alert_silences FINAL ORDER BY created_at DESC, silence_id LIMIT 1000", cancellationToken);
        return rows.Select(FromSilenceRow).OfType<Silence>().ToList();
    }

    /// <summary>The acknowledgements of incidents that have not resolved (a worker needs no more).</summary>
    public async Task<IReadOnlyList<Acknowledgement>> OpenAcknowledgementsAsync(CancellationToken cancellationToken)
    {
        var rows = await clickHouse.QueryAsync(
            "SELECT alert_id, acked_by, acked_at, note FROM alert_acks FINAL WHERE alert_id NOT IN (SELECT alert_id FROM alerts WHERE state = 'RESOLVED')",
            cancellationToken);
        return rows.Select(FromAckRow).ToList();
    }

    /// <summary>The acknowledgement of one incident, or null.</summary>
    public async Task<Acknowledgement?> FindAcknowledgementAsync(string alertId, CancellationToken cancellationToken)
    {
        var rows = await clickHouse.QueryAsync(
            $"SELECT alert_id, acked_by, acked_at, note FROM alert_acks FINAL WHERE alert_id = {ClickHouseHttp.Quote(alertId)}", cancellationToken);
        return rows.Count == 0 ? null : FromAckRow(rows[0]);
    }

    /// <summary>Every acknowledgement of the given incidents, oldest first (a second ack does not erase the first).</summary>
    public async Task<IReadOnlyList<Acknowledgement>> AcknowledgementHistoryAsync(IReadOnlyCollection<string> alertIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(alertIds);
        if (alertIds.Count == 0) return [];
        var rows = await clickHouse.QueryAsync(
            $"SELECT alert_id, acked_by, acked_at, note FROM alert_ack_log FINAL WHERE alert_id IN ({string.Join(", ", alertIds.Distinct().Select(ClickHouseHttp.Quote))}) ORDER BY alert_id, version",
            cancellationToken);
        return rows.Select(FromAckRow).ToList();
    }

    /// <summary>
    /// Records an acknowledgement of <paramref name="alertId"/> and marks its rows in <c>alerts</c> (the worker
    /// marks its later records itself). Throws <see cref="InvalidOperationException"/> for an unknown alert id.
    /// </summary>
    public async Task<(Acknowledgement Ack, Alert Alert)> AcknowledgeAsync(string alertId, string by, string note, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(alertId);
        var rows = await clickHouse.QueryAsync(
            $"SELECT * FROM alerts FINAL WHERE alert_id = {ClickHouseHttp.Quote(alertId)} ORDER BY state", cancellationToken);
        if (rows.Count == 0)
        {
            throw new InvalidOperationException($"no alert with id '{alertId}' (see 'pipeline alerts list --json' for alert ids)");
        }
        var alerts = rows.Select(AlertRows.FromRow).ToList();
        var now = time.GetUtcNow();
        var at = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds());
        var ack = new Acknowledgement(alertId, by, at, note);
        object?[] row = [alertId, alerts[0].Fingerprint, alerts[0].RuleId, by, at.UtcDateTime, note, (ulong)now.ToUnixTimeMilliseconds()];
        // History first: an ack that reached alert_acks (what workers apply) is always in the history too.
        await clickHouse.InsertAsync("alert_ack_log", AckColumns, [row], cancellationToken);
        await clickHouse.InsertAsync("alert_acks", AckColumns, [row], cancellationToken);
        // Same key, a later recorded_at (one second on, so a worker's row of this very second cannot win a tie):
        // the marked copy replaces each row of the incident.
        var marked = alerts.Select(a => a with { AckedBy = by, AckedAt = at, AckNote = note.Length > 0 ? note : null }).ToList();
        await clickHouse.InsertAsync("alerts", AlertRows.Columns, marked.Select(a => AlertRows.ToRow(a, now.AddSeconds(1))).ToList(), cancellationToken);
        return (ack, marked[0]);
    }

    /// <summary>Records a silence starting now; returns it with its new id.</summary>
    public async Task<Silence> AddSilenceAsync(SilenceMatcher matcher, TimeSpan duration, string by, string reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(matcher);
        if (duration <= TimeSpan.Zero || duration > MaxSilence)
        {
            throw new ArgumentOutOfRangeException(nameof(duration), $"a silence lasts more than 0 and at most {Durations.Format(MaxSilence)}");
        }
        var now = time.GetUtcNow();
        var start = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds());
        var silence = new Silence(Guid.NewGuid().ToString("N")[..12], matcher, start, start + duration, by, reason);
        await WriteAsync(silence, now, cancellationToken);
        return silence;
    }

    /// <summary>
    /// Ends a silence now. Returns it as it was before (null when no such id), and whether this call ended it
    /// (false when it had already ended).
    /// </summary>
    public async Task<(Silence? Silence, bool Ended)> EndSilenceAsync(string silenceId, string by, CancellationToken cancellationToken)
    {
        var rows = await clickHouse.QueryAsync($"SELECT * FROM alert_silences FINAL WHERE silence_id = {ClickHouseHttp.Quote(silenceId)}", cancellationToken);
        if (rows.Count == 0 || FromSilenceRow(rows[0]) is not { } silence) return (null, false);
        var now = time.GetUtcNow();
        if (silence.EndsAt <= now) return (silence, false);
        var end = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds());
        await WriteAsync(silence with { EndsAt = end < silence.StartsAt ? silence.StartsAt : end, EndedBy = by }, now, cancellationToken);
        return (silence, true);
    }

    private Task<long> WriteAsync(Silence s, DateTimeOffset now, CancellationToken cancellationToken) =>
        clickHouse.InsertAsync("alert_silences", SilenceColumns,
        [[
            s.Id, s.Matcher.Fields.Select(f => f.Key).ToArray(), s.Matcher.Fields.Select(f => f.Value).ToArray(),
            s.StartsAt.UtcDateTime, s.EndsAt.UtcDateTime, s.CreatedBy, s.Reason, s.StartsAt.UtcDateTime, s.EndedBy,
            (ulong)now.ToUnixTimeMilliseconds(),
        ]], cancellationToken);

    // A stored row whose matcher this version cannot read (a key added later) is skipped, never half-applied.
    private static Silence? FromSilenceRow(JsonElement r)
    {
        var keys = r.GetProperty("matcher_keys").EnumerateArray().Select(e => e.GetString() ?? "");
        var values = r.GetProperty("matcher_values").EnumerateArray().Select(e => e.GetString() ?? "");
        if (!SilenceMatcher.TryCreate(keys.Zip(values, (k, v) => new KeyValuePair<string, string>(k, v)), out var matcher, out _)) return null;
        return new Silence(r.GetProperty("silence_id").GetString()!, matcher!, AlertRows.Time(r.GetProperty("starts_at").GetString()!),
            AlertRows.Time(r.GetProperty("ends_at").GetString()!), r.GetProperty("created_by").GetString() ?? "", r.GetProperty("reason").GetString() ?? "")
        {
            EndedBy = r.GetProperty("ended_by").GetString() ?? "",
        };
    }

    private static Acknowledgement FromAckRow(JsonElement r) => new(
        r.GetProperty("alert_id").GetString()!, r.GetProperty("acked_by").GetString() ?? "",
        AlertRows.Time(r.GetProperty("acked_at").GetString()!), r.GetProperty("note").GetString() ?? "");
}
