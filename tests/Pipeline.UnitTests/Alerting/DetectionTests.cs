using Microsoft.Extensions.Time.Testing;
using Pipeline.Aggregation;
using Pipeline.Alerting;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.UnitTests.Alerting;

/// <summary>
/// The default detectors on constructed series, minute by minute on a fake clock: each incident is caught
/// within a few windows, steady traffic of the same shape raises nothing, and the edge cases (zero-MAD
/// baselines, tiny samples, a baseline holding an earlier incident, silence, releases) behave.
/// </summary>
public sealed class DetectionTests
{
    private static readonly SeriesKey Series = new("prod", "svc", "answer", "2.0", "gpt-4o");
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 11, 23, 6, 0, 0, TimeSpan.Zero));
    private readonly Random _random = new(11);

    private sealed record Shape(double Calls = 20, double MedianMs = 400, double ErrorRate = 0.01, double Quality = 0.85, double TokensOut = 250, double PricedShare = 1);

    /// <summary>One minute of a series: Poisson-ish calls, log-normal latency (sigma 0.45, as the load generator), quality sd 0.05.</summary>
    private WindowAggregate Minute(Shape shape, SeriesKey? series = null, DateTimeOffset? at = null)
    {
        var start = at ?? _clock.GetUtcNow();
        var n = Math.Max(0, (int)Math.Round(shape.Calls + Math.Sqrt(shape.Calls) * Gaussian()));
        var sketch = new QuantileSketch();
        long errors = 0;
        double quality = 0, tokens = 0, cost = 0;
        long unpriced = 0;
        for (var i = 0; i < n; i++)
        {
            sketch.Add(shape.MedianMs * Math.Exp(0.45 * Gaussian()));
            if (_random.NextDouble() < shape.ErrorRate) errors++;
            quality += Math.Clamp(shape.Quality + 0.05 * Gaussian(), 0, 1);
            var t = 900 * Math.Exp(0.3 * Gaussian()) + shape.TokensOut * Math.Exp(0.3 * Gaussian());
            tokens += t;
            // Drawn only for partly priced shapes, so the other tests' noise stays as it was.
            if (shape.PricedShare >= 1 || _random.NextDouble() < shape.PricedShare) cost += t * 1e-6;
            else unpriced++;
        }
        return new WindowAggregate
        {
            Series = series ?? Series, WindowStart = start, WindowSeconds = 60, Revision = 1, Calls = n, Events = n, Successes = n - errors, Errors = errors,
            LatencySketch = sketch.Serialize(), LatencyP95Ms = sketch.Quantile(0.95), InputTokens = (long)(tokens * 0.78), OutputTokens = (long)(tokens * 0.22),
            CostUsd = cost, UnpricedCalls = unpriced, QualityMean = n > 0 ? quality / n : null, QualityCount = n,
        };
    }

    private double Gaussian() => Math.Sqrt(-2 * Math.Log(1 - _random.NextDouble())) * Math.Cos(2 * Math.PI * _random.NextDouble());

    /// <summary>Plays minutes of one or more series through the engine; returns (minute index, alert).</summary>
    private List<(int Minute, Alert Alert)> Play(AlertEngine engine, int minutes, Func<int, IEnumerable<(SeriesKey Series, Shape Shape)>> at, int offset = 0)
    {
        var alerts = new List<(int, Alert)>();
        for (var m = 0; m < minutes; m++)
        {
            foreach (var (series, shape) in at(m))
            {
                var w = Minute(shape, series);
                if (w.Calls > 0) alerts.AddRange(engine.OnWindow(w).Select(a => (m + offset, a)));
            }
            _clock.Advance(TimeSpan.FromMinutes(1));
            alerts.AddRange(engine.AdvanceTo(_clock.GetUtcNow()).Select(a => (m + offset, a)));
        }
        return alerts;
    }

    private List<(int Minute, Alert Alert)> PlayOne(AlertEngine engine, int minutes, Func<int, Shape> shape, int offset = 0) =>
        Play(engine, minutes, m => [(Series, shape(m))], offset);

    private static AlertEngine Defaults(params string[] ids) => new(ids.Length == 0 ? RuleFile.Defaults : RuleFile.Defaults.Where(r => ids.Contains(r.Id)).ToList());

    [Fact]
    public void SteadySeries_SixHours_NoDefaultRuleFires()
    {
        var engine = Defaults();
        var alerts = PlayOne(engine, 360, _ => new Shape());
        Assert.True(alerts.Count == 0, string.Join("\n", alerts.Select(a => a.Alert.Summary)));
    }

    [Theory]
    [InlineData(1.2)]
    [InlineData(1.6)]
    [InlineData(2.0)]
    public void LatencyRise_OnOneVersion_IsCaughtWithinFiveMinutes(double factor)
    {
        var engine = Defaults();
        Assert.Empty(PlayOne(engine, 90, _ => new Shape()));
        var alerts = PlayOne(engine, 15, _ => new Shape(MedianMs: 400 * factor), offset: 90);
        var first = alerts.Where(a => a.Alert.State == AlertState.Firing && a.Alert.Metric.StartsWith("latency", StringComparison.Ordinal)).Select(a => a.Minute).DefaultIfEmpty(-1).Min();
        Assert.True(first >= 90, string.Join("\n", alerts.Select(a => a.Alert.Summary)));
        // Minute 90 is the first affected minute; a delay of 5 means firing with the window that ends 5 minutes after it.
        Assert.InRange(first - 90, 0, 5);
    }

    [Theory]
    [InlineData(0.95)]
    [InlineData(0.75)]
    public void QualityDrop_IsCaughtWithinFiveMinutes(double factor)
    {
        var engine = Defaults("quality_degradation");
        Assert.Empty(PlayOne(engine, 90, _ => new Shape()));
        var alerts = PlayOne(engine, 15, _ => new Shape(Quality: 0.85 * factor), offset: 90);
        var firing = alerts.First(a => a.Alert.State == AlertState.Firing);
        Assert.Equal("quality_degradation", firing.Alert.RuleId);
        Assert.InRange(firing.Minute - 90, 0, 5);
    }

    [Fact]
    public void PricesStartingToApply_AreNoCostJump_CostPerCallCountsPricedCallsOnly()
    {
        // Most calls unpriced for 90 minutes (no price for their model), then a price is configured: the cost per
        // priced call is unchanged, so nothing fires; divided by all calls it would look like a jump of 3x.
        var engine = Defaults("cost_per_call");
        Assert.Empty(PlayOne(engine, 90, _ => new Shape(PricedShare: 0.3)));
        var alerts = PlayOne(engine, 30, _ => new Shape(), offset: 90);
        Assert.True(alerts.Count == 0, string.Join("\n", alerts.Select(a => a.Alert.Summary)));
        // A real rise in cost per priced call still fires.
        var rise = PlayOne(engine, 15, _ => new Shape(TokensOut: 250 + 1150 * 1.0), offset: 120);
        Assert.Contains(rise, a => a.Alert.RuleId == "cost_per_call" && a.Alert.State == AlertState.Firing);
    }

    [Fact]
    public void ErrorRateRise_OnePercentToTwelve_IsCaughtWithinTwoMinutes()
    {
        var engine = Defaults();
        Assert.Empty(PlayOne(engine, 90, _ => new Shape()));
        var alerts = PlayOne(engine, 15, _ => new Shape(ErrorRate: 0.12), offset: 90);
        var first = alerts.Where(a => a.Alert.State == AlertState.Firing).Min(a => a.Minute);
        Assert.InRange(first - 90, 0, 2);
    }

    [Fact]
    public void TinySamples_DoNotPageOnNoise()
    {
        // Two calls a minute: one slow call doubles a percentile, one error is 50%; nothing here is evidence.
        var engine = Defaults();
        var alerts = PlayOne(engine, 600, _ => new Shape(Calls: 2));
        Assert.True(alerts.Count == 0, string.Join("\n", alerts.Select(a => a.Alert.Summary)));
    }

    [Fact]
    public void BaselineHoldingAnEarlierIncident_DoesNotHideTheNextOrInventOne()
    {
        var engine = Defaults("error_rate_rise", "latency_p50_degradation");
        PlayOne(engine, 60, _ => new Shape());
        var first = PlayOne(engine, 10, _ => new Shape(ErrorRate: 0.15), offset: 60);
        Assert.Contains(first, a => a.Alert.RuleId == "error_rate_rise" && a.Alert.State == AlertState.Firing);
        // Recovery: the hour now holds the incident; steady traffic must not page and must resolve it.
        var after = PlayOne(engine, 40, _ => new Shape(), offset: 70);
        Assert.DoesNotContain(after, a => a.Alert.State == AlertState.Firing);
        Assert.Contains(first.Concat(after), a => a.Alert.State == AlertState.Resolved);
        // A latency rise right after it is still caught.
        var latency = PlayOne(engine, 10, _ => new Shape(MedianMs: 600), offset: 110);
        Assert.Contains(latency, a => a.Alert.RuleId == "latency_p50_degradation" && a.Alert.State == AlertState.Firing);
    }

    [Fact]
    public void StoppedSeries_RaisesTrafficStoppedWithinThreeMinutes_AndResolvesWhenCallsReturn()
    {
        var engine = Defaults("traffic_stopped");
        var other = Series with { PromptName = "other" };
        // The other series keeps event time moving, as the rest of a deployment does.
        Play(engine, 90, _ => [(Series, new Shape()), (other, new Shape())]);
        var silent = Play(engine, 10, _ => [(other, new Shape())], offset: 90);
        var fired = Assert.Single(silent, a => a.Alert.State == AlertState.Firing);
        Assert.Equal("traffic_stopped", fired.Alert.RuleId);
        Assert.Equal(Series, fired.Alert.Series);
        // The last window ended at minute 90; the alert is due by minute 93.
        Assert.InRange(fired.Minute, 91, 93);
        var back = Play(engine, 3, _ => [(Series, new Shape()), (other, new Shape())], offset: 100);
        var resolved = Assert.Single(back, a => a.Alert.State == AlertState.Resolved);
        Assert.Equal(fired.Alert.AlertId, resolved.Alert.AlertId);
    }

    [Fact]
    public void SeriesAlreadySilentAtARestart_StillRaisesTrafficStopped()
    {
        var other = Series with { PromptName = "other" };
        var before = Defaults("traffic_stopped");
        var stored = new List<WindowAggregate>();
        // 90 minutes of both series, then the worker restarts: a new engine remembers the stored windows only.
        for (var m = 0; m < 90; m++)
        {
            foreach (var series in new[] { Series, other }) stored.Add(Minute(new Shape(), series));
            _clock.Advance(TimeSpan.FromMinutes(1));
        }
        var engine = Defaults("traffic_stopped");
        foreach (var w in stored) engine.Remember(w);
        var silent = Play(engine, 10, _ => [(other, new Shape())], offset: 90);
        var fired = Assert.Single(silent, a => a.Alert.State == AlertState.Firing);
        Assert.Equal(("traffic_stopped", Series), (fired.Alert.RuleId, fired.Alert.Series));
        Assert.InRange(fired.Minute, 91, 93);
        Assert.Empty(before.Firing);
    }

    [Fact]
    public void AfterARestart_HoursRestoredFromStorage_StillPredictTraffic()
    {
        // A restarted worker gets the previous days' hours as stored sums, so a stop is judged against them.
        var engine = Defaults("traffic_stopped");
        var t0 = _clock.GetUtcNow(); // 06:00
        for (var h = -30; h < -3; h++)
        {
            var hour = t0.AddHours(h);
            if (hour.Hour is >= 6 and < 22) engine.RememberHour(Series, hour, 1200, 1190, 10, 1.2, 1e6, 1000, 1190, 60);
        }
        // Awake now: minutes with calls, then a stop at 06:40, which yesterday's 06:00 hour says is not normal.
        var other = Series with { PromptName = "other" };
        var alerts = Play(engine, 40, _ => [(Series, new Shape()), (other, new Shape())]);
        alerts.AddRange(Play(engine, 5, _ => [(other, new Shape())], offset: 40));
        Assert.Single(alerts, a => a.Alert.RuleId == "traffic_stopped" && a.Alert.State == AlertState.Firing && a.Alert.Series == Series);
    }

    [Fact]
    public void SeriesOfALaggingSource_AreNotCalledSilent_UntilTheirSourceHasPassedThem()
    {
        // Two calls partitions: "a" delivers up to now, "b" (this series) lags 6 minutes behind, as an aggregator
        // partition behind on its input does. The low watermark follows "a"; silence must follow "b".
        var engine = Defaults("traffic_stopped");
        var fast = Series with { PromptName = "fast" };
        var t0 = _clock.GetUtcNow();
        var alerts = new List<Alert>();
        for (var m = 0; m < 120; m++)
        {
            alerts.AddRange(engine.OnWindow(Minute(new Shape(), fast, t0.AddMinutes(m)), t0.AddMinutes(m + 1), "calls:0"));
            if (m >= 6) alerts.AddRange(engine.OnWindow(Minute(new Shape(), Series, t0.AddMinutes(m - 6)), t0.AddMinutes(m + 1), "calls:1"));
            var sources = new Dictionary<string, DateTimeOffset> { ["calls:0"] = t0.AddMinutes(m + 1) };
            if (m >= 6) sources["calls:1"] = t0.AddMinutes(m - 5);
            alerts.AddRange(engine.AdvanceTo(t0.AddMinutes(m + 1), sources));
        }
        Assert.True(alerts.Count == 0, string.Join("\n", alerts.Select(a => a.Summary)));
        // Source "b" moves on (other series of it deliver) while this series sends nothing: now it is a silence.
        var other = Series with { PromptName = "b-other" };
        for (var m = 120; m < 126; m++)
        {
            alerts.AddRange(engine.OnWindow(Minute(new Shape(), other, t0.AddMinutes(m - 6)), t0.AddMinutes(m + 1), "calls:1"));
            alerts.AddRange(engine.AdvanceTo(t0.AddMinutes(m + 1), new Dictionary<string, DateTimeOffset> { ["calls:0"] = t0.AddMinutes(m + 1), ["calls:1"] = t0.AddMinutes(m - 5) }));
        }
        Assert.Single(alerts, a => a.RuleId == "traffic_stopped" && a.State == AlertState.Firing && a.Series == Series);
    }

    [Fact]
    public void AllPartitionsQuiet_WallClockWatermark_StillSeesTheSilence()
    {
        var engine = Defaults("traffic_stopped");
        PlayOne(engine, 90, _ => new Shape());
        // Nothing arrives at all; the worker advances event time from the wall clock.
        var alerts = new List<Alert>();
        for (var m = 0; m < 5; m++)
        {
            _clock.Advance(TimeSpan.FromMinutes(1));
            alerts.AddRange(engine.AdvanceTo(_clock.GetUtcNow()));
        }
        Assert.Single(alerts, a => a.RuleId == "traffic_stopped" && a.State == AlertState.Firing);
    }

    [Fact]
    public void QuietNightOfADiurnalSeries_DoesNotPage()
    {
        // Two days of a series that sends from 06:00 to 22:00 and is silent at night: the same hours of the
        // previous day predict no calls, so the nightly stop is normal.
        var engine = Defaults("traffic_stopped");
        var other = Series with { PromptName = "always-on" };
        var alerts = Play(engine, 2 * 24 * 60, m =>
        {
            var hour = _clock.GetUtcNow().Hour;
            var list = new List<(SeriesKey, Shape)> { (other, new Shape()) };
            if (hour is >= 6 and < 22) list.Add((Series, new Shape()));
            return list;
        });
        // The first evening has no previous day yet: the previous hour predicts calls and it pages once.
        Assert.True(alerts.Count(a => a.Alert.State == AlertState.Firing) <= 1, string.Join("\n", alerts.Select(a => $"{a.Minute}: {a.Alert.Summary}")));
        Assert.DoesNotContain(alerts, a => a.Alert.State == AlertState.Firing && a.Minute > 24 * 60);
    }

    [Fact]
    public void Release_TrafficMovingToTheNewVersion_IsNotASilence()
    {
        var engine = Defaults("traffic_stopped", "traffic_drop");
        var v1 = Series with { PromptVersion = "1.0" };
        var v2 = Series with { PromptVersion = "2.0" };
        var alerts = Play(engine, 150, m => m < 90 ? [(v1, new Shape())] : [(v2, new Shape())]);
        Assert.True(alerts.Count == 0, string.Join("\n", alerts.Select(a => a.Alert.Summary)));
    }

    [Fact]
    public void WindowsArrivingOutOfStep_AreEvaluatedOnlyBehindTheWatermark()
    {
        // Two partitions: the one holding this series is two minutes ahead of the other. Its windows wait for
        // the low watermark, and a minute never counts as empty before the watermark has passed it.
        var engine = Defaults("traffic_drop");
        var lagging = Series with { PromptName = "lagging" };
        var t0 = _clock.GetUtcNow();
        var alerts = new List<Alert>();
        for (var m = 0; m < 120; m++)
        {
            var ahead = Minute(new Shape(Calls: 48), Series, t0.AddMinutes(m));
            var behind = Minute(new Shape(Calls: 48), lagging, t0.AddMinutes(m - 2 < 0 ? 0 : m - 2));
            // The low watermark is the lagging partition's newest window end.
            alerts.AddRange(engine.OnWindow(ahead, behind.WindowEnd));
            if (m >= 2) alerts.AddRange(engine.OnWindow(behind, behind.WindowEnd));
        }
        Assert.True(alerts.Count == 0, string.Join("\n", alerts.Select(a => a.Summary)));
        // Nothing beyond the watermark has been judged: the engine still holds this series' newest minutes.
        Assert.Equal(t0.AddMinutes(118), engine.Watermark);
    }

    [Fact]
    public void LateRevisions_RaiseNoTrafficDrop()
    {
        // Each minute first closes with part of its calls (a rebalance, an idle partition) and a later revision
        // brings the rest: the first revision is judged, then corrected, and one short minute is not a drop.
        var engine = Defaults("traffic_drop");
        var t0 = _clock.GetUtcNow();
        var alerts = new List<Alert>();
        for (var m = 0; m < 120; m++)
        {
            var full = Minute(new Shape(Calls: 48), Series, t0.AddMinutes(m));
            var partial = full with { Calls = m == 100 ? full.Calls / 2 : full.Calls, Revision = 1 };
            alerts.AddRange(engine.OnWindow(partial));
            alerts.AddRange(engine.OnWindow(full with { Revision = 2 }));
        }
        Assert.True(alerts.Count == 0, string.Join("\n", alerts.Select(a => a.Summary)));
    }

    [Fact]
    public void AnomalyRule_NOfMWindows_FiresOnAPersistentShiftNotOnOneOutlier()
    {
        var rules = RuleFile.Parse("""
            rules:
              - {id: z, kind: anomaly, metric: error_rate, comparison: above, threshold: 4, windows: 3/5, baseline: previous:1h}
            """, "t.yaml");
        var engine = new AlertEngine(rules);
        Assert.Empty(PlayOne(engine, 90, _ => new Shape(Calls: 100, ErrorRate: 0)));
        // One bad minute: 1 of 5.
        Assert.Empty(PlayOne(engine, 1, _ => new Shape(Calls: 100, ErrorRate: 0.3)));
        Assert.Empty(PlayOne(engine, 10, _ => new Shape(Calls: 100, ErrorRate: 0)));
        var alerts = PlayOne(engine, 5, _ => new Shape(Calls: 100, ErrorRate: 0.3));
        var firing = Assert.Single(alerts, a => a.Alert.State == AlertState.Firing);
        Assert.Contains("3 of the last 5", firing.Alert.Summary, StringComparison.Ordinal);
        // The score is finite and on the metric's own scale although the baseline was constant (zero MAD).
        Assert.InRange(firing.Alert.Observed, 4, RobustZ.MaxScore);
    }

    [Fact]
    public void ZeroMadBaseline_OneErrorIsNotAnAnomaly_ManyAre()
    {
        var one = RobustZ.Score(AnomalyMetric.ErrorRate, 0.01, 0, 0, 100);
        var many = RobustZ.Score(AnomalyMetric.ErrorRate, 0.12, 0, 0, 100);
        Assert.InRange(one, 0.5, 3); // was 48,177,911 before the noise floor
        Assert.True(many > 10 && many < RobustZ.MaxScore, $"{many}");
        Assert.Equal(RobustZ.MaxScore, RobustZ.Score(AnomalyMetric.CostPerCall, 1e300, 0, 0, 1));
        Assert.Equal(0, RobustZ.Score(AnomalyMetric.Traffic, double.NaN, 0, 0, 1));
    }

    [Fact]
    public void AggregatorScorer_ZeroMadHistory_GivesFiniteScores()
    {
        var scorer = new AnomalyScorer(new AnomalyOptions());
        var t0 = _clock.GetUtcNow();
        var prices = PriceTable.Default;
        WindowState Window(int minute, int errors)
        {
            var w = new WindowState(new WindowKey(Series, t0.AddMinutes(minute)), TimeSpan.FromMinutes(1), 0);
            for (var i = 0; i < 100; i++)
            {
                w.Add(Samples.FullCall(t0.AddMinutes(minute)) with { EventId = Guid.NewGuid(), Outcome = i < errors ? Outcome.Error : Outcome.Success, ErrorType = i < errors ? ErrorType.ServerError : null }, i, prices);
            }
            return w;
        }
        for (var m = 0; m < 30; m++) scorer.Score(Window(m, 0));
        var score = scorer.Score(Window(30, 1)).Single(s => s.Metric == AnomalyMetric.ErrorRate);
        Assert.False(score.IsAnomaly);
        Assert.InRange(score.Score, 0, 3);
    }
}


public sealed class RunbookLinkTests
{
    [Fact]
    public void EveryDefaultRule_LinksToASectionOfDocsRunbooks()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "docs", "runbooks.md"))) dir = dir.Parent;
        Assert.NotNull(dir);
        // GitHub's anchors: lower case, spaces to hyphens.
        var anchors = File.ReadAllLines(Path.Combine(dir.FullName, "docs", "runbooks.md"))
            .Where(l => l.StartsWith("## ", StringComparison.Ordinal)).Select(l => l[3..].Trim().ToLowerInvariant().Replace(' ', '-')).ToHashSet();
        foreach (var rule in RuleFile.Defaults)
        {
            Assert.NotNull(rule.Runbook);
            var anchor = rule.Runbook!.Split('#').Last();
            Assert.True(rule.Runbook.StartsWith("runbooks.md#", StringComparison.Ordinal) && anchors.Contains(anchor), $"{rule.Id}: {rule.Runbook}");
        }
    }
}

public sealed class DetectorDocsTests
{
    [Fact]
    public void EveryRuleExampleInDocsDetectors_Parses()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "docs", "detectors.md"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var text = File.ReadAllText(Path.Combine(dir.FullName, "docs", "detectors.md"));
        var blocks = text.Split("```yaml").Skip(1).Select(b => b[..b.IndexOf("```", StringComparison.Ordinal)]).ToList();
        Assert.Equal(2, blocks.Count);
        var rules = blocks.SelectMany(b => RuleFile.Parse("rules:\n" + string.Join('\n', b.Split('\n').Select(l => "  " + l)), "detectors.md")).ToList();
        Assert.Equal(["error_rate_anomaly", "latency_p99_critical", "quality_low"], rules.Select(r => r.Id));
        Assert.Equal(RuleKind.Anomaly, rules[0].Kind);
        Assert.Equal((3, 5), (rules[0].AnomalyCount, rules[0].AnomalyWindows));
    }
}

public sealed class DetectorRuleFileTests
{
    [Theory]
    [InlineData("{id: a, metric: error_rate, comparison: above, threshold: 0.05, confidence: 1.5}", "'confidence' 1.5 must be between 0.5 and 0.999999")]
    [InlineData("{id: a, kind: anomaly, metric: latency_p50, comparison: above, threshold: 4}", "cannot be scored")]
    [InlineData("{id: a, kind: anomaly, metric: error_rate, comparison: above, threshold: 4, windows: 6/5}", "'windows' '6/5' must be N/M")]
    [InlineData("{id: a, kind: anomaly, metric: error_rate, comparison: above, baseline_factor: 2}", "'threshold' is required for kind anomaly")]
    [InlineData("{id: a, kind: sometimes, metric: error_rate, comparison: above, threshold: 4}", "'kind' must be 'threshold' or 'anomaly'")]
    [InlineData("{id: a, metric: error_rate, comparison: above, threshold: 0.05, windows: 3/5}", "'windows' is only used by kind anomaly")]
    [InlineData("{id: a, metric: traffic_stopped, comparison: below}", "'comparison' is not used by metric traffic_stopped")]
    [InlineData("{id: a, metric: traffic_stopped, min_expected: 0}", "'min_expected' 0 must be from 1")]
    [InlineData("{id: a, metric: traffic, comparison: below, baseline_factor: 0.5, min_expected: 3}", "'min_expected' is only used by metric traffic_stopped")]
    [InlineData("{id: a, metric: burn_rate, comparison: above, threshold: 14, slo: 0.99, long_window: 1h, confidence: 0.99}", "'confidence' is not used by metric burn_rate")]
    public void BadDetectorFields_AreRefusedNamingRuleAndField(string rule, string expected)
    {
        var ex = Assert.Throws<RuleFileException>(() => RuleFile.Parse("rules:\n  - " + rule, "r.yaml"));
        Assert.Contains("rule 'a'", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }
}
