// Field meanings are documented once, in schemas/alert.avsc.
#pragma warning disable CS1591
using System.Collections.Concurrent;
using Avro;
using Avro.Generic;

namespace Pipeline.Schemas;

/// <summary>State of an alert record.</summary>
public enum AlertState
{
    Firing,
    Resolved,
}

/// <summary>An alert state change, as carried on <c>llm.alerts.v1</c> (<c>schemas/alert.avsc</c>).</summary>
public sealed record Alert
{
    public required string AlertId { get; init; }
    public required string RuleId { get; init; }
    public required string Fingerprint { get; init; }
    public required AlertState State { get; init; }
    /// <summary>INFO, WARNING, ERROR or CRITICAL.</summary>
    public required string Severity { get; init; }
    public required SeriesKey Series { get; init; }
    public required string Metric { get; init; }
    public double Observed { get; init; }
    public double? Baseline { get; init; }
    public double Threshold { get; init; }
    public DateTimeOffset WindowStart { get; init; }
    public DateTimeOffset WindowEnd { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset? ResolvedAt { get; init; }
    public string Summary { get; init; } = "";
    public string? RunbookUrl { get; init; }
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    /// <summary>The silence that matched when the record was made (no webhook was sent), or null.</summary>
    public string? SilenceId { get; init; }
    public string? AckedBy { get; init; }
    public DateTimeOffset? AckedAt { get; init; }
    public string? AckNote { get; init; }
    /// <summary>The open incident of a related rule that inhibited this record (no webhook was sent), or null.</summary>
    public string? InhibitedBy { get; init; }
}

/// <summary>
/// Confluent-framed Avro for <see cref="Alert"/>: writes catalogue id 5 (<c>alert.avsc</c>); reads any alert
/// schema by its id (ids 3 and 4, <c>alert.v1.avsc</c> and <c>alert.v2.avsc</c>, and later versions registered in the catalogue), resolving
/// it to the current schema, so fields added with defaults read as their defaults. Thread-safe.
/// </summary>
public sealed class AlertSerializer
{
    private static readonly string[] Severities = ["INFO", "WARNING", "ERROR", "CRITICAL"];
    private readonly RecordSchema _schema = SchemaCatalog.Alert;
    private readonly GenericDatumWriter<GenericRecord> _writer;
    private readonly ConcurrentDictionary<int, GenericDatumReader<GenericRecord>> _readers = new();
    private readonly EnumSchema _stateSchema;
    private readonly EnumSchema _severitySchema;

    public AlertSerializer()
    {
        _writer = new GenericDatumWriter<GenericRecord>(_schema);
        _stateSchema = (EnumSchema)_schema["state"].Schema;
        _severitySchema = (EnumSchema)_schema["severity"].Schema;
    }

    public byte[] Serialize(Alert a)
    {
        ArgumentNullException.ThrowIfNull(a);
        if (!Severities.Contains(a.Severity)) throw new ArgumentException($"unknown severity '{a.Severity}'", nameof(a));
        var r = new GenericRecord(_schema);
        r.Add("alert_id", a.AlertId);
        r.Add("rule_id", a.RuleId);
        r.Add("fingerprint", a.Fingerprint);
        r.Add("state", new GenericEnum(_stateSchema, a.State == AlertState.Firing ? "FIRING" : "RESOLVED"));
        r.Add("severity", new GenericEnum(_severitySchema, a.Severity));
        r.Add("environment", a.Series.Environment);
        r.Add("service", a.Series.Service);
        r.Add("prompt_name", a.Series.PromptName);
        r.Add("prompt_version", a.Series.PromptVersion);
        r.Add("request_model", a.Series.RequestModel);
        r.Add("metric", a.Metric);
        r.Add("observed", a.Observed);
        r.Add("baseline", a.Baseline);
        r.Add("threshold", a.Threshold);
        r.Add("window_start", a.WindowStart.UtcDateTime);
        r.Add("window_end", a.WindowEnd.UtcDateTime);
        r.Add("started_at", a.StartedAt.UtcDateTime);
        r.Add("resolved_at", a.ResolvedAt?.UtcDateTime);
        r.Add("summary", a.Summary);
        r.Add("runbook_url", a.RunbookUrl);
        r.Add("labels", a.Labels.ToDictionary(kv => kv.Key, kv => (object)kv.Value));
        r.Add("silence_id", a.SilenceId);
        r.Add("acked_by", a.AckedBy);
        r.Add("acked_at", a.AckedAt?.UtcDateTime);
        r.Add("ack_note", a.AckNote);
        r.Add("inhibited_by", a.InhibitedBy);
        return WireFormat.Frame(SchemaCatalog.AlertV3, _writer, r);
    }

    public Alert Deserialize(ReadOnlyMemory<byte> bytes)
    {
        var id = WireFormat.ReadSchemaId(bytes.Span);
        if (!_readers.TryGetValue(id, out var reader))
        {
            reader = ReaderFor(id) ?? throw new EventDecodeException(DecodeFailure.UnknownSchemaId, $"schema id {id} is not an alert");
            _readers[id] = reader;
        }
        var r = WireFormat.Unframe(bytes, id, reader, "an alert");
        static DateTimeOffset T(object o) => new(DateTime.SpecifyKind((DateTime)o, DateTimeKind.Utc));

        return new Alert
        {
            AlertId = (string)r["alert_id"],
            RuleId = (string)r["rule_id"],
            Fingerprint = (string)r["fingerprint"],
            State = ((GenericEnum)r["state"]).Value == "FIRING" ? AlertState.Firing : AlertState.Resolved,
            Severity = ((GenericEnum)r["severity"]).Value,
            Series = new SeriesKey((string)r["environment"], (string)r["service"], (string)r["prompt_name"], (string)r["prompt_version"], (string)r["request_model"]),
            Metric = (string)r["metric"],
            Observed = (double)r["observed"],
            Baseline = (double?)r["baseline"],
            Threshold = (double)r["threshold"],
            WindowStart = T(r["window_start"]),
            WindowEnd = T(r["window_end"]),
            StartedAt = T(r["started_at"]),
            ResolvedAt = r["resolved_at"] is { } resolved ? T(resolved) : null,
            Summary = (string)r["summary"],
            RunbookUrl = (string?)r["runbook_url"],
            Labels = ((IDictionary<string, object>)r["labels"]).ToDictionary(kv => kv.Key, kv => (string)kv.Value),
            // The reader schema is the current one: fields an older writer lacked hold their defaults (null).
            SilenceId = (string?)r["silence_id"],
            AckedBy = (string?)r["acked_by"],
            AckedAt = r["acked_at"] is { } acked ? T(acked) : null,
            AckNote = (string?)r["ack_note"],
            InhibitedBy = (string?)r["inhibited_by"],
        };
    }

    // Any catalogued schema of the alert record (same full name) resolves to the current one; anything else is not an alert.
    private GenericDatumReader<GenericRecord>? ReaderFor(int id) =>
        SchemaCatalog.Find(id) is RecordSchema writer && writer.Fullname == _schema.Fullname
            ? new GenericDatumReader<GenericRecord>(writer, _schema)
            : null;
}
