using Pipeline.Reports;

namespace Pipeline.UnitTests.Reports;

public sealed class PromptHealthTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 9, 0, 30, TimeSpan.Zero);

    private static (long, long) Minute(DateTimeOffset start) => (start.ToUnixTimeSeconds(), 60);

    [Fact]
    public void CoveredMinutes_RangeStillFilling_DividesByTheClosedWindowsOnly()
    {
        // 15-minute range ending now; windows closed up to two minutes ago (the aggregator's lateness).
        var from = Now.AddMinutes(-15);
        var closedEnd = new DateTimeOffset(2026, 12, 2, 8, 58, 0, TimeSpan.Zero);
        var windows = Enumerable.Range(1, 13).Select(m => Minute(closedEnd.AddMinutes(-m))).ToList();
        Assert.Equal((closedEnd - from).TotalMinutes, PromptHealth.CoveredMinutes(from, Now, windows), 9);
    }

    [Fact]
    public void CoveredMinutes_DataBeginsInsideTheRange_CountsFromTheFirstWindow()
    {
        // The pipeline started 3 minutes ago: 3 closed minutes, not 15.
        var first = new DateTimeOffset(2026, 12, 2, 8, 55, 0, TimeSpan.Zero);
        var windows = new[] { Minute(first), Minute(first.AddMinutes(1)), Minute(first.AddMinutes(2)) };
        Assert.Equal(3, PromptHealth.CoveredMinutes(Now.AddMinutes(-15), Now, windows), 9);
    }

    [Fact]
    public void CoveredMinutes_GapInsideTheSpan_CountsAsMinutesWithoutCalls()
    {
        var first = new DateTimeOffset(2026, 12, 2, 8, 50, 0, TimeSpan.Zero);
        Assert.Equal(10, PromptHealth.CoveredMinutes(Now.AddMinutes(-15), Now, [Minute(first), Minute(first.AddMinutes(9))]), 9);
    }

    [Fact]
    public void CoveredMinutes_ClosedRange_IsTheRange()
    {
        var from = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        var windows = Enumerable.Range(0, 24 * 60).Select(m => Minute(from.AddMinutes(m))).ToList();
        Assert.Equal(24 * 60, PromptHealth.CoveredMinutes(from, from.AddDays(1), windows), 9);
        Assert.Equal(15, PromptHealth.CoveredMinutes(Now.AddMinutes(-15), Now, []), 9);
    }
}
