using System.Collections.Concurrent;
using Avro;

namespace Pipeline.Schemas;

/// <summary>
/// The fixed catalogue of schema ids used when no Schema Registry is configured.
/// Ids never change meaning: a new schema version gets a new id and old ids stay readable.
/// </summary>
public static class SchemaCatalog
{
    /// <summary>Schema id of <c>llm_call.avsc</c>, version 1.</summary>
    public const int LlmCallV1 = 1;

    /// <summary>Schema id of <c>window_aggregate.avsc</c>, version 1.</summary>
    public const int WindowAggregateV1 = 2;

    /// <summary>Schema id of <c>alert.v1.avsc</c>, version 1 of the alert (read, no longer written).</summary>
    public const int AlertV1 = 3;

    /// <summary>Schema id of <c>alert.v2.avsc</c>, version 2 (adds <c>silence_id</c>, <c>acked_by</c>, <c>acked_at</c>, <c>ack_note</c>; read, no longer written).</summary>
    public const int AlertV2 = 4;

    /// <summary>Schema id of <c>alert.avsc</c>, version 3 (adds <c>inhibited_by</c>).</summary>
    public const int AlertV3 = 5;

    /// <summary>Topic names of the pipeline.</summary>
    public static class Topics
    {
        /// <summary>Raw LLM call events, keyed by series key.</summary>
        public const string Calls = "llm.calls.v1";
        /// <summary>Records that could not be decoded or validated, with reason headers.</summary>
        public const string CallsDeadLetter = "llm.calls.dlq.v1";
        /// <summary>Closed one-minute window aggregates.</summary>
        public const string Metrics1m = "llm.metrics.1m.v1";
        /// <summary>Alert state changes.</summary>
        public const string Alerts = "llm.alerts.v1";
    }

    private static readonly ConcurrentDictionary<int, Schema> ById = new();

    /// <summary>The current (reader) schema of <see cref="LlmCall"/>.</summary>
    public static RecordSchema LlmCall { get; } = (RecordSchema)Load("llm_call.avsc");

    /// <summary>The current schema of <see cref="WindowAggregate"/>.</summary>
    public static RecordSchema WindowAggregate { get; } = (RecordSchema)Load("window_aggregate.avsc");

    /// <summary>The current schema of <see cref="Alert"/> (id <see cref="AlertV3"/>).</summary>
    public static RecordSchema Alert { get; } = (RecordSchema)Load("alert.avsc");

    /// <summary>Version 1 of the alert schema, kept so that records written with it stay readable.</summary>
    public static RecordSchema AlertVersion1 { get; } = (RecordSchema)Load("alert.v1.avsc");

    /// <summary>Version 2 of the alert schema, kept so that records written with it stay readable.</summary>
    public static RecordSchema AlertVersion2 { get; } = (RecordSchema)Load("alert.v2.avsc");

    /// <summary>Registers an extra writer schema under an id (tests of evolution, registry lookups).</summary>
    public static void Register(int id, Schema schema) => ById[id] = schema;

    /// <summary>The writer schema stored under <paramref name="id"/>, or null when unknown.</summary>
    public static Schema? Find(int id) => ById.TryGetValue(id, out var s) ? s : null;

    static SchemaCatalog()
    {
        ById[LlmCallV1] = LlmCall;
        ById[WindowAggregateV1] = WindowAggregate;
        ById[AlertV1] = AlertVersion1;
        ById[AlertV2] = AlertVersion2;
        ById[AlertV3] = Alert;
    }

    /// <summary>Reads one of the embedded <c>.avsc</c> files.</summary>
    public static string ReadSchemaText(string fileName)
    {
        using var stream = typeof(SchemaCatalog).Assembly.GetManifestResourceStream(fileName)
            ?? throw new InvalidOperationException($"Schema resource '{fileName}' is not embedded in {typeof(SchemaCatalog).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static Schema Load(string fileName) => Schema.Parse(ReadSchemaText(fileName));
}
