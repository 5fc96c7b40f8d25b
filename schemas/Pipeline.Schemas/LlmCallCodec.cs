using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;

namespace Pipeline.Schemas;

/// <summary>
/// Avro binary codec for <see cref="LlmCall"/>, written field by field for <c>schemas/llm_call.avsc</c>: no
/// <c>GenericRecord</c>, no boxing, strings of low-cardinality fields pooled. It writes exactly the bytes
/// Apache.Avro writes and reads them back to equal events (property tests hold it to that). It is only valid
/// for writer schemas whose parsing fingerprint is <see cref="Fingerprint"/>: any other writer schema goes
/// through Apache.Avro's schema resolution, and when the <c>.avsc</c> changes the fingerprint test fails until
/// this file follows it (until then <see cref="LlmCallSerializer"/> falls back to Apache.Avro by itself).
/// Decoding is stricter than Apache.Avro where Apache.Avro is lax (varints over 10 bytes, ints that overflow):
/// such records are dead-lettered, never read with a wrapped value.
/// </summary>
internal sealed class LlmCallCodec
{
    /// <summary>CRC-64-AVRO of the Parsing Canonical Form of the schema this codec was written for.</summary>
    public const long Fingerprint = unchecked((long)0xd1bcad4f6243afe3UL);

    private static readonly Encoding Utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);
    private static readonly IReadOnlyDictionary<string, double> NoDoubles = new Dictionary<string, double>();

    private readonly StringPool _pool = new(capacity: 16_384);

    // ---- encoding ----

    /// <summary>Appends the Avro body of <paramref name="c"/> (no wire header).</summary>
    public static void Write(LlmCall c, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(c);
        var w = new Writer(output);
        w.Uuid(c.EventId);
        // As Apache.Avro's timestamp-millis: whole milliseconds, truncated toward zero.
        w.Long((long)(c.OccurredAt.UtcDateTime - DateTime.UnixEpoch).TotalMilliseconds);
        w.String(c.Environment, "environment");
        w.String(c.Service, "service");
        w.String(c.Operation, "operation");
        w.String(c.Provider, "provider");
        w.String(c.RequestModel, "request_model");
        w.OptionalString(c.ResponseModel);
        w.String(c.PromptName, "prompt_name");
        w.String(c.PromptVersion, "prompt_version");
        w.OptionalString(c.RequestId);
        w.OptionalString(c.TraceId);
        w.StringMap(c.Tags, "tags");
        w.Double(c.LatencyMs);
        w.OptionalDouble(c.TimeToFirstTokenMs);
        w.Long(c.InputTokens);
        w.Long(c.OutputTokens);
        if (c.CachedInputTokens is { } cached) { w.Long(1); w.Long(cached); } else w.Long(0);
        w.OptionalDouble(c.CostUsd);
        w.Long(Symbol((int)c.Outcome, 2, "outcome"));
        w.OptionalString(c.ErrorMessage);
        if (c.ErrorType is { } et) { w.Long(1); w.Long(Symbol((int)et, 9, "error_type")); } else w.Long(0);
        if (c.HttpStatus is { } status) { w.Long(1); w.Long(status); } else w.Long(0);
        w.OptionalDouble(c.QualityScore);
        w.Long(c.RetryCount);
        w.Byte(c.CacheHit ? (byte)1 : (byte)0);
        var stages = c.Stages ?? throw new ArgumentException("stages is null");
        if (stages.Count > 0)
        {
            w.Long(stages.Count);
            for (var i = 0; i < stages.Count; i++)
            {
                var s = stages[i] ?? throw new ArgumentException($"stages[{i}] is null");
                w.String(s.Name, "stages.name");
                w.Double(s.DurationMs);
                w.StringMap(s.Attributes, "stages.attributes");
            }
        }
        w.Long(0);
        var custom = c.Custom ?? throw new ArgumentException("custom is null");
        if (custom.Count > 0)
        {
            w.Long(custom.Count);
            if (custom is Dictionary<string, double> concrete)
            {
                // The concrete enumerator: no boxed enumerator per event.
                foreach (var (key, value) in concrete) w.Entry(key, value);
            }
            else
            {
                foreach (var (key, value) in custom) w.Entry(key, value);
            }
        }
        w.Long(0);
        w.Double(c.SampleRate);
    }

    private static int Symbol(int ordinal, int count, string field) =>
        (uint)ordinal < (uint)count ? ordinal : throw new ArgumentOutOfRangeException(field, ordinal, $"{field} {ordinal} is not a symbol of the schema");

    private readonly ref struct Writer(IBufferWriter<byte> output)
    {
        public void Byte(byte b)
        {
            output.GetSpan(1)[0] = b;
            output.Advance(1);
        }

        public void Long(long value)
        {
            var span = output.GetSpan(10);
            var n = (ulong)((value << 1) ^ (value >> 63));
            var i = 0;
            while (n >= 0x80)
            {
                span[i++] = (byte)(n | 0x80);
                n >>= 7;
            }
            span[i++] = (byte)n;
            output.Advance(i);
        }

        public void Double(double value)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(output.GetSpan(8), value);
            output.Advance(8);
        }

        public void String(string? s, string field)
        {
            ArgumentNullException.ThrowIfNull(s, field);
            var length = Utf8.GetByteCount(s);
            Long(length);
            if (length == 0) return;
            var written = Utf8.GetBytes(s, output.GetSpan(length));
            output.Advance(written);
        }

        /// <summary>As Apache.Avro's uuid logical type writes it: the 36-character lower-case form.</summary>
        public void Uuid(Guid id)
        {
            var span = output.GetSpan(37);
            span[0] = 36 << 1;
            id.TryFormat(span[1..], out var written, "D");
            output.Advance(1 + written);
        }

        public void Entry(string key, double value)
        {
            String(key, "custom key");
            Double(value);
        }

        public void Entry(string key, string value, string field)
        {
            // The field's name is only put together for the error.
            if (key is null || value is null) throw new ArgumentNullException(field, $"{field} holds a null key or value");
            String(key, field);
            String(value, field);
        }

        public void OptionalString(string? s)
        {
            if (s is null) { Long(0); return; }
            Long(1);
            String(s, "");
        }

        public void OptionalDouble(double? d)
        {
            if (d is not { } value) { Long(0); return; }
            Long(1);
            Double(value);
        }

        public void StringMap(IReadOnlyDictionary<string, string>? map, string field)
        {
            ArgumentNullException.ThrowIfNull(map, field);
            if (map.Count > 0)
            {
                Long(map.Count);
                if (map is Dictionary<string, string> concrete)
                {
                    foreach (var (key, value) in concrete) Entry(key, value, field);
                }
                else
                {
                    foreach (var (key, value) in map) Entry(key, value, field);
                }
            }
            Long(0);
        }
    }

    // ---- decoding ----

    /// <summary>Decodes one Avro body (no wire header), or throws <see cref="EventDecodeException"/> with the reason.</summary>
    public LlmCall Read(ReadOnlySpan<byte> body, int schemaId)
    {
        var r = new Reader(body, _pool, schemaId);
        var call = new LlmCall
        {
            EventId = r.Uuid(),
            OccurredAt = r.TimestampMillis(),
            Environment = r.String(pooled: true),
            Service = r.String(pooled: true),
            Operation = r.String(pooled: true),
            Provider = r.String(pooled: true),
            RequestModel = r.String(pooled: true),
            ResponseModel = r.IsPresent() ? r.String(pooled: true) : null,
            PromptName = r.String(pooled: true),
            PromptVersion = r.String(pooled: true),
            RequestId = r.IsPresent() ? r.String(pooled: false) : null,
            TraceId = r.IsPresent() ? r.String(pooled: false) : null,
            Tags = r.StringMap(),
            LatencyMs = r.Double(),
            TimeToFirstTokenMs = r.IsPresent() ? r.Double() : null,
            InputTokens = r.Long(),
            OutputTokens = r.Long(),
            CachedInputTokens = r.IsPresent() ? r.Long() : null,
            CostUsd = r.IsPresent() ? r.Double() : null,
            Outcome = (Outcome)r.Enum(2, "outcome"),
            ErrorMessage = r.IsPresent() ? r.String(pooled: false) : null,
            ErrorType = r.IsPresent() ? (ErrorType)r.Enum(9, "error_type") : null,
            HttpStatus = r.IsPresent() ? r.Int() : null,
            QualityScore = r.IsPresent() ? r.Double() : null,
            RetryCount = r.Int(),
            CacheHit = r.Boolean(),
            Stages = r.Stages(),
            Custom = r.DoubleMap(),
            SampleRate = r.Double(),
        };
        r.End();
        return call;
    }

    private ref struct Reader(ReadOnlySpan<byte> span, StringPool pool, int schemaId)
    {
        private readonly ReadOnlySpan<byte> _span = span;
        private int _position;

        private readonly int Remaining => _span.Length - _position;

        private readonly EventDecodeException Malformed(string what) =>
            new(DecodeFailure.MalformedAvro, $"Avro body does not decode with schema id {schemaId}: {what} at byte {_position}");

        public long Long()
        {
            ulong raw = 0;
            for (var shift = 0; shift < 70; shift += 7)
            {
                if (_position >= _span.Length) throw Malformed("end of data inside a number");
                var b = _span[_position++];
                raw |= (ulong)(b & 0x7f) << shift;
                if ((b & 0x80) == 0)
                {
                    if (shift == 63 && b > 1) break;
                    return (long)(raw >> 1) ^ -(long)(raw & 1);
                }
            }
            throw Malformed("a number longer than 64 bits");
        }

        public int Int()
        {
            var value = Long();
            return value is >= int.MinValue and <= int.MaxValue ? (int)value : throw Malformed($"int {value} out of range");
        }

        public int Enum(int symbols, string field)
        {
            var index = Long();
            return index >= 0 && index < symbols ? (int)index : throw Malformed($"{field} symbol {index} of {symbols}");
        }

        public bool IsPresent() => Long() switch
        {
            0 => false,
            1 => true,
            var other => throw Malformed($"union branch {other} of 2"),
        };

        public bool Boolean()
        {
            if (_position >= _span.Length) throw Malformed("end of data inside a boolean");
            return _span[_position++] switch
            {
                0 => false,
                1 => true,
                var b => throw Malformed($"boolean byte {b}"),
            };
        }

        public double Double()
        {
            if (Remaining < 8) throw Malformed("end of data inside a double");
            var value = BinaryPrimitives.ReadDoubleLittleEndian(_span.Slice(_position, 8));
            _position += 8;
            return value;
        }

        private ReadOnlySpan<byte> Utf8Bytes()
        {
            var length = Long();
            if (length < 0 || length > Remaining) throw Malformed($"length {length} with {Remaining} bytes left");
            var bytes = _span.Slice(_position, (int)length);
            _position += (int)length;
            return bytes;
        }

        public string String(bool pooled)
        {
            var bytes = Utf8Bytes();
            return pooled ? pool.Get(bytes) : bytes.IsEmpty ? "" : Utf8.GetString(bytes);
        }

        public Guid Uuid()
        {
            // As Apache.Avro's uuid logical type (new Guid(string)): any format Guid parses.
            var bytes = Utf8Bytes();
            return Guid.TryParse(bytes, out var id) ? id : throw Malformed("event_id is not a UUID");
        }

        public DateTimeOffset TimestampMillis()
        {
            var ms = Long();
            const long maxMs = 253_402_300_799_999, minMs = -62_135_596_800_000;
            if (ms is < minMs or > maxMs) throw Malformed($"timestamp {ms} ms is outside the representable dates");
            return new DateTimeOffset(DateTime.UnixEpoch.Ticks + (ms * TimeSpan.TicksPerMillisecond), TimeSpan.Zero);
        }

        /// <summary>The item count of the next block; a negative count is followed by the block's byte size.</summary>
        private long BlockCount()
        {
            var count = Long();
            if (count < 0)
            {
                if (count == long.MinValue) throw Malformed("block count");
                count = -count;
                Long();
            }
            // Every item of our arrays and maps takes at least one byte.
            if (count > Remaining) throw Malformed($"block of {count} items with {Remaining} bytes left");
            return count;
        }

        public IReadOnlyDictionary<string, string> StringMap()
        {
            var count = BlockCount();
            if (count == 0) return Stage.EmptyStrings;
            var map = new Dictionary<string, string>((int)count);
            for (; count != 0; count = BlockCount())
            {
                for (var i = 0; i < count; i++)
                {
                    // A key twice: the last value wins, as in Apache.Avro's GenericReader.
                    map[String(pooled: true)] = String(pooled: false);
                }
            }
            return map;
        }

        public IReadOnlyDictionary<string, double> DoubleMap()
        {
            var count = BlockCount();
            if (count == 0) return NoDoubles;
            var map = new Dictionary<string, double>((int)count);
            for (; count != 0; count = BlockCount())
            {
                for (var i = 0; i < count; i++)
                {
                    map[String(pooled: true)] = Double();
                }
            }
            return map;
        }

        public Stage[] Stages()
        {
            var count = BlockCount();
            if (count == 0) return [];
            var stages = new List<Stage>((int)count);
            for (; count != 0; count = BlockCount())
            {
                for (var i = 0; i < count; i++)
                {
                    var name = String(pooled: true);
                    var duration = Double();
                    stages.Add(new Stage(name, duration) { Attributes = StringMap() });
                }
            }
            return stages.ToArray();
        }

        public readonly void End()
        {
            if (_position != _span.Length) throw Malformed($"{_span.Length - _position} trailing bytes after the body");
        }
    }

    /// <summary>
    /// One string instance per distinct short value (environments, services, prompts, models, tag keys): a
    /// decoded event then allocates no string for them. Bounded: once full, new values are allocated as usual.
    /// </summary>
    private sealed class StringPool(int capacity)
    {
        private const int MaxPooledBytes = 128;
        private readonly ConcurrentDictionary<string, string> _strings = new(StringComparer.Ordinal);

        public string Get(ReadOnlySpan<byte> utf8)
        {
            if (utf8.IsEmpty) return "";
            if (utf8.Length > MaxPooledBytes) return Utf8.GetString(utf8);
            Span<char> chars = stackalloc char[MaxPooledBytes];
            var n = Utf8.GetChars(utf8, chars);
            var lookup = _strings.GetAlternateLookup<ReadOnlySpan<char>>();
            if (lookup.TryGetValue(chars[..n], out var known)) return known;
            var s = new string(chars[..n]);
            return _strings.Count < capacity ? _strings.GetOrAdd(s, s) : s;
        }
    }
}
