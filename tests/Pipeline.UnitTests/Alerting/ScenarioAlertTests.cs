using Microsoft.Extensions.Time.Testing;
using Pipeline.Aggregation;
using Pipeline.Alerting;
using Pipeline.Consumers;
using Pipeline.LoadGen;
using Pipeline.Schemas;

namespace Pipeline.UnitTests.Alerting;

/// <summary>
/// Each load-generator scenario through the real windowing and the default rules (no servers): the
/// incident raises the right alert within two windows of the first window that shows it, and resolves
/// after it ends; steady traffic raises none.
/// </summary>
public sealed class ScenarioAlertTests
{
    private static readonly DateTimeOffset End = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private static List<Alert> Run(Scenario scenario)
    {
        var time = new FakeTimeProvider(End);
        var windows = new PartitionWindows(0, new WindowingOptions(), PriceTable.Default, time);
        var engine = new AlertEngine(RuleFile.Defaults);
        var alerts = new List<Alert>();
        long offset = 0;
        foreach (var call in scenario.Generate(End, seed: 7))
        {
            windows.Add(call, offset++);
            var due = windows.DueWindows();
            foreach (var w in due.OrderBy(w => w.Key.WindowStart))
            {
                var aggregate = MetricsRows.ToAggregate(w, w.Revision + 1, PriceTable.Default.Version);
                alerts.AddRange(engine.OnWindow(aggregate));
                alerts.AddRange(engine.AdvanceTo(aggregate.WindowEnd));
            }
            windows.MarkEmitted(due);
        }
        return alerts;
    }

    // Rules that measure the same latency failure.
    private const string Latency = "latency_p50_degradation,latency_p95_degradation,latency_drift";

    private static DateTimeOffset Minute(int m) => End.AddMinutes(-90).AddMinutes(m);

    [Fact]
    public void Steady_RaisesNothing()
    {
        Assert.Empty(Run(Scenario.All["steady"]));
    }

    [Theory]
    [InlineData("release-regression", "latency_p95_regression", "support_answer", "2.0", "ERROR", Latency)]
    [InlineData("provider-outage", "success_rate_critical", "summarize_ticket", "3.1", "CRITICAL", "success_rate_warning,error_rate,error_rate_rise,error_budget_burn")]
    [InlineData("traffic-spike", "traffic_spike", "support_answer", "1.0", "WARNING", "")]
    [InlineData("cost-jump", "cost_per_call", "summarize_ticket", "3.1", "WARNING", "tokens_per_call")]
    [InlineData("slow-retrieval", "latency_p95_regression", "support_answer", "1.0", "ERROR", Latency)]
    [InlineData("scenarios/slow-retrieval.yaml", "latency_p95_regression", "support_answer", "1.0", "ERROR", Latency)]
    public void Incident_RaisesTheRightAlertWithinTwoWindows_AndResolves(string scenario, string rule, string prompt, string version, string severity, string related)
    {
        var alerts = Run(Scenario.Resolve(scenario.EndsWith(".yaml", StringComparison.Ordinal) ? Path.Combine(AppContext.BaseDirectory, scenario) : scenario));
        // Only the incident's rule, and rules that measure the same failure, may fire.
        var allowed = related.Split(',', StringSplitOptions.RemoveEmptyEntries).Append(rule).ToHashSet();
        Assert.True(alerts.All(a => allowed.Contains(a.RuleId)), string.Join("\n", alerts.Select(a => $"{a.RuleId} {a.State} {a.WindowEnd:HH:mm}: {a.Summary}")));
        var firing = alerts.Where(a => a.RuleId == rule && a.State == AlertState.Firing).ToList();
        var alert = Assert.Single(firing);
        Assert.Equal(prompt, alert.Series.PromptName);
        Assert.Equal(version, alert.Series.PromptVersion);
        Assert.Equal(severity, alert.Severity);
        // The incident's first window is [60, 61): its alert comes with that window or the next.
        Assert.InRange(alert.WindowEnd, Minute(61), Minute(62));
        var resolved = Assert.Single(alerts, a => a.AlertId == alert.AlertId && a.State == AlertState.Resolved);
        Assert.True(resolved.WindowEnd > Minute(70));
        // Nothing fires on the series that were not part of the incident.
        Assert.DoesNotContain(alerts, a => a.Series.PromptName != prompt);
    }
}
