using System.Buffers.Binary;

namespace Pipeline.Aggregation;

/// <summary>
/// A DDSketch (Masson, Rim, Lee, VLDB 2019): a mergeable quantile sketch with a relative-error guarantee.
/// For any quantile q, the returned value is within <see cref="RelativeAccuracy"/> (1%) of the exact
/// value at rank floor(q·n) of the recorded values (the rank ClickHouse's <c>quantileExact</c> uses).
/// Count, sum, min and max are exact. Buckets are dense between the lowest and highest index seen, so a
/// window of latencies spanning 100x costs about 2 KB; HdrHistogram at 3 significant digits would cost
/// 50-190 KB per sketch, too much at 100k live series.
/// </summary>
public sealed class QuantileSketch
{
    /// <summary>Relative accuracy α of every quantile: 1%.</summary>
    public const double RelativeAccuracy = 0.01;

    /// <summary>Values at or below this go to the zero bucket (reported as 0).</summary>
    public const double MinIndexableValue = 1e-3;

    /// <summary>Values above this are clamped (about 11.6 days in milliseconds).</summary>
    public const double MaxValue = 1e9;

    private const byte FormatVersion = 1;
    private static readonly double Gamma = (1 + RelativeAccuracy) / (1 - RelativeAccuracy);
    private static readonly double LogGamma = Math.Log(Gamma);

    private long[] _counts = [];
    private int _offset;
    private long _zeroCount;

    /// <summary>Number of recorded values (weights included).</summary>
    public long Count { get; private set; }
    /// <summary>Exact sum of recorded values (weights included).</summary>
    public double Sum { get; private set; }
    /// <summary>Exact smallest recorded value; 0 when empty.</summary>
    public double Min { get; private set; } = double.PositiveInfinity;
    /// <summary>Exact largest recorded value; 0 when empty.</summary>
    public double Max { get; private set; } = double.NegativeInfinity;

    /// <summary>Records <paramref name="value"/> (clamped to [0, <see cref="MaxValue"/>]) <paramref name="count"/> times.</summary>
    public void Add(double value, long count = 1)
    {
        if (count <= 0 || double.IsNaN(value)) return;
        value = Math.Clamp(value, 0, MaxValue);
        if (value <= MinIndexableValue)
        {
            _zeroCount += count;
        }
        else
        {
            var index = (int)Math.Ceiling(Math.Log(value) / LogGamma);
            Grow(index, index);
            _counts[index - _offset] += count;
        }
        Count += count;
        Sum += value * count;
        Min = Math.Min(Min, value);
        Max = Math.Max(Max, value);
    }

    /// <summary>Adds every value of <paramref name="other"/> to this sketch.</summary>
    public void Merge(QuantileSketch other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Count == 0) return;
        if (other._counts.Length > 0)
        {
            Grow(other._offset, other._offset + other._counts.Length - 1);
            for (var i = 0; i < other._counts.Length; i++)
            {
                _counts[other._offset + i - _offset] += other._counts[i];
            }
        }
        _zeroCount += other._zeroCount;
        Count += other.Count;
        Sum += other.Sum;
        Min = Math.Min(Min, other.Min);
        Max = Math.Max(Max, other.Max);
    }

    /// <summary>The value at quantile <paramref name="q"/> (0..1), within 1% relative; 0 when empty.</summary>
    public double Quantile(double q)
    {
        if (Count == 0) return 0;
        if (q <= 0) return Min;
        if (q >= 1) return Max;
        var rank = Math.Min((long)Math.Floor(q * Count), Count - 1);
        var seen = _zeroCount;
        if (rank < seen) return 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen > rank)
            {
                // The bucket's representative value, clamped into the exact [Min, Max].
                var value = 2 * Math.Pow(Gamma, i + _offset) / (Gamma + 1);
                return Math.Clamp(value, Min, Max);
            }
        }
        return Max;
    }

    /// <summary>
    /// Count, sum and sum of squares of ln(value) over the recorded values, each bucket at its representative
    /// value (within 1%); values in the zero bucket count as <see cref="MinIndexableValue"/>. Latency is close to
    /// log-normal, so tests on the mean of its logarithm compare medians with little sensitivity to the tail.
    /// </summary>
    public (long Count, double Sum, double SumSquares) LogMoments()
    {
        double sum = 0, squares = 0;
        var floor = Math.Log(MinIndexableValue);
        sum += _zeroCount * floor;
        squares += _zeroCount * floor * floor;
        var representative = Math.Log(2 / (Gamma + 1));
        for (var i = 0; i < _counts.Length; i++)
        {
            if (_counts[i] == 0) continue;
            var log = (i + _offset) * LogGamma + representative;
            sum += _counts[i] * log;
            squares += _counts[i] * log * log;
        }
        return (Count, sum, squares);
    }

    /// <summary>Recorded values above <paramref name="value"/> (bucket resolution: within 1% of it), weights included.</summary>
    public long CountAbove(double value)
    {
        if (Count == 0 || value >= Max) return 0;
        if (value < MinIndexableValue) return Count - _zeroCount;
        var index = (int)Math.Ceiling(Math.Log(value) / LogGamma);
        long above = 0;
        for (var i = Math.Max(0, index - _offset + 1); i < _counts.Length; i++) above += _counts[i];
        return above;
    }

    /// <summary>A deep copy.</summary>
    public QuantileSketch Clone()
    {
        var copy = new QuantileSketch();
        copy.Merge(this);
        return copy;
    }

    /// <summary>Compact binary form (version, stats, then zig-zag varint bucket counts).</summary>
    public byte[] Serialize()
    {
        var buffer = new List<byte>(64 + _counts.Length * 2) { FormatVersion };
        Span<byte> d = stackalloc byte[8];
        foreach (var x in new[] { Sum, Count == 0 ? 0 : Min, Count == 0 ? 0 : Max })
        {
            BinaryPrimitives.WriteDoubleLittleEndian(d, x);
            buffer.AddRange(d.ToArray());
        }
        WriteVarint(buffer, (ulong)_zeroCount);
        var first = 0;
        var last = _counts.Length - 1;
        while (first <= last && _counts[first] == 0) first++;
        while (last >= first && _counts[last] == 0) last--;
        var n = last - first + 1;
        WriteVarint(buffer, (ulong)n);
        WriteVarint(buffer, ZigZag(n > 0 ? _offset + first : 0));
        for (var i = first; i <= last; i++)
        {
            WriteVarint(buffer, (ulong)_counts[i]);
        }
        return [.. buffer];
    }

    /// <summary>
    /// A sketch read back from storage or a topic (base64 in ClickHouse rows): empty when the value is empty or
    /// not a sketch this version reads, so one unreadable row thins a percentile instead of failing a whole read.
    /// </summary>
    public static QuantileSketch FromStored(string? base64)
    {
        if (string.IsNullOrEmpty(base64)) return new QuantileSketch();
        var bytes = new byte[base64.Length * 3 / 4 + 3];
        return Convert.TryFromBase64String(base64, bytes, out var n) ? FromStored(bytes.AsSpan(0, n)) : new QuantileSketch();
    }

    /// <inheritdoc cref="FromStored(string?)"/>
    public static QuantileSketch FromStored(ReadOnlySpan<byte> data)
    {
        try
        {
            return data.IsEmpty ? new QuantileSketch() : Deserialize(data);
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or ArgumentException or IndexOutOfRangeException)
        {
            return new QuantileSketch();
        }
    }

    /// <summary>Reads what <see cref="Serialize"/> wrote; throws <see cref="FormatException"/> on bad input.</summary>
    public static QuantileSketch Deserialize(ReadOnlySpan<byte> data)
    {
        if (data.Length < 25 || data[0] != FormatVersion)
        {
            throw new FormatException("not a quantile sketch of format version 1");
        }
        var sketch = new QuantileSketch();
        var sum = BinaryPrimitives.ReadDoubleLittleEndian(data[1..]);
        var min = BinaryPrimitives.ReadDoubleLittleEndian(data[9..]);
        var max = BinaryPrimitives.ReadDoubleLittleEndian(data[17..]);
        var pos = 25;
        sketch._zeroCount = (long)ReadVarint(data, ref pos);
        var n = checked((int)ReadVarint(data, ref pos));
        var offset = UnZigZag(ReadVarint(data, ref pos));
        if (n > 100_000) throw new FormatException("too many buckets");
        sketch._counts = new long[n];
        sketch._offset = offset;
        long count = sketch._zeroCount;
        for (var i = 0; i < n; i++)
        {
            sketch._counts[i] = (long)ReadVarint(data, ref pos);
            count += sketch._counts[i];
        }
        sketch.Count = count;
        sketch.Sum = sum;
        sketch.Min = count == 0 ? double.PositiveInfinity : min;
        sketch.Max = count == 0 ? double.NegativeInfinity : max;
        return sketch;
    }

    private void Grow(int low, int high)
    {
        if (_counts.Length == 0)
        {
            _offset = low;
            _counts = new long[high - low + 1];
            return;
        }
        var currentHigh = _offset + _counts.Length - 1;
        if (low >= _offset && high <= currentHigh) return;
        var newLow = Math.Min(low, _offset);
        var newHigh = Math.Max(high, currentHigh);
        // Grow with slack so a stream of slowly widening values does not copy on every add.
        var slack = Math.Max(8, (newHigh - newLow) / 4);
        if (newLow < _offset) newLow -= slack;
        if (newHigh > currentHigh) newHigh += slack;
        var grown = new long[newHigh - newLow + 1];
        Array.Copy(_counts, 0, grown, _offset - newLow, _counts.Length);
        _counts = grown;
        _offset = newLow;
    }

    private static ulong ZigZag(int v) => (ulong)(uint)((v << 1) ^ (v >> 31));
    private static int UnZigZag(ulong v) => (int)((uint)v >> 1) ^ -(int)((uint)v & 1);

    private static void WriteVarint(List<byte> buffer, ulong v)
    {
        while (v >= 0x80)
        {
            buffer.Add((byte)(v | 0x80));
            v >>= 7;
        }
        buffer.Add((byte)v);
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> data, ref int pos)
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (pos >= data.Length) throw new FormatException("truncated sketch");
            var b = data[pos++];
            result |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80) return result;
        }
        throw new FormatException("varint too long");
    }
}
