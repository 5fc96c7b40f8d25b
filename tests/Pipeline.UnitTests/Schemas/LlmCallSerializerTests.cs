using System.Text.Json;
using System.Text.Json.Nodes;
using Avro;
using Avro.Generic;
using Avro.IO;
using FsCheck;
using Outcome = Pipeline.Schemas.Outcome;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.UnitTests.Schemas;

public sealed class LlmCallSerializerTests
{
    private readonly LlmCallSerializer _serializer = new();

    [Fact]
    public void Serialize_FullEvent_RoundTripsEveryField()
    {
        var call = Samples.FullCall();
        var bytes = _serializer.Serialize(call);
        var back = _serializer.Deserialize(bytes);
        Assert.Equivalent(call, back, strict: true);
    }

    [Fact]
    public void Serialize_MinimalEvent_RoundTripsWithDefaults()
    {
        var call = Samples.MinimalCall();
        var back = _serializer.Deserialize(_serializer.Serialize(call));
        Assert.Equivalent(call, back, strict: true);
        Assert.Null(back.ErrorType);
        Assert.Equal(1.0, back.SampleRate);
        Assert.Empty(back.Stages);
    }

    [Fact]
    public void Serialize_WritesConfluentHeader()
    {
        var bytes = _serializer.Serialize(Samples.MinimalCall());
        Assert.Equal(0, bytes[0]);
        Assert.Equal(SchemaCatalog.LlmCallV1, WireFormat.ReadSchemaId(bytes));
    }

    [Theory]
    [InlineData(new byte[0], DecodeFailure.TooShort)]
    [InlineData(new byte[] { 0, 0, 0 }, DecodeFailure.TooShort)]
    [InlineData(new byte[] { 1, 0, 0, 0, 1, 2 }, DecodeFailure.BadMagicByte)]
    [InlineData(new byte[] { 0, 0, 0, 0x30, 0x39, 2 }, DecodeFailure.UnknownSchemaId)]
    public void Deserialize_BadHeader_ThrowsWithReason(byte[] bytes, DecodeFailure expected)
    {
        var ex = Assert.Throws<EventDecodeException>(() => _serializer.Deserialize(bytes));
        Assert.Equal(expected, ex.Failure);
        Assert.False(string.IsNullOrWhiteSpace(ex.Message));
    }

    [Theory]
    [InlineData(SchemaCatalog.WindowAggregateV1)]
    [InlineData(SchemaCatalog.AlertV1)]
    public void Deserialize_FramedWithAnotherCatalogueSchema_IsSchemaMismatch(int schemaId)
    {
        var bytes = _serializer.Serialize(Samples.FullCall());
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(1, 4), schemaId);
        // Twice: a failed reader is not cached as a half-built one.
        for (var i = 0; i < 2; i++)
        {
            var ex = Assert.Throws<EventDecodeException>(() => _serializer.Deserialize(bytes));
            Assert.Equal(DecodeFailure.SchemaMismatch, ex.Failure);
        }
    }

    [Fact]
    public void Deserialize_HugeLengthPrefix_RefusedBeforeAllocating()
    {
        // event_id is a string: a length prefix of about 1 GB behind a valid header, and three bytes of body.
        byte[] bytes = [0, 0, 0, 0, (byte)SchemaCatalog.LlmCallV1, 0xfe, 0xff, 0xff, 0xff, 0x07, 1, 2, 3];
        var before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<EventDecodeException>(() => _serializer.Deserialize(bytes));
        Assert.Equal(DecodeFailure.MalformedAvro, ex.Failure);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1_000_000, "the decoder allocated for the hostile length");
    }

    [Fact]
    public void Deserialize_TruncatedBody_IsMalformedAvro()
    {
        var bytes = _serializer.Serialize(Samples.FullCall());
        for (var cut = WireFormat.HeaderLength; cut < bytes.Length; cut += 7)
        {
            var ex = Assert.Throws<EventDecodeException>(() => _serializer.Deserialize(bytes.AsMemory(0, cut)));
            Assert.Equal(DecodeFailure.MalformedAvro, ex.Failure);
        }
    }

    [Fact]
    public void Deserialize_TrailingBytes_IsMalformedAvro()
    {
        var bytes = _serializer.Serialize(Samples.MinimalCall()).Concat(new byte[] { 1, 2, 3 }).ToArray();
        var ex = Assert.Throws<EventDecodeException>(() => _serializer.Deserialize(bytes));
        Assert.Equal(DecodeFailure.MalformedAvro, ex.Failure);
    }

    [Property(MaxTest = 300)]
    public bool Deserialize_RandomBytes_NeverThrowsAnythingElse(byte[] body, bool validHeader)
    {
        var bytes = validHeader ? new byte[] { 0, 0, 0, 0, 1 }.Concat(body).ToArray() : body;
        try
        {
            _serializer.Deserialize(bytes);
            return true;
        }
        catch (EventDecodeException)
        {
            return true;
        }
    }

    [Property(MaxTest = 200)]
    public bool Serialize_ArbitraryValues_RoundTrip(NonEmptyString prompt, NonNegativeInt tokens, double latency, bool error)
    {
        var call = Samples.FullCall() with
        {
            PromptName = prompt.Get,
            InputTokens = tokens.Get,
            LatencyMs = latency,
            Outcome = error ? Outcome.Error : Outcome.Success,
            EventId = Guid.NewGuid(),
        };
        var back = _serializer.Deserialize(_serializer.Serialize(call));
        return back.PromptName == call.PromptName && back.InputTokens == call.InputTokens
            && back.LatencyMs.Equals(call.LatencyMs) && back.Outcome == call.Outcome && back.EventId == call.EventId;
    }

    [Fact]
    public void Evolution_NewWriterWithExtraField_OldReaderReadsIt()
    {
        // A future schema adds an optional field; today's consumers must still read its records.
        var json = JsonNode.Parse(SchemaCatalog.ReadSchemaText("llm_call.avsc"))!;
        json["fields"]!.AsArray().Add(JsonNode.Parse("""{ "name": "region", "type": ["null", "string"], "default": null }"""));
        var future = (RecordSchema)Schema.Parse(json.ToJsonString());
        SchemaCatalog.Register(9001, future);

        var current = _serializer.Serialize(Samples.FullCall());
        var record = new GenericDatumReader<GenericRecord>(SchemaCatalog.LlmCall, future)
            .Read(null!, new BinaryDecoder(new MemoryStream(current[WireFormat.HeaderLength..])));
        record.Add("region", "eu-west-1");
        var bytes = Frame(9001, future, record);

        Assert.Equivalent(Samples.FullCall(), _serializer.Deserialize(bytes), strict: true);
    }

    [Fact]
    public void Evolution_OldWriterWithoutDefaultedFields_NewReaderFillsDefaults()
    {
        // An older schema without the fields added later with defaults: today's reader fills them.
        var json = JsonNode.Parse(SchemaCatalog.ReadSchemaText("llm_call.avsc"))!;
        var fields = json["fields"]!.AsArray();
        foreach (var name in new[] { "custom", "sample_rate", "stages", "cache_hit" })
        {
            fields.Remove(fields.First(f => f!["name"]!.GetValue<string>() == name));
        }
        var past = (RecordSchema)Schema.Parse(json.ToJsonString());
        SchemaCatalog.Register(9002, past);

        var current = _serializer.Serialize(Samples.FullCall());
        var record = new GenericDatumReader<GenericRecord>(SchemaCatalog.LlmCall, past)
            .Read(null!, new BinaryDecoder(new MemoryStream(current[WireFormat.HeaderLength..])));
        var back = _serializer.Deserialize(Frame(9002, past, record));

        Assert.Equal(Samples.FullCall().PromptName, back.PromptName);
        Assert.Equal(1.0, back.SampleRate);
        Assert.Empty(back.Custom);
        Assert.Empty(back.Stages);
        Assert.False(back.CacheHit);
    }

    [Fact]
    public void Schema_FieldNames_FollowOpenTelemetryGenAiDocs()
    {
        using var doc = JsonDocument.Parse(SchemaCatalog.ReadSchemaText("llm_call.avsc"));
        var docs = doc.RootElement.GetProperty("fields").EnumerateArray()
            .Where(f => f.TryGetProperty("doc", out _))
            .ToDictionary(f => f.GetProperty("name").GetString()!, f => f.GetProperty("doc").GetString()!);
        Assert.Contains("gen_ai.operation.name", docs["operation"], StringComparison.Ordinal);
        Assert.Contains("gen_ai.request.model", docs["request_model"], StringComparison.Ordinal);
        Assert.Contains("gen_ai.usage.input_tokens", docs["input_tokens"], StringComparison.Ordinal);
        Assert.Contains("error.type", docs["error_type"], StringComparison.Ordinal);
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
