using System.Text.Json.Nodes;
using Avro;
using FsCheck.Xunit;
using Pipeline.Schemas;
using Pipeline.Tests;
using Outcome = Pipeline.Schemas.Outcome;

namespace Pipeline.UnitTests.Schemas;

/// <summary>
/// The hand-written codec against Apache.Avro, the reference: the same bytes for every event, equal events
/// back, and never a record the reference would read differently.
/// </summary>
public sealed class LlmCallCodecTests
{
    private readonly LlmCallSerializer _serializer = new();

    [Fact]
    public void Fingerprint_IsTheAvscs_SoAChangedSchemaFailsHereUntilTheCodecFollowsIt()
    {
        var actual = SchemaNormalization.ParsingFingerprint64(SchemaCatalog.LlmCall);
        Assert.True(actual == LlmCallCodec.Fingerprint,
            $"schemas/llm_call.avsc changed (fingerprint 0x{actual:x16}, codec 0x{LlmCallCodec.Fingerprint:x16}): " +
            "update LlmCallCodec's fields and its Fingerprint; until then the serializer uses Apache.Avro");
        Assert.True(_serializer.UsesCodec);
    }

    [Fact]
    public void FullAndMinimalEvents_SameBytesAsApacheAvro_AndBackEqual()
    {
        foreach (var call in new[] { Samples.FullCall(), Samples.MinimalCall() })
        {
            var bytes = _serializer.Serialize(call);
            Assert.Equal(_serializer.SerializeGeneric(call), bytes);
            Assert.Equivalent(call, _serializer.Deserialize(bytes), strict: true);
            Assert.Equivalent(_serializer.DeserializeGeneric(bytes), _serializer.Deserialize(bytes), strict: true);
        }
    }

    [Property(MaxTest = 500)]
    public bool RandomEvents_EncodeToApacheAvrosBytes_AndDecodeToEqualEvents(int seed)
    {
        var call = RandomCall(new Random(seed));
        var bytes = _serializer.Serialize(call);
        Assert.Equal(_serializer.SerializeGeneric(call), bytes);
        var reference = _serializer.DeserializeGeneric(bytes);
        var ours = _serializer.Deserialize(bytes);
        Assert.Equivalent(reference, ours, strict: true);
        // Bit for bit, -0.0 and NaN payloads included (Equivalent compares doubles by Equals).
        Assert.Equal(BitConverter.DoubleToInt64Bits(reference.LatencyMs), BitConverter.DoubleToInt64Bits(ours.LatencyMs));
        return true;
    }

    [Property(MaxTest = 1000)]
    public bool DamagedRecords_WhatTheCodecReads_TheReferenceReadsTheSame(int seed, byte value, int where, bool cut)
    {
        var random = new Random(seed);
        var bytes = _serializer.Serialize(RandomCall(random));
        var at = WireFormat.HeaderLength + (int)((uint)where % (uint)(bytes.Length - WireFormat.HeaderLength));
        if (cut)
        {
            bytes = bytes[..at];
        }
        else
        {
            bytes[at] = value;
        }
        LlmCall ours;
        try
        {
            ours = _serializer.Deserialize(bytes);
        }
        catch (EventDecodeException ex)
        {
            Assert.Equal(DecodeFailure.MalformedAvro, ex.Failure);
            return true;
        }
        // The codec is never more lenient than Apache.Avro, and never reads a value it would read otherwise.
        Assert.Equivalent(_serializer.DeserializeGeneric(bytes), ours, strict: true);
        return true;
    }

    [Theory]
    [InlineData(new byte[] { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 }, "longer than 64 bits")]
    [InlineData(new byte[] { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02 }, "longer than 64 bits")]
    [InlineData(new byte[] { 0x49 }, "length -37")]
    [InlineData(new byte[] { 0x08, (byte)'a', (byte)'b' }, "length 4 with 2 bytes left")]
    [InlineData(new byte[] { 0x06, (byte)'a', (byte)'b', (byte)'c' }, "not a UUID")]
    public void HostileBodies_AreMalformedWithWhereAndWhy(byte[] body, string reason)
    {
        var ex = Assert.Throws<EventDecodeException>(() => _serializer.Deserialize(Framed(body)));
        Assert.Equal(DecodeFailure.MalformedAvro, ex.Failure);
        Assert.Contains(reason, ex.Message);
        Assert.Contains("at byte", ex.Message);
    }

    [Fact]
    public void OutOfRangeValues_AreMalformed_NeverWrapped()
    {
        var good = _serializer.Serialize(Samples.MinimalCall());
        // The timestamp follows the 36-byte uuid string (1 length byte): replace it with long.MaxValue ms.
        var body = good[WireFormat.HeaderLength..].ToList();
        var tsStart = 1 + 36;
        var tsLength = 0;
        while ((body[tsStart + tsLength] & 0x80) != 0) tsLength++;
        body.RemoveRange(tsStart, tsLength + 1);
        body.InsertRange(tsStart, [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        var ex = Assert.Throws<EventDecodeException>(() => _serializer.Deserialize(Framed([.. body])));
        Assert.Contains("outside the representable dates", ex.Message);
    }

    [Fact]
    public void DuplicateMapKey_LastValueWins_AsInApacheAvro()
    {
        var call = Samples.MinimalCall() with { Tags = new Dictionary<string, string> { ["aa"] = "1", ["ab"] = "2" } };
        var bytes = _serializer.Serialize(call);
        var at = IndexOf(bytes, "ab"u8);
        bytes[at + 1] = (byte)'a';
        var ours = _serializer.Deserialize(bytes);
        Assert.Equal("2", Assert.Single(ours.Tags).Value);
        Assert.Equivalent(_serializer.DeserializeGeneric(bytes), ours, strict: true);
    }

    [Fact]
    public void RegistrySchemaWithTheSameFingerprint_DecodesThroughTheCodec_AnEvolvedOneThroughApacheAvro()
    {
        var evolved = JsonNode.Parse(SchemaCatalog.ReadSchemaText("llm_call.avsc"))!;
        evolved["fields"]!.AsArray().Add(JsonNode.Parse("""{ "name": "region", "type": ["null", "string"], "default": null }"""));
        var schemas = new Dictionary<int, Schema>
        {
            [101] = Schema.Parse(SchemaCatalog.ReadSchemaText("llm_call.avsc")),
            [102] = Schema.Parse(evolved.ToJsonString()),
        };
        var reader = new LlmCallSerializer(writerSchemas: (int id, out string? why) =>
        {
            why = null;
            return schemas.GetValueOrDefault(id);
        });
        var call = Samples.FullCall();
        var same = new LlmCallSerializer(schemaId: 101).Serialize(call);
        Assert.Equivalent(call, reader.Deserialize(same), strict: true);
        // The evolved writer appends a null union branch (one 0 byte) that only schema resolution knows to skip.
        var evolvedBytes = new LlmCallSerializer(schemaId: 102).Serialize(call).Append((byte)0).ToArray();
        Assert.Equivalent(call, reader.Deserialize(evolvedBytes), strict: true);
    }

    [Fact]
    public void PooledStrings_AreOneInstancePerValue()
    {
        var bytes = _serializer.Serialize(Samples.FullCall());
        var a = _serializer.Deserialize(bytes);
        var b = _serializer.Deserialize(bytes);
        Assert.Same(a.PromptName, b.PromptName);
        Assert.Same(a.Tags.Keys.First(), b.Tags.Keys.First());
        Assert.NotSame(a.ErrorMessage, b.ErrorMessage);
    }

    private static byte[] Framed(byte[] body)
    {
        var bytes = new byte[WireFormat.HeaderLength + body.Length];
        WireFormat.WriteHeader(bytes, SchemaCatalog.LlmCallV1);
        body.CopyTo(bytes, WireFormat.HeaderLength);
        return bytes;
    }

    private static int IndexOf(byte[] haystack, ReadOnlySpan<byte> needle) => haystack.AsSpan().IndexOf(needle);

    private static readonly string[] Words = ["", "prod", "gpt-4o", "ünïcødé", "日本語", "emoji 😀", "a\0b", "tab\tnew\nline", "lone \ud800 surrogate", new string('x', 300)];

    private static readonly double[] Doubles =
        [0, -0.0, 1e-300, -1e-300, double.Epsilon, double.MaxValue, double.MinValue, double.NaN, double.PositiveInfinity, double.NegativeInfinity, 1234.5, 0.1];

    private static readonly long[] Longs = [0, 1, -1, 63, 64, -64, -65, long.MaxValue, long.MinValue, int.MaxValue, int.MinValue, 1L << 53];

    /// <summary>An event with every optional field present or absent and values nobody planned, from one seed.</summary>
    internal static LlmCall RandomCall(Random random)
    {
        string Word() => random.Next(4) == 0 ? Words[random.Next(Words.Length)] : "w" + random.Next(1000);
        double Number() => random.Next(3) == 0 ? Doubles[random.Next(Doubles.Length)] : random.NextDouble() * 10_000;
        long Long() => random.Next(3) == 0 ? Longs[random.Next(Longs.Length)] : random.NextInt64(-1_000_000, 1_000_000);
        bool Maybe() => random.Next(2) == 0;
        Dictionary<string, string> Strings()
        {
            var map = new Dictionary<string, string>();
            for (var i = random.Next(4); i > 0; i--) map.TryAdd(Word(), Word());
            return map;
        }
        // Any tick from 1900 to 2200, sub-millisecond ticks included, and now and then the edges of the range.
        var ticks = random.Next(20) == 0
            ? (Maybe() ? DateTimeOffset.MinValue.Ticks + random.Next(100_000) : DateTimeOffset.MaxValue.Ticks - random.Next(100_000))
            : random.NextInt64(new DateTime(1900, 1, 1).Ticks, new DateTime(2200, 1, 1).Ticks);
        var stages = new List<Stage>();
        for (var i = random.Next(4); i > 0; i--) stages.Add(new Stage(Word(), Number()) { Attributes = Strings() });
        var custom = new Dictionary<string, double>();
        for (var i = random.Next(4); i > 0; i--) custom.TryAdd(Word(), Number());
        return new LlmCall
        {
            EventId = new Guid(random.NextInt64().ToString("x16") + random.NextInt64().ToString("x16")),
            OccurredAt = new DateTimeOffset(ticks, TimeSpan.Zero),
            Environment = Word(),
            Service = Word(),
            Operation = Word(),
            Provider = Word(),
            RequestModel = Word(),
            ResponseModel = Maybe() ? Word() : null,
            PromptName = Word(),
            PromptVersion = Word(),
            RequestId = Maybe() ? Word() : null,
            TraceId = Maybe() ? Word() : null,
            Tags = Strings(),
            LatencyMs = Number(),
            TimeToFirstTokenMs = Maybe() ? Number() : null,
            InputTokens = Long(),
            OutputTokens = Long(),
            CachedInputTokens = Maybe() ? Long() : null,
            CostUsd = Maybe() ? Number() : null,
            Outcome = Maybe() ? Outcome.Error : Outcome.Success,
            ErrorMessage = Maybe() ? Word() : null,
            ErrorType = Maybe() ? (ErrorType)random.Next(9) : null,
            HttpStatus = Maybe() ? (int)Math.Clamp(Long(), int.MinValue, int.MaxValue) : null,
            QualityScore = Maybe() ? Number() : null,
            RetryCount = random.Next(-5, int.MaxValue),
            CacheHit = Maybe(),
            Stages = stages,
            Custom = custom,
            SampleRate = Number(),
        };
    }
}
