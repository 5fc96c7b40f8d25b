using System.Buffers;
using System.Collections.Concurrent;
using Avro;
using Avro.Generic;
using Avro.IO;

namespace Pipeline.Schemas;

/// <summary>Finds the writer schema of a schema id outside the catalogue (a schema registry), or null with the reason.</summary>
public delegate Schema? WriterSchemaSource(int id, out string? why);

/// <summary>
/// Encodes and decodes <see cref="LlmCall"/> in the Confluent wire format. Decoding resolves the
/// writer schema by id, so records written by older or newer schema versions stay readable.
/// Records of the reader's own schema (same parsing fingerprint) are encoded and decoded by
/// <see cref="LlmCallCodec"/>; every other writer schema goes through Apache.Avro's schema resolution.
/// Thread-safe.
/// </summary>
public sealed class LlmCallSerializer
{
    private static readonly string[] OutcomeSymbols = ["SUCCESS", "ERROR"];
    private static readonly string[] ErrorTypeSymbols =
        ["TIMEOUT", "RATE_LIMITED", "PROVIDER_ERROR", "VALIDATION", "CONTENT_FILTER", "CLIENT_ERROR", "SERVER_ERROR", "CANCELLED", "OTHER"];

    private readonly RecordSchema _schema = SchemaCatalog.LlmCall;
    private readonly int _schemaId;
    private readonly GenericDatumWriter<GenericRecord> _writer;
    private readonly ConcurrentDictionary<int, GenericDatumReader<GenericRecord>?> _readers = new();
    private readonly ConcurrentDictionary<int, GenericDatumReader<GenericRecord>> _genericReaders = new();
    private readonly LlmCallCodec? _codec;
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;
    private readonly EnumSchema _outcomeSchema;
    private readonly EnumSchema _errorTypeSchema;
    private readonly RecordSchema _stageSchema;
    private readonly WriterSchemaSource? _writerSchemas;

    /// <summary>Creates a serializer that writes with <paramref name="schemaId"/> (the catalogue id by default).</summary>
    /// <param name="writerSchemas">
    /// Where writer schemas come from instead of the catalogue (a schema registry); it must answer without
    /// waiting, so the caller resolves new ids before it decodes.
    /// </param>
    public LlmCallSerializer(int schemaId = SchemaCatalog.LlmCallV1, WriterSchemaSource? writerSchemas = null)
    {
        _schemaId = schemaId;
        _writerSchemas = writerSchemas;
        _writer = new GenericDatumWriter<GenericRecord>(_schema);
        _outcomeSchema = (EnumSchema)_schema["outcome"].Schema;
        _errorTypeSchema = (EnumSchema)((UnionSchema)_schema["error_type"].Schema).Schemas[1];
        _stageSchema = (RecordSchema)((ArraySchema)_schema["stages"].Schema).ItemSchema;
        // A changed .avsc the codec has not followed yet is still read and written correctly, by Apache.Avro.
        _codec = SchemaNormalization.ParsingFingerprint64(_schema) == LlmCallCodec.Fingerprint ? new LlmCallCodec() : null;
    }

    /// <summary>Whether this serializer uses the hand-written codec for its own schema.</summary>
    internal bool UsesCodec => _codec is not null;

    /// <summary>Encodes one event with its Confluent header.</summary>
    public byte[] Serialize(LlmCall call)
    {
        ArgumentNullException.ThrowIfNull(call);
        if (_codec is null) return SerializeGeneric(call);
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        try
        {
            Serialize(call, buffer);
            return buffer.WrittenSpan.ToArray();
        }
        finally
        {
            // One unusually large event must not pin its buffer on the thread for good.
            if (buffer.Capacity > 1 << 20) t_buffer = null;
        }
    }

    /// <summary>Appends one event with its Confluent header to <paramref name="output"/>.</summary>
    public void Serialize(LlmCall call, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(call);
        ArgumentNullException.ThrowIfNull(output);
        if (_codec is null)
        {
            output.Write(SerializeGeneric(call));
            return;
        }
        WireFormat.WriteHeader(output.GetSpan(WireFormat.HeaderLength), _schemaId);
        output.Advance(WireFormat.HeaderLength);
        LlmCallCodec.Write(call, output);
    }

    /// <summary>Apache.Avro's encoding: the reference the codec is tested against, and the fallback.</summary>
    internal byte[] SerializeGeneric(LlmCall call)
    {
        ArgumentNullException.ThrowIfNull(call);
        using var stream = new MemoryStream(256);
        Span<byte> header = stackalloc byte[WireFormat.HeaderLength];
        WireFormat.WriteHeader(header, _schemaId);
        stream.Write(header);
        _writer.Write(ToRecord(call), new BinaryEncoder(stream));
        return stream.ToArray();
    }

    /// <summary>Decodes one framed record, or throws <see cref="EventDecodeException"/> with the reason.</summary>
    public LlmCall Deserialize(ReadOnlyMemory<byte> record)
    {
        var id = WireFormat.ReadSchemaId(record.Span);
        var reader = _readers.TryGetValue(id, out var known) ? known : _readers.GetOrAdd(id, CreateReader);
        return reader is null ? _codec!.Read(record.Span[WireFormat.HeaderLength..], id) : DeserializeGeneric(id, reader, record);
    }

    /// <summary>Apache.Avro's decoding of the reader's own schema: the reference the codec is tested against.</summary>
    internal LlmCall DeserializeGeneric(ReadOnlyMemory<byte> record)
    {
        var id = WireFormat.ReadSchemaId(record.Span);
        return DeserializeGeneric(id, _genericReaders.GetOrAdd(id, CreateGenericReader), record);
    }

    private static LlmCall DeserializeGeneric(int id, GenericDatumReader<GenericRecord> reader, ReadOnlyMemory<byte> record)
    {
        GenericRecord generic;
        try
        {
            using var stream = new ReadOnlyMemoryStream(record[WireFormat.HeaderLength..]);
            generic = reader.Read(reuse: null!, new BoundedDecoder(stream));
            if (stream.Position != stream.Length)
            {
                throw new EventDecodeException(DecodeFailure.MalformedAvro,
                    $"{stream.Length - stream.Position} trailing bytes after the Avro body (schema id {id})");
            }
        }
        catch (Exception ex) when (ex is AvroException or EndOfStreamException or FormatException or OverflowException
                                       or InvalidCastException or ArgumentException or IndexOutOfRangeException or OutOfMemoryException)
        {
            throw new EventDecodeException(DecodeFailure.MalformedAvro, $"Avro body does not decode with schema id {id}: {ex.Message}", ex);
        }
        try
        {
            return FromRecord(generic);
        }
        catch (Exception ex) when (ex is InvalidCastException or KeyNotFoundException or FormatException or NullReferenceException)
        {
            throw new EventDecodeException(DecodeFailure.MalformedAvro, $"decoded record has unexpected shape: {ex.Message}", ex);
        }
    }

    /// <summary>Null when the writer schema is the reader's own, which the codec decodes.</summary>
    private GenericDatumReader<GenericRecord>? CreateReader(int id)
    {
        var reader = CreateGenericReader(id);
        return _codec is not null && SchemaNormalization.ParsingFingerprint64(reader.WriterSchema) == LlmCallCodec.Fingerprint ? null : reader;
    }

    private GenericDatumReader<GenericRecord> CreateGenericReader(int id)
    {
        string? why = null;
        var writerSchema = (_writerSchemas is null ? SchemaCatalog.Find(id) : _writerSchemas(id, out why))
            ?? throw new EventDecodeException(DecodeFailure.UnknownSchemaId, why ?? $"schema id {id} is not in the catalogue");
        try
        {
            return new GenericDatumReader<GenericRecord>(writerSchema, _schema);
        }
        catch (AvroException ex)
        {
            // A framed record of another schema (a window or an alert): readable Avro, but not an LlmCall.
            throw new EventDecodeException(DecodeFailure.SchemaMismatch,
                $"schema id {id} ({writerSchema.Fullname}) is not an LlmCall and cannot be read as {_schema.Fullname}", ex);
        }
    }

    private GenericRecord ToRecord(LlmCall c)
    {
        var r = new GenericRecord(_schema);
        r.Add("event_id", c.EventId);
        r.Add("occurred_at", c.OccurredAt.UtcDateTime);
        r.Add("environment", c.Environment);
        r.Add("service", c.Service);
        r.Add("operation", c.Operation);
        r.Add("provider", c.Provider);
        r.Add("request_model", c.RequestModel);
        r.Add("response_model", c.ResponseModel);
        r.Add("prompt_name", c.PromptName);
        r.Add("prompt_version", c.PromptVersion);
        r.Add("request_id", c.RequestId);
        r.Add("trace_id", c.TraceId);
        r.Add("tags", c.Tags.ToDictionary(kv => kv.Key, kv => (object)kv.Value));
        r.Add("latency_ms", c.LatencyMs);
        r.Add("time_to_first_token_ms", c.TimeToFirstTokenMs);
        r.Add("input_tokens", c.InputTokens);
        r.Add("output_tokens", c.OutputTokens);
        r.Add("cached_input_tokens", c.CachedInputTokens);
        r.Add("cost_usd", c.CostUsd);
        r.Add("outcome", new GenericEnum(_outcomeSchema, OutcomeSymbols[(int)c.Outcome]));
        r.Add("error_message", c.ErrorMessage);
        r.Add("error_type", c.ErrorType is { } et ? new GenericEnum(_errorTypeSchema, ErrorTypeSymbols[(int)et]) : null);
        r.Add("http_status", c.HttpStatus);
        r.Add("quality_score", c.QualityScore);
        r.Add("retry_count", c.RetryCount);
        r.Add("cache_hit", c.CacheHit);
        r.Add("stages", c.Stages.Select(s =>
        {
            var sr = new GenericRecord(_stageSchema);
            sr.Add("name", s.Name);
            sr.Add("duration_ms", s.DurationMs);
            sr.Add("attributes", s.Attributes.ToDictionary(kv => kv.Key, kv => (object)kv.Value));
            return (object)sr;
        }).ToArray());
        r.Add("custom", c.Custom.ToDictionary(kv => kv.Key, kv => (object)kv.Value));
        r.Add("sample_rate", c.SampleRate);
        return r;
    }

    private static LlmCall FromRecord(GenericRecord r) => new()
    {
        EventId = (Guid)r["event_id"],
        OccurredAt = new DateTimeOffset(DateTime.SpecifyKind((DateTime)r["occurred_at"], DateTimeKind.Utc)),
        Environment = (string)r["environment"],
        Service = (string)r["service"],
        Operation = (string)r["operation"],
        Provider = (string)r["provider"],
        RequestModel = (string)r["request_model"],
        ResponseModel = (string?)r["response_model"],
        PromptName = (string)r["prompt_name"],
        PromptVersion = (string)r["prompt_version"],
        RequestId = (string?)r["request_id"],
        TraceId = (string?)r["trace_id"],
        Tags = StringMap(r["tags"]),
        LatencyMs = (double)r["latency_ms"],
        TimeToFirstTokenMs = (double?)r["time_to_first_token_ms"],
        InputTokens = (long)r["input_tokens"],
        OutputTokens = (long)r["output_tokens"],
        CachedInputTokens = (long?)r["cached_input_tokens"],
        CostUsd = (double?)r["cost_usd"],
        Outcome = (Outcome)Array.IndexOf(OutcomeSymbols, ((GenericEnum)r["outcome"]).Value),
        ErrorMessage = (string?)r["error_message"],
        ErrorType = r["error_type"] is GenericEnum e ? (ErrorType)Math.Max(0, Array.IndexOf(ErrorTypeSymbols, e.Value)) : null,
        HttpStatus = (int?)r["http_status"],
        QualityScore = (double?)r["quality_score"],
        RetryCount = (int)r["retry_count"],
        CacheHit = (bool)r["cache_hit"],
        Stages = ((object[])r["stages"]).Select(o =>
        {
            var s = (GenericRecord)o;
            return new Stage((string)s["name"], (double)s["duration_ms"]) { Attributes = StringMap(s["attributes"]) };
        }).ToArray(),
        Custom = ((IDictionary<string, object>)r["custom"]).ToDictionary(kv => kv.Key, kv => (double)kv.Value),
        SampleRate = (double)r["sample_rate"],
    };

    private static Dictionary<string, string> StringMap(object o) =>
        ((IDictionary<string, object>)o).ToDictionary(kv => kv.Key, kv => (string)kv.Value);

    /// <summary>
    /// Avro's binary decoder, refusing any length or block count larger than the bytes left before it
    /// allocates: a hostile length prefix (random bytes behind a valid header) would otherwise make it
    /// allocate up to 2 GB per record.
    /// </summary>
    private sealed class BoundedDecoder(ReadOnlyMemoryStream stream) : Decoder
    {
        private readonly BinaryDecoder _inner = new(stream);

        private void CheckNextLength()
        {
            if (stream.PeekVarLong() is var length && (length < 0 || length > stream.Remaining))
            {
                throw new AvroException($"length {length} at byte {stream.Position} exceeds the {stream.Remaining} bytes left");
            }
        }

        private long CheckCount(long count)
        {
            // Every item of our schemas' arrays and maps takes at least one byte.
            if (Math.Abs(count) > stream.Remaining + 1)
            {
                throw new AvroException($"block count {count} at byte {stream.Position} exceeds the {stream.Remaining} bytes left");
            }
            return count;
        }

        public void ReadNull() => _inner.ReadNull();
        public bool ReadBoolean() => _inner.ReadBoolean();
        public int ReadInt() => _inner.ReadInt();
        public long ReadLong() => _inner.ReadLong();
        public float ReadFloat() => _inner.ReadFloat();
        public double ReadDouble() => _inner.ReadDouble();
        public byte[] ReadBytes() { CheckNextLength(); return _inner.ReadBytes(); }
        public string ReadString() { CheckNextLength(); return _inner.ReadString(); }
        public int ReadEnum() => _inner.ReadEnum();
        public long ReadArrayStart() => CheckCount(_inner.ReadArrayStart());
        public long ReadArrayNext() => CheckCount(_inner.ReadArrayNext());
        public long ReadMapStart() => CheckCount(_inner.ReadMapStart());
        public long ReadMapNext() => CheckCount(_inner.ReadMapNext());
        public int ReadUnionIndex() => _inner.ReadUnionIndex();
        public void ReadFixed(byte[] buffer) => _inner.ReadFixed(buffer);
        public void ReadFixed(byte[] buffer, int start, int length) => _inner.ReadFixed(buffer, start, length);
        public void SkipNull() => _inner.SkipNull();
        public void SkipBoolean() => _inner.SkipBoolean();
        public void SkipInt() => _inner.SkipInt();
        public void SkipLong() => _inner.SkipLong();
        public void SkipFloat() => _inner.SkipFloat();
        public void SkipDouble() => _inner.SkipDouble();
        public void SkipBytes() { CheckNextLength(); _inner.SkipBytes(); }
        public void SkipString() { CheckNextLength(); _inner.SkipString(); }
        public void SkipEnum() => _inner.SkipEnum();
        public void SkipUnionIndex() => _inner.SkipUnionIndex();
        public void SkipFixed(int len) => _inner.SkipFixed(len);
    }

    /// <summary>A read-only stream over memory without copying it.</summary>
    private sealed class ReadOnlyMemoryStream(ReadOnlyMemory<byte> memory) : Stream
    {
        private int _position;

        public long Remaining => memory.Length - _position;

        /// <summary>The zig-zag varint at the current position, without consuming it (long.MaxValue if malformed).</summary>
        public long PeekVarLong()
        {
            var span = memory.Span[_position..];
            ulong raw = 0;
            for (var i = 0; i < Math.Min(span.Length, 10); i++)
            {
                raw |= (ulong)(span[i] & 0x7f) << (7 * i);
                if ((span[i] & 0x80) == 0) return (long)(raw >> 1) ^ -(long)(raw & 1);
            }
            return long.MaxValue;
        }

        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => memory.Length;
        public override long Position { get => _position; set => _position = checked((int)value); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            var n = Math.Min(buffer.Length, memory.Length - _position);
            memory.Span.Slice(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => memory.Length + offset,
        };
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
