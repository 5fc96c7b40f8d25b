using Pipeline.Cli;

namespace Pipeline.UnitTests.Cli;

public sealed class EvalSuiteTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 28, 8, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Full_HasEveryCaseOnASeriesOfItsOwn_AndAtLeastTheSeriesAsked()
    {
        var suite = EvalSuite.Full(days: 3, series: 50);
        Assert.Equal(50, suite.Streams.Count);
        Assert.Equal(3 * 1440, suite.SteadyMinutes);
        Assert.Equal(["latency +20%", "latency +60%", "latency 2x", "quality -5%", "quality -25%", "errors 1%->12%", "cost x1.5", "traffic x3", "series stops", "latency drift 2h"],
            suite.Incidents.Select(i => i.Id));
        Assert.Equal(suite.Incidents.Count, suite.Incidents.Select(i => i.Stream).Distinct().Count());
        Assert.Equal(suite.Streams.Count, suite.Streams.Select(s => (s.PromptName, s.PromptVersion)).Distinct().Count());
        Assert.All(suite.Incidents, i => Assert.Equal(EvalSuite.IncidentCallsPerMinute, suite.Streams[i.Stream].CallsPerMinute));
        // "On one version": the latency cases have a healthy sibling version of the same prompt and model.
        foreach (var i in suite.Incidents.Where(i => i.Id.StartsWith("latency +", StringComparison.Ordinal) || i.Id == "latency 2x"))
        {
            var s = suite.Streams[i.Stream];
            Assert.Contains(suite.Streams, o => o.PromptName == s.PromptName && o.PromptVersion != s.PromptVersion && o.Model == s.Model);
        }
        Assert.Equal(120, suite.Incidents.Single(i => i.Id == "latency drift 2h").To - suite.Incidents.Single(i => i.Id == "latency drift 2h").From);
        Assert.All(suite.Incidents, i => Assert.True(i.From >= suite.SteadyMinutes && i.To <= suite.Minutes));
    }

    [Fact]
    public void EndAtOrBefore_PutsTheFirstIncidentAt0830Utc()
    {
        var suite = EvalSuite.Full(1, 20);
        var end = suite.EndAtOrBefore(new DateTimeOffset(2026, 12, 1, 23, 44, 0, TimeSpan.Zero));
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 11, 0, 0, TimeSpan.Zero), end);
        var firstIncident = end.AddMinutes(-suite.Minutes + suite.Incidents.Min(i => i.From));
        Assert.Equal(new TimeSpan(8, 30, 0), firstIncident.TimeOfDay);
        Assert.Equal(new DateTimeOffset(2026, 11, 30, 11, 0, 0, TimeSpan.Zero), suite.EndAtOrBefore(new DateTimeOffset(2026, 12, 1, 10, 59, 0, TimeSpan.Zero)));
    }

    [Fact]
    public void Score_FiringOnTheSeriesInItsSpanCatches_EverythingElseIsFalse()
    {
        var suite = EvalSuite.Short();
        var errors = suite.Incidents.Single(i => i.Id == "errors 1%->12%");
        var latency = suite.Incidents.Single(i => i.Id == "latency 2x");
        var e = suite.Streams[errors.Stream];
        var l = suite.Streams[latency.Stream];
        var from = Start.AddMinutes(errors.From);
        var alerts = new List<EvalAlert>
        {
            new("success_rate_warning", e.PromptName, e.PromptVersion, from.AddMinutes(3), "success_rate"),
            new("error_rate", e.PromptName, e.PromptVersion, from.AddMinutes(4)),             // the same incident: neither caught again nor false
            new("error_rate", e.PromptName, e.PromptVersion, from.AddMinutes(-10)),           // before it: false
            new("latency_p95_regression", l.PromptName, "1", from.AddMinutes(5)),             // the healthy sibling version: false
            new("latency_p95_regression", l.PromptName, l.PromptVersion, Start.AddMinutes(latency.To + 6)), // after end + 5 min: false
        };
        var score = suite.Score(Start, alerts);
        var caught = score.Incidents.Single(o => o.Id == errors.Id);
        Assert.True(caught.Caught);
        Assert.Equal("success_rate_warning", caught.Rule);
        Assert.Equal(2, caught.DelayMinutes); // from the end of the first affected minute
        Assert.True(caught.ByRelatedMetric);
        Assert.False(score.Incidents.Single(o => o.Id == latency.Id).Caught);
        Assert.Equal(3, score.FalseAlerts.Count);
        var hours = suite.Streams.Count * suite.Minutes / 60.0 - suite.Incidents.Sum(i => (i.To - i.From + 5) / 60.0);
        Assert.Equal(hours, score.SteadySeriesHours, 6);
        Assert.Equal(3 * 1000 / hours, score.FalseAlertsPer1000SeriesHours, 6);
    }

    [Fact]
    public void Score_AtEndPlusGrace_StillCaught()
    {
        var suite = EvalSuite.Short();
        var i = suite.Incidents[0];
        var s = suite.Streams[i.Stream];
        var score = suite.Score(Start, [new EvalAlert("r", s.PromptName, s.PromptVersion, Start.AddMinutes(i.To + 5))]);
        Assert.True(score.Incidents[0].Caught);
        Assert.Empty(score.FalseAlerts);
    }

    [Fact]
    public void Table_EndsWithTheSummaryLines()
    {
        var suite = EvalSuite.Short();
        var s = suite.Streams[suite.Incidents[0].Stream];
        var run = new EvalRun(1, Start, suite.Score(Start, [new EvalAlert("error_rate", s.PromptName, s.PromptVersion, Start.AddMinutes(suite.Incidents[0].From + 3))]),
            100, 99, 99, 1, 1, 10, 5, 2048, 400, TimeSpan.FromMinutes(1));
        var lines = EvalCommand.Table(suite, [run]).TrimEnd().Split('\n');
        Assert.StartsWith("incidents caught 1 of 3", lines[^3], StringComparison.Ordinal);
        Assert.Equal("median detection delay: 2 min", lines[^2].TrimEnd());
        Assert.StartsWith("false alerts per 1,000 series-hours: 0.00", lines[^1], StringComparison.Ordinal);
        Assert.Contains("expected to be caught once issue 14's detectors land", lines.Single(l => l.StartsWith("| series stops", StringComparison.Ordinal)), StringComparison.Ordinal);
    }
}
