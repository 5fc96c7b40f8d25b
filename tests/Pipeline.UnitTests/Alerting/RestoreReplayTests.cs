using Microsoft.Extensions.Time.Testing;
using Pipeline.Aggregation;
using Pipeline.Alerting;
using Pipeline.Consumers;
using Pipeline.LoadGen;
using Pipeline.Schemas;

namespace Pipeline.UnitTests.Alerting;

public sealed class RestoreReplayTests
{
    [Fact]
    public void HistoryRestoredFromStorage_ThenReplayed_RaisesNoFalseAlerts()
    {
        var end = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
        var windows = new PartitionWindows(0, new WindowingOptions(), PriceTable.Default, new FakeTimeProvider(end));
        var aggregates = new List<WindowAggregate>();
        long offset = 0;
        foreach (var call in Scenario.All["steady"].Generate(end, seed: 3))
        {
            windows.Add(call, offset++);
            var due = windows.DueWindows();
            aggregates.AddRange(due.Select(w => MetricsRows.ToAggregate(w, 1, "")));
            windows.MarkEmitted(due);
        }
        var engine = new AlertEngine(RuleFile.Defaults);
        foreach (var a in aggregates.OrderBy(a => a.WindowStart)) engine.Remember(a);
        var alerts = aggregates.SelectMany(engine.OnWindow).ToList();
        Assert.True(alerts.Count == 0, string.Join("\n", alerts.Select(a => a.Summary)));
    }
}
