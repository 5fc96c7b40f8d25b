using Microsoft.Extensions.Time.Testing;
using Pipeline.Aggregation;
using Pipeline.Alerting;
using Pipeline.Schemas;

namespace Pipeline.UnitTests.Alerting;

public sealed class AlertEngineTests
{
    private static readonly SeriesKey Series = new("prod", "svc", "answer", "2.0", "gpt-4o");
    // Event time drives the engine; the fake clock hands out window boundaries minute by minute.
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 11, 23, 9, 0, 0, TimeSpan.Zero));

    private WindowAggregate NextWindow(long calls = 100, long errors = 0, double latency = 200, double costPerCall = 0.001, SeriesKey? series = null)
    {
        var start = _clock.GetUtcNow();
        _clock.Advance(TimeSpan.FromMinutes(1));
        return Window(start, calls, errors, latency, costPerCall, series);
    }

    private static WindowAggregate Window(DateTimeOffset start, long calls, long errors, double latency, double costPerCall = 0.001, SeriesKey? series = null)
    {
        var sketch = new QuantileSketch();
        for (var i = 0; i < calls; i++) sketch.Add(latency * (0.9 + 0.2 * i / Math.Max(1, calls)));
        return new WindowAggregate
        {
            Series = series ?? Series, WindowStart = start, WindowSeconds = 60, Revision = 1, Calls = calls, Events = calls,
            Successes = calls - errors, Errors = errors, LatencySketch = sketch.Serialize(), LatencyP95Ms = sketch.Quantile(0.95),
            CostUsd = costPerCall * calls,
        };
    }

    private static AlertRule Rule(string yaml) => RuleFile.Parse("rules:\n" + yaml, "test.yaml").Single();

    private static List<Alert> Feed(AlertEngine engine, int minutes, Func<WindowAggregate> window) =>
        Enumerable.Range(0, minutes).SelectMany(_ => engine.OnWindow(window())).ToList();

    [Fact]
    public void Defaults_ContainEveryRuleFromTheProductThresholds()
    {
        var ids = RuleFile.Defaults.Select(r => r.Id).ToHashSet();
        foreach (var id in new[] { "success_rate_warning", "success_rate_critical", "error_rate", "latency_p95_regression", "latency_p50_degradation",
                     "latency_p95_degradation", "quality_degradation", "traffic_stopped", "traffic_spike", "traffic_drop", "cost_per_call", "error_budget_burn" })
        {
            Assert.Contains(id, ids);
        }
        Assert.Equal(0.95, RuleFile.Defaults.Single(r => r.Id == "success_rate_warning").Threshold);
        Assert.Equal(2.0, RuleFile.Defaults.Single(r => r.Id == "latency_p95_regression").BaselineFactor);
    }

    [Fact]
    public void StaticThreshold_SuccessRateBelow_FiresOnceThenResolvesAfterRecovery()
    {
        var engine = new AlertEngine([Rule("  - {id: sr, metric: success_rate, comparison: below, threshold: 0.9, window: 1m, severity: critical, resolve_after: 2m}")]);
        Assert.Empty(Feed(engine, 5, () => NextWindow()));
        var firing = Feed(engine, 3, () => NextWindow(errors: 30));
        var alert = Assert.Single(firing);
        Assert.Equal(AlertState.Firing, alert.State);
        Assert.Equal("CRITICAL", alert.Severity);
        Assert.Equal(0.7, alert.Observed, 9);
        Assert.Empty(engine.OnWindow(NextWindow())); // one good window: not yet
        var resolved = Assert.Single(Feed(engine, 3, () => NextWindow()));
        Assert.Equal(AlertState.Resolved, resolved.State);
        Assert.Equal(alert.AlertId, resolved.AlertId);
        Assert.NotNull(resolved.ResolvedAt);
    }

    private const string RenotifyRule = "  - {id: sr, metric: success_rate, comparison: below, threshold: 0.9, window: 1m, resolve_after: 2m, renotify: 2m}";

    [Fact]
    public void Renotify_StillFiring_RepeatedEveryRenotify()
    {
        var engine = new AlertEngine([Rule(RenotifyRule)]);
        var alerts = Feed(engine, 5, () => NextWindow(errors: 50));
        Assert.Equal(3, alerts.Count); // minute 0, 2 and 4
        Assert.All(alerts, a => Assert.Equal(AlertState.Firing, a.State));
        Assert.Single(alerts.Select(a => a.AlertId).Distinct());
    }

    [Fact]
    public void Renotify_RecoveryQueuedBehindTheWatermark_ResolvesWithoutAReNotify()
    {
        // A slow partition holds the watermark back while this series' windows queue: the last bad minute (when a
        // re-notify is due) and the good minutes after it are judged in one step, in event-time order.
        var engine = new AlertEngine([Rule(RenotifyRule)]);
        var first = Assert.Single(Feed(engine, 2, () => NextWindow(errors: 50)));
        var held = _clock.GetUtcNow();
        Assert.Empty(engine.OnWindow(NextWindow(errors: 50), held));
        for (var m = 0; m < 3; m++) Assert.Empty(engine.OnWindow(NextWindow(), held));
        var step = engine.AdvanceTo(_clock.GetUtcNow());
        var resolved = Assert.Single(step);
        Assert.Equal(AlertState.Resolved, resolved.State);
        Assert.Equal(first.AlertId, resolved.AlertId);
    }

    [Fact]
    public void Renotify_ReplayAfterARestart_RecoveredSeriesOnlyResolves_StillBadSeriesRenotifiedOnce()
    {
        var rules = new[] { Rule(RenotifyRule) };
        var engine = new AlertEngine(rules);
        var firing = Assert.Single(Feed(engine, 1, () => NextWindow(errors: 50)));
        // Down for four minutes: the series recovered meanwhile. The new worker restores the incident and the
        // stored windows, then replays the same windows from the topic one record at a time.
        var recovered = new[] { NextWindow(errors: 50), NextWindow(errors: 50), NextWindow(), NextWindow(), NextWindow() };
        var restarted = new AlertEngine(rules);
        restarted.RestoreFiring(firing);
        foreach (var w in recovered) restarted.Remember(w);
        var replayed = recovered.SelectMany(w => restarted.OnWindow(w)).ToList();
        var resolved = Assert.Single(replayed);
        Assert.Equal(AlertState.Resolved, resolved.State);

        // Control: a series still bad at the newest window gets the re-notify that came due while down, once.
        var again = new AlertEngine(rules);
        var second = Assert.Single(Feed(again, 1, () => NextWindow(errors: 50)));
        var restarted2 = new AlertEngine(rules);
        restarted2.RestoreFiring(second);
        var later = new[] { NextWindow(errors: 50), NextWindow(errors: 50), NextWindow(errors: 50) };
        foreach (var w in later) restarted2.Remember(w);
        var renotified = Assert.Single(later.SelectMany(w => restarted2.OnWindow(w)));
        Assert.Equal(AlertState.Firing, renotified.State);
        Assert.Equal(later[^1].WindowEnd, renotified.WindowEnd);
    }

    [Fact]
    public void Renotify_SeriesFallsSilent_ResolvedInTheSameStepWithoutAReNotify()
    {
        var engine = new AlertEngine([Rule(RenotifyRule)]);
        Assert.Single(Feed(engine, 2, () => NextWindow(errors: 50)));
        var held = _clock.GetUtcNow();
        Assert.Empty(engine.OnWindow(NextWindow(errors: 50), held)); // its last window, queued; then nothing more
        var step = engine.AdvanceTo(_clock.GetUtcNow() + TimeSpan.FromMinutes(10));
        Assert.Equal(AlertState.Resolved, Assert.Single(step).State);
    }

    [Fact]
    public void For_ConditionMustHoldForTheDuration()
    {
        var engine = new AlertEngine([Rule("  - {id: er, metric: error_rate, comparison: above, threshold: 0.05, window: 1m, for: 5m}")]);
        var alerts = new List<(int Minute, Alert Alert)>();
        for (var m = 0; m < 8; m++)
        {
            alerts.AddRange(engine.OnWindow(NextWindow(errors: 10)).Select(a => (m, a)));
        }
        var (minute, _) = Assert.Single(alerts);
        Assert.Equal(4, minute); // pending since the first breached window's start; 5 minutes later it fires
    }

    [Fact]
    public void For_BrokenByOneGoodWindow_StartsOver()
    {
        var engine = new AlertEngine([Rule("  - {id: er, metric: error_rate, comparison: above, threshold: 0.05, window: 1m, for: 3m}")]);
        Assert.Empty(Feed(engine, 2, () => NextWindow(errors: 10)));
        Assert.Empty(engine.OnWindow(NextWindow()));
        Assert.Empty(Feed(engine, 2, () => NextWindow(errors: 10)));
        Assert.Single(Feed(engine, 1, () => NextWindow(errors: 10)));
    }

    [Fact]
    public void MinCalls_TooFewCalls_NoAlert()
    {
        var engine = new AlertEngine([Rule("  - {id: sr, metric: success_rate, comparison: below, threshold: 0.95, window: 1m, min_calls: 20}")]);
        Assert.Empty(Feed(engine, 5, () => NextWindow(calls: 10, errors: 5)));
        Assert.Single(Feed(engine, 1, () => NextWindow(calls: 40, errors: 20)));
    }

    [Fact]
    public void Cooldown_SuppressesRefiringUntilItPasses()
    {
        var engine = new AlertEngine([Rule("  - {id: sr, metric: success_rate, comparison: below, threshold: 0.9, window: 1m, resolve_after: 1m, cooldown: 10m}")]);
        Assert.Single(Feed(engine, 1, () => NextWindow(errors: 50)));
        Assert.Equal(AlertState.Resolved, Assert.Single(Feed(engine, 1, () => NextWindow())).State);
        Assert.Empty(Feed(engine, 3, () => NextWindow(errors: 50))); // within cooldown
        Assert.Empty(Feed(engine, 7, () => NextWindow()));
        Assert.Equal(AlertState.Firing, Assert.Single(Feed(engine, 1, () => NextWindow(errors: 50))).State);
    }

    [Fact]
    public void Baseline_LatencyP95Doubles_FiresWithBaseline_ResolvesAfterRollback()
    {
        var engine = new AlertEngine([RuleFile.Defaults.Single(r => r.Id == "latency_p95_regression")]);
        Assert.Empty(Feed(engine, 70, () => NextWindow(latency: 200)));
        var fired = Feed(engine, 2, () => NextWindow(latency: 480));
        var alert = Assert.Single(fired);
        Assert.Equal("latency_p95", alert.Metric);
        Assert.InRange(alert.Baseline!.Value, 200, 225);
        Assert.True(alert.Observed > 2 * alert.Baseline.Value);
        Assert.Empty(Feed(engine, 3, () => NextWindow(latency: 480)));
        var after = Feed(engine, 10, () => NextWindow(latency: 200));
        Assert.Equal(AlertState.Resolved, Assert.Single(after).State);
    }

    [Fact]
    public void Baseline_YoungSeries_HasNoBaselineYet()
    {
        var engine = new AlertEngine([RuleFile.Defaults.Single(r => r.Id == "latency_p95_regression")]);
        Assert.Empty(Feed(engine, 10, () => NextWindow(latency: 200)));
        Assert.Empty(Feed(engine, 5, () => NextWindow(latency: 900))); // 10 minutes of history < half an hour
    }

    [Fact]
    public void SeasonalBaseline_UsesSameHourLastWeek_WhenHistoryExists()
    {
        var rule = Rule("  - {id: p95w, metric: latency_p95, comparison: above, baseline_factor: 2, window: 5m, baseline: same_hour_last_week, min_calls: 20}");
        var engine = new AlertEngine([rule])
        {
            // Last week this hour ran at ~1000 ms: today's 1500 ms is normal for it.
            OlderHistory = (s, from, to) => Enumerable.Range(0, (int)(to - from).TotalMinutes).Select(i => Window(from.AddMinutes(i), 100, 0, 1000)).ToList(),
        };
        Assert.Empty(Feed(engine, 60, () => NextWindow(latency: 200)));
        Assert.Empty(Feed(engine, 5, () => NextWindow(latency: 1500)));

        var withoutLastWeek = new AlertEngine([rule]);
        _clock.Advance(TimeSpan.FromHours(1));
        Assert.Empty(Feed(withoutLastWeek, 60, () => NextWindow(latency: 200)));
        Assert.NotEmpty(Feed(withoutLastWeek, 5, () => NextWindow(latency: 1500))); // falls back to the previous hour
    }

    [Fact]
    public void BurnRate_FastAndSlowWindowsBothBurning_Fires()
    {
        var engine = new AlertEngine([RuleFile.Defaults.Single(r => r.Id == "error_budget_burn")]);
        Assert.Empty(Feed(engine, 60, () => NextWindow(errors: 0)));
        // 30% errors against a 1% budget burns at 30x in 5 minutes, but the hour is not burning yet.
        var early = Feed(engine, 3, () => NextWindow(errors: 30));
        Assert.Empty(early);
        var alerts = Feed(engine, 30, () => NextWindow(errors: 30));
        var alert = Assert.Single(alerts);
        Assert.Equal("burn_rate", alert.Metric);
        Assert.True(alert.Observed > 14.4 && alert.Baseline > 14.4);
    }

    [Fact]
    public void Traffic_SpikeAboveTwiceBaseline_Fires()
    {
        var engine = new AlertEngine([RuleFile.Defaults.Single(r => r.Id == "traffic_spike")]);
        Assert.Empty(Feed(engine, 60, () => NextWindow(calls: 100)));
        var alert = Assert.Single(Feed(engine, 5, () => NextWindow(calls: 400)));
        Assert.Equal("traffic", alert.Metric);
        Assert.InRange(alert.Baseline!.Value, 99, 101);
    }

    [Fact]
    public void CostPerCall_JumpAboveOneAndAHalf_Fires()
    {
        var engine = new AlertEngine([RuleFile.Defaults.Single(r => r.Id == "cost_per_call")]);
        Assert.Empty(Feed(engine, 60, () => NextWindow(costPerCall: 0.002)));
        Assert.Equal("cost_per_call", Assert.Single(Feed(engine, 3, () => NextWindow(costPerCall: 0.005))).Metric);
    }

    [Fact]
    public void SteadyTraffic_AllDefaultRules_NoAlertsOverAWeekendOfWindows()
    {
        var engine = new AlertEngine(RuleFile.Defaults);
        var random = new Random(5);
        var alerts = Feed(engine, 3 * 24 * 60, () => NextWindow(calls: 90 + random.Next(20), errors: random.Next(3), latency: 200 + random.Next(30), costPerCall: 0.001 + random.NextDouble() * 0.0002));
        Assert.Empty(alerts);
    }

    [Fact]
    public void RestoreFiring_AfterRestart_NoSecondFiring_ResolvesWithSameId()
    {
        var rule = Rule("  - {id: sr, metric: success_rate, comparison: below, threshold: 0.9, window: 1m, resolve_after: 1m}");
        var first = new AlertEngine([rule]);
        var fired = Assert.Single(Feed(first, 1, () => NextWindow(errors: 50)));

        var restarted = new AlertEngine([rule]);
        restarted.RestoreFiring(fired);
        Assert.Empty(Feed(restarted, 3, () => NextWindow(errors: 50)));
        var resolved = Assert.Single(Feed(restarted, 1, () => NextWindow()));
        Assert.Equal(AlertState.Resolved, resolved.State);
        Assert.Equal(fired.AlertId, resolved.AlertId);
    }

    [Fact]
    public void PerPromptOverride_DisablesOrChangesTheRule()
    {
        var rule = Rule("""
              - id: sr
                metric: success_rate
                comparison: below
                threshold: 0.9
                window: 1m
                overrides:
                  answer: { enabled: false }
                  summarize: { threshold: 0.5 }
            """);
        var engine = new AlertEngine([rule]);
        Assert.Empty(Feed(engine, 2, () => NextWindow(errors: 30)));
        var summarize = Series with { PromptName = "summarize" };
        Assert.Empty(Feed(engine, 2, () => NextWindow(errors: 30, series: summarize)));
        Assert.Single(Feed(engine, 1, () => NextWindow(errors: 60, series: summarize)));
    }

    [Fact]
    public void LateRevision_UpdatesHistory_DoesNotEvaluateAgain()
    {
        var engine = new AlertEngine([Rule("  - {id: sr, metric: success_rate, comparison: below, threshold: 0.9, window: 1m}")]);
        var w = NextWindow();
        Assert.Empty(engine.OnWindow(w));
        Assert.Empty(engine.OnWindow(w with { Revision = 2, Errors = 60, Successes = 40 }));
    }
}

public sealed class RuleFileTests
{
    [Theory]
    [InlineData("rules:\n  - id: a\n    metric: latency_p42\n    comparison: above\n    threshold: 1\n", 3, "unknown metric")]
    [InlineData("rules:\n  - id: a\n    metric: error_rate\n    comparison: sideways\n    threshold: 1\n", 4, "comparison")]
    [InlineData("rules:\n  - id: a\n    metric: error_rate\n    comparison: above\n    threshold: lots\n", 5, "not a number")]
    [InlineData("rules:\n  - id: a\n    metric: error_rate\n    comparison: above\n    threshold: 0.5\n    window: 5 minutes\n", 6, "duration")]
    [InlineData("rules:\n  - id: a\n    metric: error_rate\n    comparison: above\n    threshold: 1\n    colour: red\n", 6, "unknown key")]
    [InlineData("rules:\n  - id: a\n    metric: error_rate\n    comparison: above\n", 2, "exactly one of")]
    [InlineData("rules:\n  - id: a\n    metric: [oops\n", 4, "not valid YAML")]
    public void Parse_BrokenFile_NamesLineAndReason(string yaml, int line, string reason)
    {
        var ex = Assert.Throws<RuleFileException>(() => RuleFile.Parse(yaml, "rules.yaml"));
        Assert.Equal(line, ex.Line);
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
        Assert.StartsWith($"rules.yaml:{line}:", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("30s", 30)]
    [InlineData("5m", 300)]
    [InlineData("1h", 3600)]
    [InlineData("7d", 604800)]
    [InlineData("0", 0)]
    public void ParseDuration_KnownUnits(string text, int seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), RuleFile.ParseDuration(text));
    }
}

public sealed class AlertEngineReleaseTests
{
    private static readonly SeriesKey V1 = new("prod", "svc", "answer", "1.0", "gpt-4o");
    private static readonly SeriesKey V2 = V1 with { PromptVersion = "2.0" };

    private static WindowAggregate Window(SeriesKey series, DateTimeOffset start, double latency, long calls = 100)
    {
        var sketch = new QuantileSketch();
        for (var i = 0; i < calls; i++) sketch.Add(latency * (0.9 + 0.2 * i / calls));
        return new WindowAggregate
        {
            Series = series, WindowStart = start, WindowSeconds = 60, Revision = 1, Calls = calls, Events = calls, Successes = calls,
            LatencySketch = sketch.Serialize(), CostUsd = 0.001 * calls,
        };
    }

    [Fact]
    public void NewVersion_IsJudgedAgainstTheOldVersion_AndResolvesAfterRollback()
    {
        var engine = new AlertEngine([RuleFile.Defaults.Single(r => r.Id == "latency_p95_regression")]);
        var t = new DateTimeOffset(2026, 11, 23, 9, 0, 0, TimeSpan.Zero);
        var alerts = new List<Alert>();
        for (var m = 0; m < 60; m++) alerts.AddRange(engine.OnWindow(Window(V1, t.AddMinutes(m), 200)));
        Assert.Empty(alerts);
        // Release: v2.0 takes the traffic with twice the latency.
        for (var m = 60; m < 66; m++) alerts.AddRange(engine.OnWindow(Window(V2, t.AddMinutes(m), 450)));
        var firing = Assert.Single(alerts);
        Assert.Equal(V2, firing.Series);
        Assert.InRange(firing.Baseline!.Value, 195, 225);
        // Rollback: v1.0 again, v2.0 silent; the incident resolves.
        for (var m = 66; m < 80; m++)
        {
            alerts.AddRange(engine.OnWindow(Window(V1, t.AddMinutes(m), 200)));
            alerts.AddRange(engine.AdvanceTo(t.AddMinutes(m + 1)));
        }
        var resolved = Assert.Single(alerts.Skip(1));
        Assert.Equal(AlertState.Resolved, resolved.State);
        Assert.Equal(firing.AlertId, resolved.AlertId);
    }
}

public sealed class RuleFileValidationTests
{
    private const string Burn = "rules:\n  - id: burn\n    metric: burn_rate\n    comparison: above\n    threshold: 14.4\n    window: 5m\n";

    [Theory]
    [InlineData(Burn + "    long_window: 1h\n", "'slo' is required")]
    [InlineData(Burn + "    slo: 0.99\n", "'long_window' is required")]
    [InlineData(Burn + "    slo: 1.5\n    long_window: 1h\n", "'slo' must be between 0 and 1")]
    [InlineData(Burn + "    slo: 0.99\n    long_window: 5m\n", "'long_window' 5m must be longer")]
    [InlineData("rules:\n  - id: burn\n    metric: burn_rate\n    comparison: above\n    baseline_factor: 2\n    slo: 0.99\n    long_window: 1h\n", "'baseline_factor' cannot be used with burn_rate")]
    [InlineData("rules:\n  - id: er\n    metric: error_rate\n    comparison: above\n    threshold: 0.05\n    window: 99999d\n", "'window' 99999d must be between 1m and 7d")]
    [InlineData("rules:\n  - id: er\n    metric: error_rate\n    comparison: above\n    threshold: 0.05\n    window: 48:00:00\n", "'window' '48:00:00' is ambiguous")]
    [InlineData("rules:\n  - id: er\n    metric: error_rate\n    comparison: above\n    threshold: 0.05\n    cooldown: -5m\n", "'cooldown' -5m must be between 0 and 7d")]
    [InlineData("rules:\n  - id: er\n    metric: error_rate\n    comparison: above\n    threshold: 5\n", "'threshold' 5 must be between 0 and 1")]
    [InlineData("rules:\n  - id: er\n    metric: error_rate\n    comparison: above\n    threshold: .nan\n", "'threshold' '.nan' is not a number")]
    [InlineData("rules:\n  - id: lat\n    metric: latency_p95\n    comparison: above\n    threshold: -1\n", "'threshold' -1 must not be negative")]
    [InlineData("rules:\n  - id: lat\n    metric: latency_p95\n    comparison: above\n    baseline_factor: 0\n", "'baseline_factor' 0 must be above 0")]
    [InlineData("rules:\n  - id: lat\n    metric: latency_p95\n    comparison: above\n    baseline_factor: 2\n    baseline: previous:30d\n", "'baseline' previous:30d must be between 1m and 7d")]
    [InlineData("rules:\n  - id: er\n    metric: error_rate\n    comparison: above\n    threshold: 0.05\n    slo: 0.99\n", "'slo' is only used by metric burn_rate")]
    [InlineData("rules:\n  - id: er\n    metric: error_rate\n    comparison: above\n    threshold: 0.05\n    min_calls: 2.5\n", "'min_calls' must be a whole number")]
    [InlineData("rules:\n  - id: er\n    metric: error_rate\n    comparison: above\n    threshold: 0.05\n    overrides:\n      checkout:\n        threshold: .inf\n", "overrides 'checkout': 'threshold': '.inf' is not a number")]
    // Meaningless combinations: a drop rule whose factor is a rise, a rise rule whose factor is a drop, limits a
    // fraction can never pass, and a 'for' the baseline outlasts (by then the incident is the baseline's normal).
    [InlineData("rules:\n  - id: traffic_drop\n    metric: traffic\n    comparison: below\n    baseline_factor: 1.5\n", "'baseline_factor' 1.5 must be below 1 with comparison 'below'")]
    [InlineData("rules:\n  - id: traffic_rise\n    metric: traffic\n    comparison: above\n    baseline_factor: 0.8\n", "'baseline_factor' 0.8 must be above 1 with comparison 'above'")]
    [InlineData("rules:\n  - id: lat\n    metric: latency_p95\n    comparison: above\n    baseline_factor: 1\n", "'baseline_factor' 1 fires on half of all windows")]
    [InlineData("rules:\n  - id: lat\n    metric: latency_p95\n    comparison: above\n    baseline_factor: 2\n    overrides:\n      checkout:\n        baseline_factor: 0.5\n", "overrides 'checkout': 'baseline_factor' 0.5 must be above 1")]
    [InlineData("rules:\n  - id: q\n    metric: quality_mean\n    comparison: below\n    threshold: 80\n", "'threshold' 80 must be between 0 and 1 for quality_mean")]
    [InlineData("rules:\n  - id: sr\n    metric: success_rate\n    comparison: below\n    threshold: 1.2\n", "'threshold' 1.2 must be between 0 and 1 for success_rate")]
    [InlineData("rules:\n  - id: sr\n    metric: success_rate\n    comparison: below\n    threshold: 0\n", "'threshold' 0 can never be undercut")]
    [InlineData("rules:\n  - id: er\n    metric: error_rate\n    comparison: above\n    threshold: 1\n", "'threshold' 1 can never be exceeded")]
    [InlineData("rules:\n  - id: er\n    metric: error_rate\n    comparison: above\n    threshold: 0.05\n    overrides:\n      checkout:\n        threshold: 1.5\n", "overrides 'checkout': 'threshold' 1.5 must be between 0 and 1")]
    [InlineData("rules:\n  - id: lat\n    metric: latency_p95\n    comparison: above\n    baseline_factor: 2\n    window: 5m\n    for: 1h\n", "'for' 1h plus 'window' (5m) must be shorter than the baseline period (1h)")]
    [InlineData("rules:\n  - id: lat\n    metric: latency_p95\n    comparison: above\n    baseline_factor: 2\n    window: 10m\n    baseline: previous:30m\n    for: 20m\n", "'for' 20m plus 'window' (10m) must be shorter than the baseline period (30m)")]
    [InlineData("rules:\n  - id: a\n    kind: anomaly\n    metric: error_rate\n    comparison: above\n    threshold: 4\n    baseline: previous:1h\n    for: 30m\n", "'for' 30m must be shorter than half the baseline (30m)")]
    public void Parse_InvalidRule_NamesRuleAndField(string yaml, string reason)
    {
        var ex = Assert.Throws<RuleFileException>(() => RuleFile.Parse(yaml, "rules.yaml"));
        Assert.Contains("rule '", ex.Message, StringComparison.Ordinal);
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_CompleteBurnRateRule_Accepted()
    {
        var rule = RuleFile.Parse(Burn + "    slo: 0.995\n    long_window: 1h\n    for: 90s\n", "rules.yaml").Single();
        Assert.Equal(0.995, rule.Slo);
        Assert.Equal(TimeSpan.FromHours(1), rule.LongWindow);
        Assert.Equal(TimeSpan.FromSeconds(90), rule.For);
    }

    [Fact]
    public void Defaults_StillParse() => Assert.NotEmpty(RuleFile.Defaults);

    [Theory]
    [InlineData("rules: []\n", 1)]
    [InlineData("# my rules\nrules:   []\n", 2)]
    public void Parse_EmptyRules_RefusedWithTheLine(string yaml, long line)
    {
        var ex = Assert.Throws<RuleFileException>(() => RuleFile.Parse(yaml, "rules.yaml"));
        Assert.Equal(line, ex.Line);
        Assert.Contains("'rules' is empty", ex.Message, StringComparison.Ordinal);
        Assert.StartsWith($"rules.yaml:{line}: ", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_MeaninglessCombination_NamesTheKeysLine()
    {
        var ex = Assert.Throws<RuleFileException>(() => RuleFile.Parse(
            "rules:\n  - id: traffic_drop\n    metric: traffic\n    comparison: below\n    baseline_factor: 2\n", "rules.yaml"));
        Assert.Equal(5, ex.Line);
        Assert.StartsWith("rules.yaml:5: rule 'traffic_drop': 'baseline_factor'", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{id: drop, metric: traffic, comparison: below, baseline_factor: 0.5}")]
    [InlineData("{id: any_rise, metric: latency_p50, comparison: above, baseline_factor: 1, confidence: 0.999}")]
    [InlineData("{id: q, metric: quality_mean, comparison: below, threshold: 0.8}")]
    [InlineData("{id: er, metric: error_rate, comparison: above, threshold: 0}")]
    [InlineData("{id: lat, metric: latency_p95, comparison: above, baseline_factor: 2, window: 5m, for: 54m}")]
    [InlineData("{id: er_long, metric: error_rate, comparison: above, threshold: 0.05, window: 5m, for: 6h}")]
    public void Parse_SensibleCombination_Accepted(string rule) => Assert.Single(RuleFile.Parse("rules:\n  - " + rule + "\n", "rules.yaml"));
}
