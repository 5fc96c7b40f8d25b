using Microsoft.Extensions.Time.Testing;
using Pipeline.Aggregation;
using Pipeline.Alerting;
using Pipeline.Consumers;
using Pipeline.LoadGen;
using Pipeline.Schemas;

namespace Pipeline.UnitTests.Alerting;

public sealed class RestoreReplayTests
{
    [Theory]
    [InlineData("steady", "")]
    [InlineData("release-regression", "latency_p95_regression,latency_p50_degradation,latency_p95_degradation,latency_drift")]
    public void HistoryRestoredFromStorage_ThenReplayed_RaisesOnlyTheIncident(string name, string expected)
    {
        var end = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
        var windows = new PartitionWindows(0, new WindowingOptions(), PriceTable.Default, new FakeTimeProvider(end));
        var aggregates = new List<WindowAggregate>();
        long offset = 0;
        foreach (var call in Scenario.All[name].Generate(end, seed: 3))
        {
            windows.Add(call, offset++);
            var due = windows.DueWindows();
            aggregates.AddRange(due.Select(w => MetricsRows.ToAggregate(w, 1, "")));
            windows.MarkEmitted(due);
        }
        var engine = new AlertEngine(RuleFile.Defaults);
        foreach (var a in aggregates.OrderBy(a => a.WindowStart)) engine.Remember(a);
        // Replayed per series, as two topic partitions would deliver them.
        var alerts = aggregates.OrderByDescending(a => a.Series.PromptVersion).ThenBy(a => a.WindowStart).SelectMany(engine.OnWindow).ToList();
        alerts.AddRange(engine.AdvanceTo(aggregates.Max(a => a.WindowEnd)));
        var allowed = expected.Split(',', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(alerts.All(a => allowed.Contains(a.RuleId)), string.Join("\n", alerts.Select(a => a.Summary)));
        if (allowed.Length > 0) Assert.Contains(alerts, a => a.RuleId == allowed[0] && a.State == AlertState.Firing);
    }
}

public sealed class PartialHistoryTests
{
    [Fact]
    public void SiblingHistoryMissingItsNewestWindows_BaselineRateIsNotDiluted()
    {
        var v1 = new SeriesKey("prod", "svc", "answer", "1.0", "m");
        var v2 = v1 with { PromptVersion = "2.0" };
        var t = new DateTimeOffset(2026, 11, 23, 9, 0, 0, TimeSpan.Zero);
        static WindowAggregate W(SeriesKey s, DateTimeOffset start, long calls)
        {
            var sketch = new QuantileSketch();
            for (var i = 0; i < calls; i++) sketch.Add(200);
            return new WindowAggregate { Series = s, WindowStart = start, WindowSeconds = 60, Revision = 1, Calls = calls, Successes = calls, LatencySketch = sketch.Serialize(), CostUsd = calls * 0.001 };
        }
        var engine = new AlertEngine(RuleFile.Defaults);
        // Only the first 35 of v1.0's 60 minutes have arrived (the rest are still on another partition).
        for (var m = 0; m < 35; m++) engine.Remember(W(v1, t.AddMinutes(m), 120));
        var alerts = engine.OnWindow(W(v2, t.AddMinutes(60), 130));
        Assert.DoesNotContain(alerts, a => a.RuleId == "traffic_spike");
    }
}
