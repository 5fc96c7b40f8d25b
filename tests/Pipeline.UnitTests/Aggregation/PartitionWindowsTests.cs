using Microsoft.Extensions.Time.Testing;
using Pipeline.Aggregation;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.UnitTests.Aggregation;

public sealed class PartitionWindowsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(T0);
    private readonly WindowingOptions _options = new();

    private PartitionWindows NewWindows() => new(0, _options, PriceTable.Default, _time);

    private static LlmCall At(DateTimeOffset t, double latency = 100, string version = "1") =>
        Samples.MinimalCall() with { EventId = Guid.NewGuid(), OccurredAt = t, LatencyMs = latency, PromptVersion = version };

    [Theory]
    [InlineData("2026-11-23T10:00:00Z", "2026-11-23T10:00:00Z")]
    [InlineData("2026-11-23T10:00:59.999Z", "2026-11-23T10:00:00Z")]
    [InlineData("2026-11-23T10:01:00Z", "2026-11-23T10:01:00Z")]
    public void WindowStartOf_FloorsToTheMinute(string at, string expected)
    {
        Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture),
            PartitionWindows.WindowStartOf(DateTimeOffset.Parse(at, System.Globalization.CultureInfo.InvariantCulture), TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public void Watermark_TrailsMaxEventTimeByAllowedLateness_AndNeverGoesBack()
    {
        var w = NewWindows();
        w.Add(At(T0.AddSeconds(90)), 0);
        Assert.Equal(T0.AddSeconds(30), w.Watermark);
        w.Add(At(T0.AddSeconds(10)), 1);
        Assert.Equal(T0.AddSeconds(30), w.Watermark);
    }

    [Fact]
    public void DueWindows_ClosesOnlyWhenWatermarkPassesWindowEnd()
    {
        var w = NewWindows();
        w.Add(At(T0.AddSeconds(5)), 0);
        w.Add(At(T0.AddSeconds(119)), 1); // watermark 10:00:59
        Assert.Empty(w.DueWindows());
        w.Add(At(T0.AddSeconds(120)), 2); // watermark 10:01:00 closes [10:00, 10:01)
        var due = Assert.Single(w.DueWindows());
        Assert.Equal(T0, due.Key.WindowStart);
        Assert.Equal(1, due.Calls);
    }

    [Fact]
    public void IdlePartition_WatermarkFollowsClock_ClosesWindows()
    {
        var w = NewWindows();
        w.Add(At(T0.AddSeconds(5)), 0);
        _time.Advance(TimeSpan.FromSeconds(20));
        Assert.Empty(w.DueWindows());
        _time.Advance(TimeSpan.FromSeconds(45)); // idle 65 s, clock 10:01:05, watermark 10:00:05: still open
        Assert.Empty(w.DueWindows());
        _time.Advance(TimeSpan.FromSeconds(60)); // clock 10:02:05, watermark 10:01:05
        Assert.Single(w.DueWindows());
    }

    [Fact]
    public void PartitionWithBacklog_IsNotIdle_WatermarkStaysWithEventTime()
    {
        var w = NewWindows();
        w.Add(At(T0.AddSeconds(5)), 0);
        _time.Advance(TimeSpan.FromSeconds(125)); // long without events, but records are still waiting to be read
        Assert.Empty(w.DueWindows(caughtUp: false));
        Assert.Single(w.DueWindows(caughtUp: true)); // once caught up, the quiet partition follows the clock
    }

    [Fact]
    public void LateEvent_ProducesNextRevisionWithFullContents()
    {
        var w = NewWindows();
        w.Add(At(T0.AddSeconds(5), 100), 0);
        w.Add(At(T0.AddSeconds(130), 100), 1);
        var first = Assert.Single(w.DueWindows());
        w.MarkEmitted([first]);
        Assert.Equal(1, first.Revision);

        Assert.Equal(AddOutcome.Late, w.Add(At(T0.AddSeconds(30), 900), 2));
        var second = Assert.Single(w.DueWindows());
        Assert.Same(first, second);
        Assert.Equal(2, second.Calls);
        Assert.Equal(900, second.Latency.Max);
        w.MarkEmitted([second]);
        Assert.Equal(2, second.Revision);
        Assert.Empty(w.DueWindows());
    }

    [Fact]
    public void Replay_EventsAlreadyInStoredRevision_AreIgnored()
    {
        var w = NewWindows();
        w.Add(At(T0.AddSeconds(130)), 10); // watermark 10:01:10: window 10:00 is closed
        var stored = new WindowState(new WindowKey(SeriesKey.Of(At(T0)), T0), TimeSpan.FromMinutes(1), 0);
        var counted = At(T0.AddSeconds(2));
        stored.Add(At(T0.AddSeconds(1)), 3, PriceTable.Default);
        stored.Add(counted, 5, PriceTable.Default);
        stored.MarkEmitted();
        Assert.True(w.NeedsStoredState(At(T0.AddSeconds(3))));
        w.Seed(stored);

        Assert.Equal(AddOutcome.Duplicate, w.Add(counted, 5));
        Assert.Equal(AddOutcome.Duplicate, w.Add(counted, 12)); // a producer retry of the same event
        Assert.Equal(AddOutcome.Late, w.Add(At(T0.AddSeconds(3)), 11));
        var due = w.DueWindows().Single(d => d.Key.WindowStart == T0);
        Assert.Equal(3, due.Calls);
        Assert.Equal(2, due.MarkEmitted());
    }

    [Fact]
    public void LowestOffsetNeeded_IsTheOldestUnwrittenEvent()
    {
        var w = NewWindows();
        w.Add(At(T0.AddSeconds(5), version: "a"), 7);
        w.Add(At(T0.AddSeconds(70), version: "b"), 8);
        w.Add(At(T0.AddSeconds(125), version: "a"), 9);
        Assert.Equal(7, w.LowestOffsetNeeded());
        w.MarkEmitted(w.DueWindows()); // closes 10:00 (offset 7)
        Assert.Equal(8, w.LowestOffsetNeeded());
    }

    [Fact]
    public void ClosedWindows_AreForgottenAfterLateRetention()
    {
        var w = NewWindows();
        w.Add(At(T0.AddSeconds(5)), 0);
        w.Add(At(T0.AddMinutes(3)), 1);
        w.MarkEmitted(w.DueWindows());
        Assert.Equal(2, w.WindowCount);
        w.Add(At(T0.AddMinutes(13)), 2);
        w.MarkEmitted(w.DueWindows());
        Assert.Equal(2, w.WindowCount); // 10:00 forgotten; 10:03 (emitted, retained) and 10:13 (open)
        Assert.True(w.NeedsStoredState(At(T0.AddSeconds(6))));
    }

    [Fact]
    public void WrittenWindows_BeyondMaxRetainedWindows_OldestEvicted_OpenAndUnwrittenKept()
    {
        var w = new PartitionWindows(0, new WindowingOptions { MaxRetainedWindows = 3, LateRetention = TimeSpan.FromDays(1) }, PriceTable.Default,
            new Microsoft.Extensions.Time.Testing.FakeTimeProvider(T0));
        // Six series in the 10:00 window, one in 10:01, then a 10:03 event closes both minutes.
        for (var i = 0; i < 6; i++) w.Add(At(T0.AddSeconds(5), version: "v" + i), i);
        w.Add(At(T0.AddSeconds(65)), 6);
        w.Add(At(T0.AddMinutes(3)), 7);
        var due = w.DueWindows();
        Assert.Equal(7, due.Count);
        // Only four of the seven are written: the three unwritten ones must stay whatever the bound says.
        Assert.Equal(1, w.MarkEmitted(due.Where(d => d.Key.WindowStart == T0).Take(4)));
        Assert.Equal(3 + 3 + 1, w.WindowCount); // 3 written retained, 3 unwritten, the open 10:03
        Assert.Equal(3, w.MarkEmitted(due.Where(d => d.Dirty)));
        Assert.Equal(3 + 1, w.WindowCount);
        // The newest written window (10:01) is kept; evicted ones are rebuilt from storage, like past retention.
        Assert.False(w.NeedsStoredState(At(T0.AddSeconds(70))));
        Assert.Equal(4, Enumerable.Range(0, 6).Count(i => w.NeedsStoredState(At(T0.AddSeconds(6), version: "v" + i))));
        Assert.Equal(7, w.LowestOffsetNeeded());
    }
}

public sealed class PartitionWindowsRestartTests
{
    [Fact]
    public void RestoreWatermark_MakesWrittenWindowsNeedStoredState_NewOnesDoNot()
    {
        var t0 = new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
        var w = new PartitionWindows(0, new WindowingOptions(), PriceTable.Default, new Microsoft.Extensions.Time.Testing.FakeTimeProvider(t0));
        var old = Samples.MinimalCall() with { OccurredAt = t0.AddMinutes(-5) };
        Assert.False(w.NeedsStoredState(old));
        w.RestoreWatermark(t0.AddMinutes(-3));
        Assert.True(w.NeedsStoredState(old));
        Assert.False(w.NeedsStoredState(old with { OccurredAt = t0.AddMinutes(-3) }));
    }
}
