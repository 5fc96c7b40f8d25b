using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;

namespace Pipeline.Producers;

/// <summary>One Kafka record held on disk: key, framed Avro value, timestamp.</summary>
internal readonly record struct SpilledRecord(byte[] Key, byte[] Value, long TimestampMs);

/// <summary>
/// Append-only, checksummed, size-capped segments on disk holding events Kafka could not take.
/// Segments are replayed oldest first and deleted only after every record in them was acknowledged,
/// so a crash during replay replays the segment again (the pipeline de-duplicates by event id).
/// Writes reach the operating system on <see cref="Flush"/>, so they survive the process being killed;
/// they are not fsynced, so a machine crash can lose the last writes. Thread-safe.
/// </summary>
/// <remarks>
/// Record layout: <c>int32 length | uint32 crc32(body) | body</c>, body = <c>int64 timestamp_ms |
/// int32 key_length | key | value</c>, little-endian. A torn or corrupt record ends its segment: the
/// records before it are replayed, the rest is counted as <see cref="Corrupt"/>.
/// </remarks>
internal sealed class SpillStore : IDisposable
{
    private const string Extension = ".spill";
    private const int RecordHeader = 8;
    private const int BodyHeader = 12;

    private readonly object _gate = new();
    private readonly string _directory;
    private readonly long _maxBytes;
    private readonly long _segmentBytes;
    private readonly FileStream _lock;
    private readonly SortedDictionary<long, long> _closed = []; // sequence -> bytes
    private FileStream? _active;
    private long _activeSequence;
    private long _activeRecords;
    private long _nextSequence;
    private long _bytes;
    private long _records;
    private long _corrupt;

    public SpillStore(string directory, long maxBytes, long segmentBytes)
    {
        _directory = directory;
        _maxBytes = maxBytes;
        _segmentBytes = segmentBytes;
        Directory.CreateDirectory(directory);
        try
        {
            // Two producers appending to one spill would interleave records; the lock makes that an error at start-up.
            _lock = new FileStream(Path.Combine(directory, "spill.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new InvalidOperationException($"SpillDirectory: '{directory}' is in use by another producer ({ex.Message})", ex);
        }
        foreach (var file in Directory.EnumerateFiles(directory, "*" + Extension))
        {
            if (long.TryParse(Path.GetFileNameWithoutExtension(file), NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
            {
                var length = new FileInfo(file).Length;
                _closed[seq] = length;
                _records += Read(file).Records.Count;
                _bytes += length;
                _nextSequence = Math.Max(_nextSequence, seq + 1);
            }
        }
    }

    /// <summary>The folder holding the segments.</summary>
    public string Folder => _directory;

    /// <summary>True when <paramref name="directory"/> holds at least one segment file (read without the lock).</summary>
    public static bool HasSegments(string directory)
    {
        try
        {
            return Directory.EnumerateFiles(directory, "*" + Extension).Any();
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Bytes on disk.</summary>
    public long Bytes { get { lock (_gate) return _bytes; } }

    /// <summary>Records on disk.</summary>
    public long Records { get { lock (_gate) return _records; } }

    /// <summary>True when nothing is waiting on disk.</summary>
    public bool IsEmpty { get { lock (_gate) return _closed.Count == 0 && _activeRecords == 0; } }

    /// <summary>Records skipped because they were torn or failed their checksum.</summary>
    public long Corrupt => Interlocked.Read(ref _corrupt);

    /// <summary>Appends one record; false when the size cap leaves no room (the caller counts the drop).</summary>
    public bool Append(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, long timestampMs)
    {
        var bodyLength = BodyHeader + key.Length + value.Length;
        var size = RecordHeader + bodyLength;
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(size);
        try
        {
            var span = buffer.AsSpan(0, size);
            var body = span[RecordHeader..];
            BinaryPrimitives.WriteInt64LittleEndian(body, timestampMs);
            BinaryPrimitives.WriteInt32LittleEndian(body[8..], key.Length);
            key.CopyTo(body[BodyHeader..]);
            value.CopyTo(body[(BodyHeader + key.Length)..]);
            BinaryPrimitives.WriteInt32LittleEndian(span, bodyLength);
            BinaryPrimitives.WriteUInt32LittleEndian(span[4..], Crc32.HashToUInt32(body));
            lock (_gate)
            {
                if (_bytes + size > _maxBytes) return false;
                if (_active is null || _active.Length + size > _segmentBytes && _activeRecords > 0)
                {
                    CloseActive();
                    // The number is taken only once its file exists: a folder that refuses files does not use them up.
                    _active = new FileStream(SegmentPath(_nextSequence), FileMode.CreateNew, FileAccess.Write, FileShare.Read, 1 << 16);
                    _activeSequence = _nextSequence++;
                }
                _active.Write(span);
                _activeRecords++;
                _records++;
                _bytes += size;
                return true;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Hands buffered appends to the operating system.</summary>
    public void Flush()
    {
        lock (_gate) _active?.Flush();
    }

    /// <summary>
    /// The oldest segment to replay (closing the active one when it is the only one left), or null when
    /// the spill is empty. Call <see cref="Complete"/> once every record of it was acknowledged.
    /// </summary>
    public SpillSegment? Oldest()
    {
        long seq;
        lock (_gate)
        {
            if (_closed.Count == 0)
            {
                if (_activeRecords == 0) return null;
                CloseActive();
            }
            seq = _closed.Keys.First();
        }
        // Closed segments are never written again, so they can be read outside the lock.
        var (records, corrupt) = Read(SegmentPath(seq));
        Interlocked.Add(ref _corrupt, corrupt);
        return new SpillSegment(seq, records, corrupt);
    }

    /// <summary>Deletes a replayed segment.</summary>
    public void Complete(SpillSegment segment)
    {
        lock (_gate)
        {
            if (_closed.Remove(segment.Sequence, out var length))
            {
                File.Delete(SegmentPath(segment.Sequence));
                _bytes -= length;
                _records -= segment.Records.Count;
            }
        }
    }

    private void CloseActive()
    {
        if (_active is null) return;
        _active.Flush();
        var length = _active.Length;
        _active.Dispose();
        _active = null;
        if (_activeRecords == 0)
        {
            File.Delete(SegmentPath(_activeSequence));
        }
        else
        {
            _closed[_activeSequence] = length;
        }
        _activeRecords = 0;
    }

    private string SegmentPath(long sequence) => Path.Combine(_directory, sequence.ToString("D12", CultureInfo.InvariantCulture) + Extension);

    internal static (List<SpilledRecord> Records, int Corrupt) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var records = new List<SpilledRecord>();
        var span = bytes.AsSpan();
        var position = 0;
        while (position < span.Length)
        {
            var rest = span[position..];
            if (rest.Length < RecordHeader) return (records, 1);
            var bodyLength = BinaryPrimitives.ReadInt32LittleEndian(rest);
            if (bodyLength < BodyHeader || bodyLength > rest.Length - RecordHeader) return (records, 1);
            var body = rest.Slice(RecordHeader, bodyLength);
            if (Crc32.HashToUInt32(body) != BinaryPrimitives.ReadUInt32LittleEndian(rest[4..])) return (records, 1);
            var keyLength = BinaryPrimitives.ReadInt32LittleEndian(body[8..]);
            if (keyLength < 0 || keyLength > bodyLength - BodyHeader) return (records, 1);
            records.Add(new SpilledRecord(
                body.Slice(BodyHeader, keyLength).ToArray(),
                body[(BodyHeader + keyLength)..].ToArray(),
                BinaryPrimitives.ReadInt64LittleEndian(body)));
            position += RecordHeader + bodyLength;
        }
        return (records, 0);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            CloseActive();
            _lock.Dispose();
        }
    }
}

/// <summary>A closed segment read back for replay.</summary>
internal sealed record SpillSegment(long Sequence, IReadOnlyList<SpilledRecord> Records, int Corrupt);
