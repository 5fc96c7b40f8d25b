using System.Buffers.Binary;
using Avro;
using Avro.Generic;
using Avro.IO;

namespace Pipeline.Schemas;

/// <summary>Why a record could not be turned into an event; carried in the DLQ's reason header.</summary>
public enum DecodeFailure
{
    /// <summary>Fewer than five bytes: no room for the Confluent header.</summary>
    TooShort,
    /// <summary>The first byte is not the Confluent magic byte 0.</summary>
    BadMagicByte,
    /// <summary>The schema id is neither in the catalogue nor in the registry.</summary>
    UnknownSchemaId,
    /// <summary>The schema id names a schema that is not an LlmCall (a window or alert schema, say).</summary>
    SchemaMismatch,
    /// <summary>The Avro body does not decode against the writer schema.</summary>
    MalformedAvro,
    /// <summary>The event decoded but breaks a field rule (NaN latency, empty name, ...).</summary>
    InvalidField,
}

/// <summary>A record that could not be decoded, with a reason fit for a DLQ header.</summary>
public sealed class EventDecodeException(DecodeFailure failure, string message, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>Classification of the failure.</summary>
    public DecodeFailure Failure { get; } = failure;
}

/// <summary>Confluent wire framing: magic byte 0, 4-byte big-endian schema id, then the Avro body.</summary>
public static class WireFormat
{
    /// <summary>Length of the header before the Avro body.</summary>
    public const int HeaderLength = 5;

    /// <summary>Writes the header into the first five bytes of <paramref name="destination"/>.</summary>
    public static void WriteHeader(Span<byte> destination, int schemaId)
    {
        destination[0] = 0;
        BinaryPrimitives.WriteInt32BigEndian(destination[1..], schemaId);
    }

    /// <summary>Reads the schema id from a framed record, or throws with the reason.</summary>
    public static int ReadSchemaId(ReadOnlySpan<byte> record)
    {
        if (record.Length < HeaderLength)
        {
            throw new EventDecodeException(DecodeFailure.TooShort, $"record of {record.Length} bytes is shorter than the 5-byte Confluent header");
        }
        if (record[0] != 0)
        {
            throw new EventDecodeException(DecodeFailure.BadMagicByte, $"magic byte is 0x{record[0]:x2}, expected 0x00");
        }
        return BinaryPrimitives.ReadInt32BigEndian(record[1..]);
    }

    /// <summary>Encodes <paramref name="record"/> with its Confluent header.</summary>
    public static byte[] Frame(int schemaId, GenericDatumWriter<GenericRecord> writer, GenericRecord record)
    {
        ArgumentNullException.ThrowIfNull(writer);
        using var stream = new MemoryStream(256);
        Span<byte> header = stackalloc byte[HeaderLength];
        WriteHeader(header, schemaId);
        stream.Write(header);
        writer.Write(record, new BinaryEncoder(stream));
        return stream.ToArray();
    }

    /// <summary>
    /// Decodes a framed record that must carry <paramref name="expectedId"/>; any other id or a body that does
    /// not decode throws <see cref="EventDecodeException"/> naming <paramref name="what"/>.
    /// </summary>
    public static GenericRecord Unframe(ReadOnlyMemory<byte> bytes, int expectedId, GenericDatumReader<GenericRecord> reader, string what)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var id = ReadSchemaId(bytes.Span);
        if (id != expectedId)
        {
            throw new EventDecodeException(DecodeFailure.UnknownSchemaId, $"schema id {id} is not {what}");
        }
        try
        {
            using var stream = new MemoryStream(bytes[HeaderLength..].ToArray());
            return reader.Read(null!, new BinaryDecoder(stream));
        }
        catch (Exception ex) when (ex is AvroException or EndOfStreamException or InvalidCastException or OverflowException)
        {
            throw new EventDecodeException(DecodeFailure.MalformedAvro, $"{what} does not decode: {ex.Message}", ex);
        }
    }
}
