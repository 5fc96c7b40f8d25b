using Pipeline.Aggregation;
using Pipeline.Dashboard;

namespace Pipeline.UnitTests.Dashboard;

public sealed class RollupPlanTests
{
    private static readonly DateTimeOffset Midnight = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);

    private static Dictionary<DateTimeOffset, DateTimeOffset> RolledAfterTheyEnded(int days) =>
        Enumerable.Range(0, days).ToDictionary(d => Midnight.AddDays(d), d => Midnight.AddDays(d + 1).AddHours(1));

    [Fact]
    public void ThirtyDays_RolledDaysFromHours_RaggedStartAndUnrolledLastDayFromMinutes()
    {
        var range = new TimeRange(Midnight.AddMinutes(37), Midnight.AddDays(30).AddHours(11).AddMinutes(5));
        var plan = RollupPlan.For(range, RolledAfterTheyEnded(30));

        Assert.Equal([new TimeRange(Midnight.AddHours(1), Midnight.AddDays(30))], plan.Hours);
        Assert.Equal([new TimeRange(range.From, Midnight.AddHours(1)), new TimeRange(Midnight.AddDays(30), range.To)], plan.Minutes);
        Assert.Equal(range.Span, plan.Hours.Concat(plan.Minutes).Aggregate(TimeSpan.Zero, (s, r) => s + r.Span));
    }

    [Fact]
    public void DayRolledBeforeItEnded_OrAMissingDay_IsReadFromMinutes()
    {
        var rolled = RolledAfterTheyEnded(5);
        rolled[Midnight.AddDays(2)] = Midnight.AddDays(2).AddHours(20); // built mid-day: later windows are not in it
        rolled.Remove(Midnight.AddDays(3));
        var plan = RollupPlan.For(new TimeRange(Midnight, Midnight.AddDays(5)), rolled);

        Assert.Equal([new TimeRange(Midnight, Midnight.AddDays(2)), new TimeRange(Midnight.AddDays(4), Midnight.AddDays(5))], plan.Hours);
        Assert.Equal([new TimeRange(Midnight.AddDays(2), Midnight.AddDays(4))], plan.Minutes);
    }

    [Fact]
    public void ShortRanges_AndSubHourBuckets_AreMinutesOnly()
    {
        var rolled = RolledAfterTheyEnded(5);
        Assert.False(RollupPlan.For(new TimeRange(Midnight, Midnight.AddDays(1)), rolled).UsesRollups);
        Assert.False(RollupPlan.For(new TimeRange(Midnight, Midnight.AddDays(5)), rolled, bucketSeconds: 900).UsesRollups);
    }

    [Fact]
    public void SixHourBuckets_AreRolledWhole_NeverSplitBetweenSources()
    {
        var range = new TimeRange(Midnight.AddHours(3), Midnight.AddDays(4));
        var plan = RollupPlan.For(range, RolledAfterTheyEnded(4), bucketSeconds: 21600);

        Assert.Equal([new TimeRange(Midnight.AddHours(6), Midnight.AddDays(4))], plan.Hours);
        Assert.Equal([new TimeRange(range.From, Midnight.AddHours(6))], plan.Minutes);
        Assert.Equal($"((hour >= {Midnight.AddHours(6).ToUnixTimeSeconds()} AND hour < {Midnight.AddDays(4).ToUnixTimeSeconds()}))", RollupPlan.Sql("hour", plan.Hours));
        Assert.Equal("0", RollupPlan.Sql("hour", []));
    }

    [Fact]
    public void AddRanks_StandsInForTheCalls_MergingWithMinuteSketchesWithinAQuarterPercentOfRank()
    {
        // A rolled part (latencies 1..9000) known by its quantiles at the ranks, and a minute part (9001..10000) as a sketch.
        var rolled = Enumerable.Range(1, 9000).Select(i => (double)i).ToArray();
        var quantiles = RollupPlan.Ranks.Select(r => rolled[(int)Math.Floor(r * rolled.Length)]).ToArray();
        var sketch = new QuantileSketch();
        RollupPlan.AddRanks(sketch, quantiles, rolled.Length);
        var minutes = new QuantileSketch();
        for (var i = 9001; i <= 10000; i++) minutes.Add(i);
        sketch.Merge(minutes);

        Assert.Equal(10000, sketch.Count);
        foreach (var q in new[] { 0.5, 0.95, 0.99 })
        {
            Assert.InRange(sketch.Quantile(q), q * 10000 * 0.97, q * 10000 * 1.03);
        }
    }
}
