using Pipeline.Producers;

namespace Pipeline.UnitTests.Producers;

public sealed class SpillStoreTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "spill-unit-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Append_ThenOldest_ReturnsRecordsInOrderAcrossSegments()
    {
        using var spill = new SpillStore(_dir, 1 << 20, 4096);
        for (var i = 0; i < 100; i++) Assert.True(spill.Append([(byte)i], new byte[100 + i], i));
        Assert.Equal(100, spill.Records);
        Assert.True(Directory.GetFiles(_dir, "*.spill").Length > 1, "segments were not rotated at 4 KiB");
        var seen = new List<long>();
        while (spill.Oldest() is { } segment)
        {
            Assert.Equal(0, segment.Corrupt);
            seen.AddRange(segment.Records.Select(r => r.TimestampMs));
            Assert.All(segment.Records, r => Assert.Equal(100 + r.TimestampMs, r.Value.Length));
            spill.Complete(segment);
        }
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (long)i), seen);
        Assert.True(spill.IsEmpty);
        Assert.Equal(0, spill.Bytes);
        Assert.Empty(Directory.GetFiles(_dir, "*.spill"));
    }

    [Fact]
    public void Reopen_AfterDispose_KeepsRecordsForTheNextProcess()
    {
        using (var spill = new SpillStore(_dir, 1 << 20, 1 << 16))
        {
            for (var i = 0; i < 10; i++) spill.Append("k"u8, "value"u8, i);
            spill.Flush();
        }
        using var reopened = new SpillStore(_dir, 1 << 20, 1 << 16);
        Assert.Equal(10, reopened.Records);
        var segment = reopened.Oldest()!;
        Assert.Equal(10, segment.Records.Count);
        Assert.Equal("value"u8.ToArray(), segment.Records[3].Value);
        Assert.Equal("k"u8.ToArray(), segment.Records[3].Key);
    }

    [Fact]
    public void TornTail_AfterCrash_RecordsBeforeItAreKeptAndTheTailCounted()
    {
        using (var spill = new SpillStore(_dir, 1 << 20, 1 << 16))
        {
            for (var i = 0; i < 5; i++) spill.Append("k"u8, new byte[50], i);
        }
        var file = Directory.GetFiles(_dir, "*.spill").Single();
        using (var stream = new FileStream(file, FileMode.Append))
        {
            stream.Write([40, 0, 0, 0, 1, 2, 3]); // a record header whose body never made it to disk
        }
        using var reopened = new SpillStore(_dir, 1 << 20, 1 << 16);
        var segment = reopened.Oldest()!;
        Assert.Equal(5, segment.Records.Count);
        Assert.Equal(1, segment.Corrupt);
    }

    [Fact]
    public void FlippedBit_FailsTheChecksum()
    {
        using (var spill = new SpillStore(_dir, 1 << 20, 1 << 16))
        {
            spill.Append("k"u8, new byte[50], 1);
            spill.Append("k"u8, new byte[50], 2);
        }
        var file = Directory.GetFiles(_dir, "*.spill").Single();
        var bytes = File.ReadAllBytes(file);
        bytes[^10] ^= 0x40; // inside the second record's value
        File.WriteAllBytes(file, bytes);
        var (records, corrupt) = SpillStore.Read(file);
        Assert.Single(records);
        Assert.Equal(1, corrupt);
    }

    [Fact]
    public void Append_PastTheCap_ReturnsFalseAndStaysUnderIt()
    {
        using var spill = new SpillStore(_dir, 8192, 4096);
        var accepted = 0;
        for (var i = 0; i < 100; i++) accepted += spill.Append("k"u8, new byte[200], i) ? 1 : 0;
        Assert.InRange(accepted, 1, 99);
        Assert.True(spill.Bytes <= 8192);
        Assert.Equal(accepted, spill.Records);
    }

    [Fact]
    public void SecondStoreOnTheSameFolder_FailsNamingTheSetting()
    {
        using var first = new SpillStore(_dir, 1 << 20, 4096);
        var ex = Assert.Throws<InvalidOperationException>(() => new SpillStore(_dir, 1 << 20, 4096));
        Assert.Contains("SpillDirectory", ex.Message, StringComparison.Ordinal);
    }
}
