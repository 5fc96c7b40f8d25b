using Pipeline.Alerting;
using Pipeline.Consumers;
using Pipeline.Schemas;

namespace Pipeline.UnitTests.Consumers;

public sealed class AlertInhibitionTests
{
    private static readonly SeriesKey Series = new("prod", "api", "support_answer", "2.0", "gpt-4o");
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly AlertInhibition _inhibition = new(RuleFile.Defaults);

    private static Alert Open(string rule, string severity, int startedMinute = 0, SeriesKey? series = null, string? inhibitedBy = null) => new()
    {
        AlertId = "id-" + rule + (series is null ? "" : "-other"), RuleId = rule, Fingerprint = "f-" + rule, State = AlertState.Firing, Severity = severity,
        Series = series ?? Series, Metric = "m", StartedAt = T0.AddMinutes(startedMinute), InhibitedBy = inhibitedBy,
    };

    [Fact]
    public void Defaults_RelatedRulesShareAFamily()
    {
        Assert.All(new[] { "latency_p50_degradation", "latency_p95_degradation", "latency_p95_regression", "latency_drift" },
            r => Assert.Equal("latency", _inhibition.Family(r)));
        Assert.All(new[] { "success_rate_critical", "success_rate_warning", "error_rate", "error_rate_rise", "error_budget_burn" },
            r => Assert.Equal("errors", _inhibition.Family(r)));
        Assert.Equal(_inhibition.Family("traffic_drop"), _inhibition.Family("traffic_stopped"));
        Assert.NotEqual(_inhibition.Family("cost_per_call"), _inhibition.Family("latency_p95_regression"));
    }

    [Fact]
    public void InhibitorOf_MoreSevereRelatedRuleOpen_InhibitsTheLesser_NotTheOtherWay()
    {
        var regression = Open("latency_p95_regression", "ERROR", startedMinute: 5);
        var p50 = Open("latency_p50_degradation", "WARNING");
        Assert.Equal(regression.AlertId, _inhibition.InhibitorOf(p50, [regression])?.AlertId);
        Assert.Null(_inhibition.InhibitorOf(regression, [p50])); // a later, more severe page is still sent
    }

    [Fact]
    public void InhibitorOf_EqualSeverity_TheIncidentBegunFirstSpeaks_ThenTheRuleListedFirst()
    {
        var p50 = Open("latency_p50_degradation", "WARNING", startedMinute: 0);
        var drift = Open("latency_drift", "WARNING", startedMinute: 10);
        Assert.Equal(p50.AlertId, _inhibition.InhibitorOf(drift, [p50])?.AlertId);
        Assert.Null(_inhibition.InhibitorOf(p50, [drift]));
        var p95 = Open("latency_p95_degradation", "WARNING", startedMinute: 0); // same start: p50 is listed first
        Assert.Equal(p50.AlertId, _inhibition.InhibitorOf(p95, [p50])?.AlertId);
        Assert.Null(_inhibition.InhibitorOf(p50, [p95]));
    }

    [Fact]
    public void InhibitorOf_OtherSeriesOtherFamilyOrInhibitedSource_Nothing()
    {
        var p50 = Open("latency_p50_degradation", "WARNING");
        Assert.Null(_inhibition.InhibitorOf(p50, [Open("latency_p95_regression", "ERROR", series: Series with { PromptVersion = "1.0" })]));
        Assert.Null(_inhibition.InhibitorOf(p50, [Open("error_rate", "ERROR")]));
        Assert.Null(_inhibition.InhibitorOf(p50, [Open("latency_p95_regression", "ERROR", inhibitedBy: "x")]));
        Assert.Null(_inhibition.InhibitorOf(p50, [Open("latency_p95_regression", "ERROR") with { State = AlertState.Resolved }]));
    }

    [Fact]
    public void RuleFile_FamilyKey_OverridesOrOptsOut()
    {
        var rules = RuleFile.Parse("""
            rules:
              - {id: p95, metric: latency_p95, comparison: above, baseline_factor: 2, severity: error}
              - {id: cost, metric: cost_per_call, comparison: above, baseline_factor: 1.5, family: latency}
              - {id: p50, metric: latency_p50, comparison: above, baseline_factor: 1.2, family: none}
            """, "rules.yaml");
        var inhibition = new AlertInhibition(rules);
        Assert.Equal(["latency", "latency", null], rules.Select(r => r.Family));
        Assert.NotNull(inhibition.InhibitorOf(Open("cost", "WARNING"), [Open("p95", "ERROR")]));
        Assert.Null(inhibition.InhibitorOf(Open("p50", "WARNING"), [Open("p95", "ERROR")]));
        var bad = Assert.Throws<RuleFileException>(() => RuleFile.Parse("rules:\n  - {id: x, metric: traffic, comparison: above, baseline_factor: 2, family: Latency-1}\n", "rules.yaml"));
        Assert.Contains("'family' 'Latency-1' must be lower-case", bad.Message, StringComparison.Ordinal);
    }
}
