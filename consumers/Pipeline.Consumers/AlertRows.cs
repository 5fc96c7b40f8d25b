using System.Globalization;
using System.Text.Json;
using Pipeline.ClickHouse;
using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>The one mapping between <see cref="Alert"/> and a row of the ClickHouse <c>alerts</c> table, both ways.</summary>
public static class AlertRows
{
    /// <summary>Every column the pipeline writes, with its ClickHouse type (RowBinary needs them).</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Columns { get; } =
    [
        new("alert_id", "String"), new("rule_id", "String"), new("fingerprint", "String"),
        new("state", "Enum8('FIRING' = 1, 'RESOLVED' = 2)"), new("severity", "Enum8('INFO' = 1, 'WARNING' = 2, 'ERROR' = 3, 'CRITICAL' = 4)"),
        new("environment", "String"), new("service", "String"), new("prompt_name", "String"), new("prompt_version", "String"), new("request_model", "String"),
        new("metric", "String"), new("observed", "Float64"), new("baseline", "Nullable(Float64)"), new("threshold", "Float64"),
        new("window_start", "DateTime"), new("window_end", "DateTime"), new("started_at", "DateTime"), new("resolved_at", "Nullable(DateTime)"),
        new("summary", "String"), new("runbook_url", "String"), new("label_keys", "Array(String)"), new("label_values", "Array(String)"),
        new("recorded_at", "DateTime"),
        new("silence_id", "String"), new("acked_by", "String"), new("acked_at", "Nullable(DateTime)"), new("ack_note", "String"),
        new("inhibited_by", "String"),
    ];

    /// <summary>The row of <paramref name="a"/>, recorded at <paramref name="recordedAt"/> (the ReplacingMergeTree version).</summary>
    public static object?[] ToRow(Alert a, DateTimeOffset recordedAt)
    {
        ArgumentNullException.ThrowIfNull(a);
        return
        [
            a.AlertId, a.RuleId, a.Fingerprint, a.State == AlertState.Firing ? "FIRING" : "RESOLVED", a.Severity,
            a.Series.Environment, a.Series.Service, a.Series.PromptName, a.Series.PromptVersion, a.Series.RequestModel,
            a.Metric, a.Observed, a.Baseline, a.Threshold, a.WindowStart.UtcDateTime, a.WindowEnd.UtcDateTime, a.StartedAt.UtcDateTime,
            a.ResolvedAt?.UtcDateTime, a.Summary, a.RunbookUrl ?? "", a.Labels.Keys.ToArray(), a.Labels.Values.ToArray(), recordedAt.UtcDateTime,
            a.SilenceId ?? "", a.AckedBy ?? "", a.AckedAt?.UtcDateTime, a.AckNote ?? "", a.InhibitedBy ?? "",
        ];
    }

    /// <summary>An alert from a row of <c>SELECT * FROM alerts</c>; columns a row lacks (older tables) read as absent.</summary>
    public static Alert FromRow(JsonElement r)
    {
        var labelKeys = Strings(r, "label_keys");
        var labelValues = Strings(r, "label_values");
        return new Alert
        {
            AlertId = Text(r, "alert_id"),
            RuleId = Text(r, "rule_id"),
            Fingerprint = Text(r, "fingerprint"),
            State = Text(r, "state") == "FIRING" ? AlertState.Firing : AlertState.Resolved,
            Severity = Text(r, "severity"),
            Series = new SeriesKey(Text(r, "environment"), Text(r, "service"), Text(r, "prompt_name"), Text(r, "prompt_version"), Text(r, "request_model")),
            Metric = Text(r, "metric"),
            Observed = StoredValues.Number(r, "observed"),
            Baseline = r.TryGetProperty("baseline", out var b) && b.ValueKind != JsonValueKind.Null ? StoredValues.Number(b) : null,
            Threshold = StoredValues.Number(r, "threshold"),
            WindowStart = Time(Text(r, "window_start")),
            WindowEnd = Time(Text(r, "window_end")),
            StartedAt = Time(Text(r, "started_at")),
            ResolvedAt = OptionalTime(r, "resolved_at"),
            Summary = Text(r, "summary"),
            RunbookUrl = NullIfEmpty(Text(r, "runbook_url")),
            Labels = labelKeys.Zip(labelValues).GroupBy(kv => kv.First).ToDictionary(g => g.Key, g => g.First().Second),
            SilenceId = NullIfEmpty(Text(r, "silence_id")),
            AckedBy = NullIfEmpty(Text(r, "acked_by")),
            AckedAt = OptionalTime(r, "acked_at"),
            AckNote = NullIfEmpty(Text(r, "ack_note")),
            InhibitedBy = NullIfEmpty(Text(r, "inhibited_by")),
        };
    }

    /// <summary>A ClickHouse DateTime as JSONEachRow prints it (<c>yyyy-MM-dd HH:mm:ss</c>, the server is UTC).</summary>
    public static DateTimeOffset Time(string s) =>
        DateTimeOffset.ParseExact(s, "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    private static DateTimeOffset? OptionalTime(JsonElement r, string name) =>
        r.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String ? Time(e.GetString()!) : null;

    private static string Text(JsonElement r, string name) =>
        r.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String ? e.GetString()! : "";

    private static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;

    private static List<string> Strings(JsonElement r, string name) =>
        r.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.Array ? e.EnumerateArray().Select(v => v.GetString() ?? "").ToList() : [];
}
