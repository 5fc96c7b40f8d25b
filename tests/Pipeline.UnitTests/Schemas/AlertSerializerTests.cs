using System.Text.Json.Nodes;
using Avro;
using Avro.Generic;
using Avro.IO;
using Pipeline.Schemas;

namespace Pipeline.UnitTests.Schemas;

public sealed class AlertSerializerTests
{
    private readonly AlertSerializer _serializer = new();

    private static Alert Sample() => new()
    {
        AlertId = "a1b2c3", RuleId = "latency_p95_regression", Fingerprint = "f00d", State = AlertState.Firing, Severity = "ERROR",
        Series = new SeriesKey("prod", "svc", "answer", "2.0", "gpt-4o"), Metric = "latency_p95", Observed = 2100, Baseline = 840, Threshold = 1680,
        WindowStart = new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero), WindowEnd = new DateTimeOffset(2026, 12, 1, 10, 5, 0, TimeSpan.Zero),
        StartedAt = new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero), Summary = "slow", RunbookUrl = "https://example.test/runbook",
        Labels = new Dictionary<string, string> { ["team"] = "search" },
        SilenceId = "s1", AckedBy = "alice", AckedAt = new DateTimeOffset(2026, 12, 1, 10, 7, 0, TimeSpan.Zero), AckNote = "rolling back",
        InhibitedBy = "0badc0ffee",
    };

    [Fact]
    public void Serialize_WithAckSilenceAndInhibition_RoundTripsUnderVersion3()
    {
        var bytes = _serializer.Serialize(Sample());
        Assert.Equal(SchemaCatalog.AlertV3, WireFormat.ReadSchemaId(bytes));
        Assert.Equivalent(Sample(), _serializer.Deserialize(bytes), strict: true);
    }

    [Fact]
    public void Evolution_Version1Record_NewReaderFillsDefaults()
    {
        // A record an older worker wrote (id 3, alert.v1.avsc, no silence or ack fields): read with them absent.
        var v1 = SchemaCatalog.AlertVersion1;
        Assert.Null(v1.Fields.FirstOrDefault(f => f.Name == "acked_by"));
        var record = new GenericDatumReader<GenericRecord>(SchemaCatalog.Alert, v1)
            .Read(null!, new BinaryDecoder(new MemoryStream(_serializer.Serialize(Sample())[WireFormat.HeaderLength..])));
        var back = _serializer.Deserialize(Frame(SchemaCatalog.AlertV1, v1, record));

        Assert.Equivalent(Sample() with { SilenceId = null, AckedBy = null, AckedAt = null, AckNote = null, InhibitedBy = null }, back, strict: true);
    }

    [Fact]
    public void Evolution_Version2Record_NewReaderReadsNoInhibition()
    {
        // A record a worker of the previous release wrote (id 4, alert.v2.avsc): acks and silences kept, inhibited_by absent.
        var v2 = SchemaCatalog.AlertVersion2;
        Assert.Null(v2.Fields.FirstOrDefault(f => f.Name == "inhibited_by"));
        var record = new GenericDatumReader<GenericRecord>(SchemaCatalog.Alert, v2)
            .Read(null!, new BinaryDecoder(new MemoryStream(_serializer.Serialize(Sample())[WireFormat.HeaderLength..])));
        var back = _serializer.Deserialize(Frame(SchemaCatalog.AlertV2, v2, record));
        Assert.Equivalent(Sample() with { InhibitedBy = null }, back, strict: true);
    }

    [Fact]
    public void Evolution_Version3Record_Version2ReaderReadsIt()
    {
        var old = new GenericDatumReader<GenericRecord>(SchemaCatalog.Alert, SchemaCatalog.AlertVersion2)
            .Read(null!, new BinaryDecoder(new MemoryStream(_serializer.Serialize(Sample())[WireFormat.HeaderLength..])));
        Assert.Equal("alice", old["acked_by"]);
        Assert.False(old.TryGetValue("inhibited_by", out _));
    }

    [Fact]
    public void Evolution_Version2Record_Version1ReaderReadsIt()
    {
        // A consumer still on version 1 (resolving through a registry) reads today's records, ignoring the new fields.
        var bytes = _serializer.Serialize(Sample());
        var old = new GenericDatumReader<GenericRecord>(SchemaCatalog.Alert, SchemaCatalog.AlertVersion1)
            .Read(null!, new BinaryDecoder(new MemoryStream(bytes[WireFormat.HeaderLength..])));
        Assert.Equal("a1b2c3", old["alert_id"]);
        Assert.Equal("https://example.test/runbook", old["runbook_url"]);
        Assert.False(old.TryGetValue("acked_by", out _));
    }

    [Fact]
    public void Evolution_NewWriterWithExtraField_CurrentReaderReadsIt()
    {
        var json = JsonNode.Parse(SchemaCatalog.ReadSchemaText("alert.avsc"))!;
        json["fields"]!.AsArray().Add(JsonNode.Parse("""{ "name": "escalation", "type": ["null", "string"], "default": null }"""));
        var future = (RecordSchema)Schema.Parse(json.ToJsonString());
        SchemaCatalog.Register(9101, future);
        var record = new GenericDatumReader<GenericRecord>(SchemaCatalog.Alert, future)
            .Read(null!, new BinaryDecoder(new MemoryStream(_serializer.Serialize(Sample())[WireFormat.HeaderLength..])));
        record.Add("escalation", "tier-2");

        Assert.Equivalent(Sample(), _serializer.Deserialize(Frame(9101, future, record)), strict: true);
    }

    [Theory]
    [InlineData(SchemaCatalog.LlmCallV1)]
    [InlineData(SchemaCatalog.WindowAggregateV1)]
    [InlineData(777)]
    public void Deserialize_NotAnAlertSchema_UnknownSchemaId(int id)
    {
        var bytes = _serializer.Serialize(Sample());
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(1, 4), id);
        var ex = Assert.Throws<EventDecodeException>(() => _serializer.Deserialize(bytes));
        Assert.Equal(DecodeFailure.UnknownSchemaId, ex.Failure);
    }

    private static byte[] Frame(int id, Schema schema, GenericRecord record)
    {
        using var stream = new MemoryStream();
        var header = new byte[WireFormat.HeaderLength];
        WireFormat.WriteHeader(header, id);
        stream.Write(header);
        new GenericDatumWriter<GenericRecord>(schema).Write(record, new BinaryEncoder(stream));
        return stream.ToArray();
    }
}
