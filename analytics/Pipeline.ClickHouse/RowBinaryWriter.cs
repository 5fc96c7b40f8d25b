using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Pipeline.ClickHouse;

/// <summary>
/// ClickHouse's RowBinary format written straight into a buffer: little-endian numbers, strings and arrays
/// with an unsigned LEB128 length, a null flag byte before nullable values. The same bytes ClickHouse.Driver
/// writes for the same values (a test holds it to that), without an <c>object[]</c> or a boxed value per row.
/// </summary>
#pragma warning disable CA1720 // the methods are named after ClickHouse's column types, which is what a row is written in
public readonly ref struct RowBinaryWriter(IBufferWriter<byte> output)
{
    private static readonly Encoding Utf8 = new UTF8Encoding(false, false);

    /// <summary>The length of a string or an array.</summary>
    public void Length(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var span = output.GetSpan(5);
        var n = (uint)length;
        var i = 0;
        while (n >= 0x80)
        {
            span[i++] = (byte)(n | 0x80);
            n >>= 7;
        }
        span[i++] = (byte)n;
        output.Advance(i);
    }

    /// <summary>UInt8 (also Enum8 values, and booleans as 0/1).</summary>
    public void UInt8(byte value)
    {
        output.GetSpan(1)[0] = value;
        output.Advance(1);
    }

    /// <summary>UInt16.</summary>
    public void UInt16(ushort value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(output.GetSpan(2), value);
        output.Advance(2);
    }

    /// <summary>UInt32.</summary>
    public void UInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(output.GetSpan(4), value);
        output.Advance(4);
    }

    /// <summary>UInt64.</summary>
    public void UInt64(ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(output.GetSpan(8), value);
        output.Advance(8);
    }

    /// <summary>Float64.</summary>
    public void Float64(double value)
    {
        BinaryPrimitives.WriteDoubleLittleEndian(output.GetSpan(8), value);
        output.Advance(8);
    }

    /// <summary>String, as UTF-8.</summary>
    public void String(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var length = Utf8.GetByteCount(value);
        Length(length);
        if (length == 0) return;
        output.Advance(Utf8.GetBytes(value, output.GetSpan(length)));
    }

    /// <summary>DateTime: whole seconds since the epoch as UInt32; refused outside its range rather than wrapped.</summary>
    public void DateTime(DateTimeOffset value)
    {
        var seconds = value.ToUnixTimeSeconds();
        if (seconds is < 0 or > uint.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "outside ClickHouse DateTime's range (1970 to 2106)");
        }
        UInt32((uint)seconds);
    }

    /// <summary>UUID: its high 64 bits, then its low 64 bits, each little-endian.</summary>
    public void Uuid(Guid value)
    {
        Span<byte> big = stackalloc byte[16];
        value.TryWriteBytes(big, bigEndian: true, out _);
        UInt64(BinaryPrimitives.ReadUInt64BigEndian(big));
        UInt64(BinaryPrimitives.ReadUInt64BigEndian(big[8..]));
    }

    /// <summary>The null flag of a Nullable value: true when a value follows.</summary>
    public bool Present(bool hasValue)
    {
        UInt8(hasValue ? (byte)0 : (byte)1);
        return hasValue;
    }
}
#pragma warning restore CA1720
