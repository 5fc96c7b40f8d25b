using Pipeline.Aggregation;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Pipeline.Schemas;

namespace Pipeline.Alerting;

/// <summary>
/// Evaluates every rule for a series each time a newer closed window of that series arrives, and runs
/// one lifecycle per fingerprint (rule + series): inactive → pending → firing → resolved, with `for`,
/// `resolve_after`, cooldown and re-notify. Time is event time (window ends), so the same windows always
/// give the same alerts, before and after a restart. Pure: history older than memory comes from
/// <see cref="OlderHistory"/> when set.
/// </summary>
public sealed class AlertEngine
{
    private readonly IReadOnlyList<AlertRule> _rules;
    private readonly TimeSpan _retention;
    private readonly Dictionary<SeriesKey, SortedDictionary<DateTimeOffset, Entry>> _history = [];
    // Seasonal history: windows leaving minute history are summed per clock hour and kept for 8 days.
    private readonly Dictionary<SeriesKey, SortedDictionary<DateTimeOffset, RollingStats>> _hours = [];
    private readonly Dictionary<SeriesKey, DateTimeOffset> _lastEvaluated = [];
    private readonly Dictionary<SeriesKey, DateTimeOffset> _queued = [];
    private readonly Dictionary<SeriesKey, DateTimeOffset> _lastWindowEnd = [];
    private readonly Dictionary<SeriesKey, string> _sources = [];
    private readonly Dictionary<SeriesKey, DateTimeOffset> _silenceJudged = [];
    private readonly List<(DateTimeOffset End, SeriesKey Series)> _pending = [];
    private readonly Dictionary<SeriesKey, DateTimeOffset> _firstSeen = [];
    private readonly Dictionary<string, Tracker> _trackers = [];
    private DateTimeOffset _watermark = DateTimeOffset.MinValue;
    private DateTimeOffset _silenceCheckedAt = DateTimeOffset.MinValue;

    public AlertEngine(IReadOnlyList<AlertRule> rules)
    {
        _rules = rules;
        _retention = rules.Count == 0 ? TimeSpan.FromHours(2)
            : rules.Max(r => r.Window + (r.Baseline == BaselineKind.None ? TimeSpan.Zero : r.BaselineWindow) + (r.Metric == AlertMetric.BurnRate ? r.LongWindow : TimeSpan.Zero)
                + (r.Kind == RuleKind.Anomaly ? TimeSpan.FromMinutes(r.AnomalyWindows) : TimeSpan.Zero)) + TimeSpan.FromMinutes(5);
    }

    /// <summary>How long seasonal (per clock hour) history is kept.</summary>
    public static TimeSpan SeasonalRetention { get; } = TimeSpan.FromDays(8);

    /// <summary>Event time up to which windows are known complete (the low watermark last given).</summary>
    public DateTimeOffset Watermark => _watermark;

    /// <summary>Windows of a series in [from, to) older than memory holds (same hour last week); null when unavailable.</summary>
    public Func<SeriesKey, DateTimeOffset, DateTimeOffset, IReadOnlyList<WindowAggregate>>? OlderHistory { get; set; }

    /// <summary>Fingerprints currently firing.</summary>
    public IEnumerable<string> Firing => _trackers.Where(t => t.Value.State == TrackerState.Firing).Select(t => t.Key);

    /// <summary>
    /// Adds a closed window to history without evaluating it (rebuilding baselines after a restart). It
    /// does not count as evaluated: windows replayed from the topic are still judged once.
    /// </summary>
    public void Remember(WindowAggregate window)
    {
        ArgumentNullException.ThrowIfNull(window);
        Store(window);
        // A series already silent when the worker starts is judged for silence like one it saw stop: without
        // this, a restart forgot every stopped series. Its source is learnt from its next window.
        if (!_lastWindowEnd.TryGetValue(window.Series, out var lastEnd) || window.WindowEnd > lastEnd) _lastWindowEnd[window.Series] = window.WindowEnd;
    }

    /// <summary>
    /// Restores one clock hour of a series' seasonal history from stored sums (after a restart). Counts, rates,
    /// cost, tokens and quality means are exact; latency and the per-call variances are not kept per hour, so
    /// rules that need them fall back to the previous period until the worker has seen that hour itself.
    /// </summary>
    public void RememberHour(SeriesKey series, DateTimeOffset hour, long calls, long successes, long errors, double cost, double tokens,
        double qualitySum, long qualityCount, int windows, long? pricedCalls = null)
    {
        if (!_hours.TryGetValue(series, out var hours))
        {
            hours = [];
            _hours[series] = hours;
        }
        hours.TryAdd(HourOf(hour), RollingStats.FromTotals(calls, successes, errors, cost, tokens, qualitySum, qualityCount, windows, pricedCalls));
        if (!_firstSeen.TryGetValue(series, out var first) || hour < first) _firstSeen[series] = hour;
    }

    /// <summary>Restores an incident that was firing before a restart, so it is neither re-sent nor forgotten.</summary>
    public void RestoreFiring(Alert alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        _trackers[alert.Fingerprint] = new Tracker
        {
            State = TrackerState.Firing, PendingSince = alert.StartedAt, AlertId = alert.AlertId, LastNotified = alert.WindowEnd, Last = alert, FrozenBaseline = alert.Baseline,
            Rule = _rules.FirstOrDefault(r => r.Id == alert.RuleId)?.ForPrompt(alert.Series.PromptName), Series = alert.Series,
        };
        if (!_lastEvaluated.TryGetValue(alert.Series, out var last) || last < alert.WindowEnd) _lastEvaluated[alert.Series] = alert.WindowEnd;
    }

    /// <summary>Restores the time of an incident's resolution, so its cooldown survives a restart.</summary>
    public void RestoreResolved(Alert alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        _trackers[alert.Fingerprint] = new Tracker { State = TrackerState.Inactive, LastResolved = alert.ResolvedAt ?? alert.WindowEnd };
    }

    /// <summary>Takes a closed window (or a newer revision of one) and returns the alert records it causes.</summary>
    /// <remarks>Without a watermark the window's own end is taken as one: a single ordered stream of windows.</remarks>
    public IReadOnlyList<Alert> OnWindow(WindowAggregate window) => OnWindow(window, null);

    /// <summary>
    /// Takes a closed window and returns the alert records it causes. A series is evaluated at a window's end
    /// only once <paramref name="watermark"/> (every partition of the window topic has delivered up to it) has
    /// passed that end: before then another partition may still bring windows of that minute, and a minute
    /// that is not yet known must never count as a minute without calls.
    /// </summary>
    public IReadOnlyList<Alert> OnWindow(WindowAggregate window, DateTimeOffset? watermark) => OnWindow(window, watermark, null);

    /// <summary>As <see cref="OnWindow(WindowAggregate, DateTimeOffset?)"/>, naming the calls partition the window came from.</summary>
    public IReadOnlyList<Alert> OnWindow(WindowAggregate window, DateTimeOffset? watermark, string? source)
    {
        ArgumentNullException.ThrowIfNull(window);
        Store(window);
        var series = window.Series;
        if (source is not null) _sources[series] = source;
        if (!_lastWindowEnd.TryGetValue(series, out var lastEnd) || window.WindowEnd > lastEnd) _lastWindowEnd[series] = window.WindowEnd;
        var evaluated = _lastEvaluated.TryGetValue(series, out var last) && window.WindowEnd <= last;
        // A late revision updates history; alerts move on with newer windows.
        if (!evaluated && (!_queued.TryGetValue(series, out var queued) || window.WindowEnd > queued))
        {
            _queued[series] = window.WindowEnd;
            _pending.Add((window.WindowEnd, series));
        }
        var mark = watermark ?? window.WindowEnd;
        if (mark > _watermark) _watermark = mark;
        return Drain();
    }

    // Evaluates, in event-time order, every queued series window that the watermark has passed.
    private List<Alert> Drain()
    {
        var alerts = new List<Alert>();
        if (_pending.Count == 0) return alerts;
        var ready = _pending.Where(p => p.End <= _watermark).OrderBy(p => p.End).ToList();
        if (ready.Count == 0) return alerts;
        _pending.RemoveAll(p => p.End <= _watermark);
        foreach (var (end, series) in ready)
        {
            if (_lastEvaluated.TryGetValue(series, out var last) && end <= last) continue;
            _lastEvaluated[series] = end;
            alerts.AddRange(EvaluateSeries(series, end, silenceOnly: false));
        }
        return alerts;
    }

    private List<Alert> EvaluateSeries(SeriesKey series, DateTimeOffset now, bool silenceOnly)
    {
        var alerts = new List<Alert>();
        foreach (var baseRule in _rules)
        {
            if (silenceOnly && baseRule.Metric != AlertMetric.TrafficStopped) continue;
            if (baseRule.ForPrompt(series.PromptName) is not { } rule) continue;
            var fingerprint = Fingerprint(rule.Id, series);
            var observation = Evaluate(rule, series, now);
            if (!_trackers.TryGetValue(fingerprint, out var tracker))
            {
                if (observation is not { Breached: true }) continue; // nothing to track yet: no tracker per series and rule
                tracker = new Tracker();
                _trackers[fingerprint] = tracker;
            }
            tracker.Rule = rule;
            tracker.Series = series;
            // While an incident is pending or firing its baseline stays where it was when it began, so the
            // incident's own windows do not teach the baseline that they are normal. After one baseline
            // period the freeze ends: a level that lasts that long is the new normal and may resolve.
            var usesBaseline = rule.Kind == RuleKind.Threshold && rule.Threshold is null && rule.BaselineFactor is not null && rule.Metric != AlertMetric.BurnRate;
            if (usesBaseline && observation is { Baseline: not null } o && tracker.State != TrackerState.Inactive
                && tracker.FrozenBaseline is { } frozen && now - tracker.PendingSince < rule.BaselineWindow)
            {
                var threshold = frozen * rule.BaselineFactor!.Value;
                var beyond = rule.Above ? o.Observed > threshold : o.Observed < threshold;
                observation = o with { Baseline = frozen, Threshold = threshold, Breached = beyond && o.Significant };
            }
            // Confidence guards the start of an incident against noise; once firing, the incident lasts while the
            // value stays beyond the limit (the incident's own minutes widen the baseline's spread, and must not
            // talk the test out of it), and resolves after resolve_after below it.
            if (tracker.State == TrackerState.Firing && observation is { Significant: false } unsure && rule.Kind == RuleKind.Threshold
                && rule.Metric != AlertMetric.TrafficStopped)
            {
                observation = unsure with { Breached = rule.Above ? unsure.Observed > unsure.Threshold : unsure.Observed < unsure.Threshold };
            }
            // A re-notify says "still firing" about the present. It waits for the series' newest known window
            // (windows queued behind the watermark, a replay after a restart: the later windows decide) and is
            // never sent when this very step resolves the incident as silent (ResolveSilent runs after Drain),
            // so a recovering series gets its RESOLVED without a re-notify racing just before it.
            var present = (!_lastWindowEnd.TryGetValue(series, out var newest) || newest <= now)
                && (rule.Metric == AlertMetric.TrafficStopped || _watermark < now + rule.Window + rule.ResolveAfter);
            var step = Step(rule, tracker, observation, now, present);
            tracker.FrozenBaseline = tracker.State == TrackerState.Inactive || !usesBaseline ? null : tracker.FrozenBaseline ?? observation?.Baseline;
            if (step is { } state)
            {
                alerts.Add(ToAlert(rule, series, fingerprint, tracker, observation!, now, state));
            }
        }
        return alerts;
    }

    /// <summary>
    /// Advances event time to <paramref name="safeNow"/>: the time up to which every partition of the
    /// window topic has delivered (the caller's low watermark). Firing series silent since then resolve.
    /// </summary>
    public IReadOnlyList<Alert> AdvanceTo(DateTimeOffset safeNow) => AdvanceTo(safeNow, null);

    /// <summary>
    /// As <see cref="AdvanceTo(DateTimeOffset)"/>, with how far each source (calls partition) has delivered. A
    /// series whose source lags (a slow aggregator partition, a replay) is judged for silence only up to what
    /// its own source has delivered, never up to another source's progress. Sources not listed use the watermark.
    /// </summary>
    public IReadOnlyList<Alert> AdvanceTo(DateTimeOffset safeNow, IReadOnlyDictionary<string, DateTimeOffset>? sourceWatermarks)
    {
        if (safeNow > _watermark) _watermark = safeNow;
        var alerts = Drain();
        alerts.AddRange(CheckSilence(_watermark, sourceWatermarks));
        alerts.AddRange(ResolveSilent(_watermark));
        return alerts;
    }

    /// <summary>
    /// Once a minute of event time, every series with no window at the watermark is judged by the
    /// <see cref="AlertMetric.TrafficStopped"/> rules: minutes behind the watermark without a window had no calls.
    /// The newest minute is left out: the windows of one flush arrive one record at a time, so the watermark
    /// reaches a minute's end with its first window, and that minute is complete only once a later one begins.
    /// </summary>
    private List<Alert> CheckSilence(DateTimeOffset watermark, IReadOnlyDictionary<string, DateTimeOffset>? sourceWatermarks)
    {
        static DateTimeOffset Complete(DateTimeOffset mark) => new DateTimeOffset(mark.UtcTicks - mark.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero) - TimeSpan.FromMinutes(1);
        var global = Complete(watermark);
        var alerts = new List<Alert>();
        if (!_rules.Any(r => r.Metric == AlertMetric.TrafficStopped)) return alerts;
        if (global <= _silenceCheckedAt && sourceWatermarks is null) return alerts;
        _silenceCheckedAt = global;
        foreach (var (series, lastEnd) in _lastWindowEnd.ToList())
        {
            var now = global;
            if (_sources.TryGetValue(series, out var source) && sourceWatermarks?.TryGetValue(source, out var mark) == true && Complete(mark) < now) now = Complete(mark);
            if (_silenceJudged.TryGetValue(series, out var judged) && judged >= now) continue;
            if (lastEnd >= now || (_lastEvaluated.TryGetValue(series, out var last) && last >= now)) continue;
            if (now - lastEnd > SeasonalRetention)
            {
                Forget(series);
                continue;
            }
            _silenceJudged[series] = now;
            alerts.AddRange(EvaluateSeries(series, now, silenceOnly: true));
        }
        return alerts;
    }

    // A series silent for longer than any baseline reaches: nothing more can be said about it.
    private void Forget(SeriesKey series)
    {
        _lastWindowEnd.Remove(series);
        _sources.Remove(series);
        _silenceJudged.Remove(series);
        _history.Remove(series);
        _hours.Remove(series);
    }

    /// <summary>
    /// A firing series that stopped sending (a rolled-back version, a retired prompt) has nothing left to
    /// alert on: once its rolling window and resolve_after have passed with no windows, it resolves.
    /// </summary>
    private List<Alert> ResolveSilent(DateTimeOffset now)
    {
        var resolved = new List<Alert>();
        foreach (var (fingerprint, t) in _trackers)
        {
            if (t.State != TrackerState.Firing || t.Rule is null || t.Series is not { } series || t.Rule.Metric == AlertMetric.TrafficStopped) continue;
            var last = _lastEvaluated.GetValueOrDefault(series);
            // Resolved as of the moment the silence became conclusive, whatever series revealed it.
            var at = last + t.Rule.Window + t.Rule.ResolveAfter;
            if (now < at) continue;
            t.State = TrackerState.Inactive;
            t.LastResolved = at;
            var o = new Observation(0, t.Last?.Baseline, t.Last?.Threshold ?? 0, false);
            var alert = ToAlert(t.Rule, series, fingerprint, t, o, at, AlertState.Resolved);
            resolved.Add(alert with { Summary = $"{alert.Metric}: no traffic since {last:HH:mm} for {series}; resolved" });
        }
        return resolved;
    }

    private void Store(WindowAggregate w)
    {
        if (!_history.TryGetValue(w.Series, out var windows))
        {
            windows = [];
            _history[w.Series] = windows;
        }
        if (!windows.TryGetValue(w.WindowStart, out var existing) || existing.Window.Revision <= w.Revision)
        {
            windows[w.WindowStart] = new Entry(w, RollingStats.OfWindow(w));
        }
        if (!_firstSeen.TryGetValue(w.Series, out var first) || w.WindowStart < first) _firstSeen[w.Series] = w.WindowStart;
        var newest = windows.Keys.Max();
        foreach (var old in windows.Keys.Where(k => k < newest - _retention).ToList())
        {
            AddToHour(w.Series, old, windows[old].Stats);
            windows.Remove(old);
        }
    }

    private void AddToHour(SeriesKey series, DateTimeOffset windowStart, RollingStats stats)
    {
        if (!_hours.TryGetValue(series, out var hours))
        {
            hours = [];
            _hours[series] = hours;
        }
        var hour = HourOf(windowStart);
        if (!hours.TryGetValue(hour, out var sum))
        {
            sum = new RollingStats();
            hours[hour] = sum;
        }
        sum.Add(stats);
        foreach (var old in hours.Keys.Where(k => k < hour - SeasonalRetention).ToList()) hours.Remove(old);
    }

    private static DateTimeOffset HourOf(DateTimeOffset t) => new(t.UtcTicks - t.UtcTicks % TimeSpan.TicksPerHour, TimeSpan.Zero);

    private IEnumerable<Entry> Entries(SeriesKey series, DateTimeOffset from, DateTimeOffset to) =>
        _history.TryGetValue(series, out var windows) ? windows.Where(kv => kv.Key >= from && kv.Key < to).Select(kv => kv.Value) : [];

    private IEnumerable<WindowAggregate> Range(SeriesKey series, DateTimeOffset from, DateTimeOffset to) => Entries(series, from, to).Select(e => e.Window);

    private RollingStats Stats(SeriesKey series, DateTimeOffset from, DateTimeOffset to) => RollingStats.Merge(Entries(series, from, to).Select(e => e.Stats));

    /// <summary>The observation of one rule at <paramref name="now"/>: null when there is not enough data to judge.</summary>
    internal Observation? Evaluate(AlertRule rule, SeriesKey series, DateTimeOffset now)
    {
        if (rule.Metric == AlertMetric.TrafficStopped) return EvaluateStopped(rule, series, now);
        if (rule.Kind == RuleKind.Anomaly) return EvaluateAnomaly(rule, series, now);
        var currentEntries = Entries(series, now - rule.Window, now).ToList();
        var current = RollingStats.Merge(currentEntries.Select(e => e.Stats));
        if (current.Calls < rule.MinCalls || (current.Calls == 0 && rule.Metric != AlertMetric.Traffic)) return null;
        if (rule.Metric == AlertMetric.BurnRate)
        {
            var budget = 1 - rule.Slo;
            var longStats = Stats(series, now - rule.LongWindow, now);
            if (longStats.Calls == 0) return null;
            var shortBurn = (double)current.Errors / current.Calls / budget;
            var longBurn = (double)longStats.Errors / longStats.Calls / budget;
            var limit = rule.Threshold ?? 14.4;
            return new Observation(shortBurn, longBurn, limit, shortBurn > limit && longBurn > limit);
        }
        // A series younger than the rolling window (a new version) is measured over the windows it has in the
        // rolling window, not over minutes before it appeared. Minutes after its first window with no window
        // (behind the watermark, so known) count as minutes without calls.
        // A series younger than the rolling window (a new version), or resuming after a pause (a rollback), is
        // measured over the windows it has in the rolling window, not over minutes before it (re)appeared; a
        // series that stops altogether is seen by traffic_stopped, which counts the minutes without windows.
        var span = currentEntries.Count == 0 ? rule.Window : now - currentEntries.Min(e => e.Window.WindowStart);
        if (current.Value(rule.Metric, span) is not { } observed) return null;
        double? baseline = null;
        double threshold;
        Reference? reference = null;
        if (rule.Threshold is { } t)
        {
            threshold = t;
        }
        else
        {
            if (BaselineOf(rule, series, now) is not { } r || r.Value <= 0) return null;
            reference = r;
            baseline = r.Value;
            threshold = r.Value * rule.BaselineFactor!.Value;
        }
        var beyond = rule.Above ? observed > threshold : observed < threshold;
        var significant = true;
        if (rule.Confidence is { } confidence)
        {
            if (TestZ(rule.Metric, current, span, reference, threshold) is not { } z) return null;
            var needed = Significance.ZFor(confidence);
            significant = rule.Above ? z >= needed : z <= -needed;
        }
        return new Observation(observed, baseline, threshold, beyond && significant) { Significant = significant };
    }

    /// <summary>
    /// The one-sided test statistic of the rolling window against the baseline (or a static threshold):
    /// positive when the window is higher. Null when the data cannot support the test.
    /// </summary>
    private static double? TestZ(AlertMetric metric, RollingStats current, TimeSpan span, Reference? reference, double threshold)
    {
        var r = reference?.Stats;
        switch (metric)
        {
            case AlertMetric.SuccessRate:
                return r is null ? Significance.Binomial(current.Successes, current.Calls, threshold) : Significance.TwoProportions(current.Successes, current.Calls, r.Successes, r.Calls);
            case AlertMetric.ErrorRate:
                return r is null ? Significance.Binomial(current.Errors, current.Calls, threshold) : Significance.TwoProportions(current.Errors, current.Calls, r.Errors, r.Calls);
            case AlertMetric.Traffic:
            {
                var minutes = span.TotalMinutes;
                var expected = r is null ? threshold * minutes : r.Calls / reference!.Minutes * minutes;
                var poisson = Significance.Poisson(current.Calls, expected);
                // Real traffic is burstier than Poisson: when the baseline's minutes vary more, that variance
                // decides (the less extreme of the two statistics).
                if (r?.MeanMoments(RollingStats.MeanKind.CallsPerMinute, MinBaselineWindows) is { Variance: > 0 } perMinute)
                {
                    var dispersed = (current.Calls - expected) / Math.Sqrt(perMinute.Variance * minutes);
                    return Math.Abs(dispersed) < Math.Abs(poisson) ? dispersed : poisson;
                }
                return poisson;
            }
            case AlertMetric.LatencyP95 or AlertMetric.LatencyP99:
            {
                // Share of the window's calls above the reference quantile, against the share that quantile leaves above it.
                var q = metric == AlertMetric.LatencyP95 ? 0.95 : 0.99;
                if (current.Latency.Count == 0) return null;
                var cut = r is null ? threshold : r.Latency.Quantile(q);
                return Significance.Binomial(current.Latency.CountAbove(cut), current.Latency.Count, 1 - q);
            }
            case AlertMetric.LatencyP50 when r is null:
                return current.Latency.Count == 0 ? null : Significance.Binomial(current.Latency.CountAbove(threshold), current.Latency.Count, 0.5);
            case AlertMetric.LatencyP50 or AlertMetric.LatencyMean:
                return MeanZ(RollingStats.MeanKind.LogLatency, current, r, r is null ? Math.Log(Math.Max(threshold, 1e-3)) : null);
            case AlertMetric.CostPerCall:
                return MeanZ(RollingStats.MeanKind.Cost, current, r, r is null ? threshold : null);
            case AlertMetric.TokensPerCall:
                return MeanZ(RollingStats.MeanKind.Tokens, current, r, r is null ? threshold : null);
            case AlertMetric.QualityMean:
                return MeanZ(RollingStats.MeanKind.Quality, current, r, r is null ? threshold : null);
            default:
                return null;
        }
    }

    // Minimum windows a baseline needs to estimate the variance of one call from its window means.
    private const int MinBaselineWindows = 10;

    // Welch-type z of a per-call mean: against the baseline's mean with the baseline's variance (under "no
    // change" both ranges share it), or against a static value with the window's own variance.
    private static double? MeanZ(RollingStats.MeanKind kind, RollingStats current, RollingStats? reference, double? staticValue)
    {
        if (reference is null)
        {
            if (current.MeanMoments(kind, 2) is not { } c || staticValue is not { } v) return null;
            return Significance.Welch(c.Mean, c.Variance, c.N, v, 0, double.PositiveInfinity);
        }
        if (reference.MeanMoments(kind, MinBaselineWindows) is not { } b || current.MeanMoments(kind, 1) is not { } cur) return null;
        return Significance.Welch(cur.Mean, b.Variance, cur.N, b.Mean, b.Variance, b.N);
    }

    private Reference? BaselineOf(AlertRule rule, SeriesKey series, DateTimeOffset now)
    {
        var windowStart = now - rule.Window;
        if (rule.Baseline == BaselineKind.SameHourLastWeek && OlderHistory?.Invoke(series, windowStart.AddDays(-7), now.AddDays(-7)) is { Count: > 0 } lastWeek)
        {
            var seasonal = RollingStats.Of(lastWeek);
            if (seasonal.Calls >= Math.Max(1, rule.MinCalls) && seasonal.Value(rule.Metric, rule.Window) is { } v) return new Reference(v, seasonal, rule.Window.TotalMinutes);
        }
        if (rule.Baseline == BaselineKind.SameHourPreviousDays && SameHours(series, now, rule.Window) is { } days)
        {
            if (days.Stats.Calls >= Math.Max(1, rule.MinCalls) && days.Stats.Value(rule.Metric, TimeSpan.FromMinutes(days.Minutes)) is { } v) return new Reference(v, days.Stats, days.Minutes);
        }
        return PreviousPeriod(rule.Metric, rule.MinCalls, rule.BaselineWindow, series, windowStart);
    }

    /// <summary>The same clock hours as [now − window, now) on each of the previous 7 days held.</summary>
    private (RollingStats Stats, double Minutes)? SameHours(SeriesKey series, DateTimeOffset now, TimeSpan window)
    {
        if (!_hours.TryGetValue(series, out var hours)) return null;
        var first = HourOf(now - window);
        var last = HourOf(now - TimeSpan.FromTicks(1));
        var parts = new List<RollingStats>();
        var counted = 0;
        // An hour with no summary after the series' first one had no calls (a quiet night), which is
        // different from an hour we know nothing about.
        var known = hours.Count == 0 ? DateTimeOffset.MaxValue : hours.Keys.First();
        for (var day = 1; day <= 7; day++)
        {
            for (var h = first; h <= last; h += TimeSpan.FromHours(1))
            {
                if (hours.TryGetValue(h.AddDays(-day), out var stats)) parts.Add(stats);
                else if (h.AddDays(-day) <= known) continue;
                counted++;
            }
        }
        return counted == 0 ? null : (RollingStats.Merge(parts), counted * 60.0);
    }

    private Reference? PreviousPeriod(AlertMetric metric, long minCalls, TimeSpan period, SeriesKey series, DateTimeOffset windowStart)
    {
        // Previous period. A series younger than half the period (a new prompt version) is compared with
        // the other versions of the same prompt and model over that period, the way a release is judged.
        var from = windowStart - period;
        List<Entry> held;
        if (_firstSeen.TryGetValue(series, out var first) && first > from && windowStart - first < period / 2)
        {
            held = _history.Where(kv => kv.Key != series && kv.Key with { PromptVersion = series.PromptVersion } == series)
                .SelectMany(kv => kv.Value.Where(w => w.Key >= from && w.Key < windowStart).Select(w => w.Value)).ToList();
        }
        else
        {
            held = Entries(series, from, windowStart).ToList();
        }
        if (held.Count == 0) return null;
        // Rates are measured over the history actually held (a series' first window, or history pruned
        // after a restart), never over minutes we know nothing about.
        var earliest = held.Min(w => w.Window.WindowStart);
        if (earliest > from) from = earliest;
        if (windowStart - from < period / 2) return null;
        // Rates end at the newest window held: windows of another partition may not have arrived yet
        // (a replay after a restart), and minutes not yet seen must not count as minutes without traffic.
        var to = held.Max(w => w.Window.WindowEnd);
        if (to > windowStart) to = windowStart;
        if (to - from < period / 2) return null;
        var stats = RollingStats.Merge(held.Select(e => e.Stats));
        if (stats.Calls < Math.Max(1, minCalls) && metric is not (AlertMetric.Traffic or AlertMetric.TrafficStopped)) return null;
        return stats.Value(metric, to - from) is { } v ? new Reference(v, stats, (to - from).TotalMinutes) : null;
    }

    /// <summary>
    /// Silence: no calls over the rolling window although the baseline predicts at least MinExpected. The
    /// prediction is the lower of the previous period's rate and the same hours' rate on previous days, so
    /// a diurnal series' quiet night (predicted by yesterday's night) does not page.
    /// </summary>
    private Observation? EvaluateStopped(AlertRule rule, SeriesKey series, DateTimeOffset now)
    {
        var calls = Range(series, now - rule.Window, now).Sum(w => w.Calls);
        var minutes = rule.Window.TotalMinutes;
        double? seasonal = rule.Baseline == BaselineKind.SameHourPreviousDays && SameHours(series, now, rule.Window) is { } days ? days.Stats.Calls / days.Minutes : null;
        // The period before the silence began (or before the rolling window, when it began earlier).
        var lastEnd = _lastWindowEnd.GetValueOrDefault(series, now);
        var end = lastEnd < now - rule.Window ? lastEnd : now - rule.Window;
        var previous = PreviousPeriod(AlertMetric.Traffic, 0, rule.BaselineWindow, series, end)?.Value;
        var rate = seasonal is { } s && previous is { } p ? Math.Min(s, p) : seasonal ?? previous;
        if (rate is not { } expectedRate) return null;
        var expected = expectedRate * minutes;
        var breached = calls == 0 && expected >= rule.MinExpected;
        if (breached)
        {
            // A release or a rollback moves the traffic to another version of the same prompt and model: the
            // prompt did not stop, one version did.
            var siblings = _history.Where(kv => kv.Key != series && kv.Key with { PromptVersion = series.PromptVersion } == series)
                .Sum(kv => kv.Value.Where(w => w.Key >= now - rule.Window && w.Key < now).Sum(w => w.Value.Window.Calls));
            breached = siblings < expected / 2;
        }
        return new Observation(calls / minutes, expectedRate, rule.MinExpected / minutes, breached);
    }

    /// <summary>N of the last M windows with a robust z-score beyond the threshold in the rule's direction.</summary>
    private Observation? EvaluateAnomaly(AlertRule rule, SeriesKey series, DateTimeOffset now)
    {
        if (!_history.TryGetValue(series, out var windows)) return null;
        var metric = ScoredMetric(rule.Metric);
        var recent = windows.Where(kv => kv.Key < now).TakeLast(rule.AnomalyWindows).ToList();
        if (recent.Count == 0 || recent[^1].Value.Window.WindowEnd != now) return null;
        var scored = 0;
        var beyond = 0;
        double latest = 0;
        foreach (var (start, entry) in recent)
        {
            if (Score(windows, start, entry, metric, rule.BaselineWindow) is not { } z) continue;
            scored++;
            latest = z;
            if (rule.Above ? z >= rule.Threshold!.Value : z <= -rule.Threshold!.Value) beyond++;
        }
        if (scored == 0) return null;
        return new Observation(latest, null, rule.Threshold!.Value, beyond >= rule.AnomalyCount) { Count = beyond, Of = recent.Count };
    }

    // Scores need at least this many earlier windows.
    private const int MinScoreSamples = 10;

    private static double? Score(SortedDictionary<DateTimeOffset, Entry> windows, DateTimeOffset start, Entry entry, AnomalyMetric metric, TimeSpan baselineWindow)
    {
        var key = (metric, baselineWindow.Ticks);
        if (entry.Scores.TryGetValue(key, out var cached)) return cached;
        double? score = null;
        if (entry.Value(metric) is { } value)
        {
            var before = windows.Where(kv => kv.Key < start && kv.Key >= start - baselineWindow)
                .Select(kv => kv.Value.Value(metric)).OfType<double>().ToList();
            if (before.Count >= MinScoreSamples)
            {
                var (median, mad) = AnomalyScorer.MedianAndMad(before);
                score = RobustZ.Score(metric, value, median, mad, entry.Window.Calls);
            }
        }
        entry.Scores[key] = score;
        return score;
    }

    private static AnomalyMetric ScoredMetric(AlertMetric metric) => metric switch
    {
        AlertMetric.LatencyP95 => AnomalyMetric.LatencyP95,
        AlertMetric.ErrorRate => AnomalyMetric.ErrorRate,
        AlertMetric.Traffic => AnomalyMetric.Traffic,
        AlertMetric.CostPerCall => AnomalyMetric.CostPerCall,
        _ => AnomalyMetric.QualityMean,
    };

    private static AlertState? Step(AlertRule rule, Tracker t, Observation? o, DateTimeOffset now, bool present)
    {
        if (o is null) return null; // not enough data: nothing changes
        switch (t.State)
        {
            case TrackerState.Inactive or TrackerState.Pending when o.Breached:
                if (t.State == TrackerState.Inactive)
                {
                    if (t.LastResolved is { } resolved && now < resolved + rule.Cooldown) return null;
                    t.State = TrackerState.Pending;
                    t.PendingSince = now - rule.Window;
                }
                if (now - t.PendingSince >= rule.For)
                {
                    t.State = TrackerState.Firing;
                    t.ClearSince = null;
                    t.LastNotified = now;
                    t.AlertId = null;
                    return AlertState.Firing;
                }
                return null;
            case TrackerState.Pending:
                t.State = TrackerState.Inactive;
                return null;
            case TrackerState.Firing when o.Breached:
                t.ClearSince = null;
                if (rule.Renotify > TimeSpan.Zero && present && now - t.LastNotified >= rule.Renotify)
                {
                    t.LastNotified = now;
                    return AlertState.Firing;
                }
                return null;
            case TrackerState.Firing:
                // One good window is not enough: the condition must stay clear for resolve_after.
                t.ClearSince ??= now - TimeSpan.FromMinutes(1);
                if (now - t.ClearSince >= rule.ResolveAfter)
                {
                    t.State = TrackerState.Inactive;
                    t.LastResolved = now;
                    return AlertState.Resolved;
                }
                return null;
            default:
                return null;
        }
    }

    private static Alert ToAlert(AlertRule rule, SeriesKey series, string fingerprint, Tracker t, Observation o, DateTimeOffset now, AlertState state)
    {
        t.AlertId ??= Hash(fingerprint + "|" + t.PendingSince.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture))[..24];
        var metric = AlertRule.MetricName(rule.Metric);
        var limitText = o.Baseline is { } b
            ? $"{rule.BaselineFactor:0.##}x baseline {Format(rule.Metric, b)}"
            : Format(rule.Metric, o.Threshold);
        var summary = (rule.Metric, rule.Kind, state) switch
        {
            (AlertMetric.TrafficStopped, _, AlertState.Firing) =>
                $"traffic_stopped: no calls over {rule.Window.TotalMinutes:0}m for {series}; {o.Baseline * rule.Window.TotalMinutes:0.#} were expected ({Format(AlertMetric.Traffic, o.Baseline ?? 0)})",
            (AlertMetric.TrafficStopped, _, _) => o.Observed > 0
                ? $"traffic_stopped: calls are back ({Format(AlertMetric.Traffic, o.Observed)}) for {series}"
                : $"traffic_stopped: traffic moved to another version of {series.PromptName}, or is no longer expected, for {series}",
            (_, RuleKind.Anomaly, AlertState.Firing) =>
                $"{metric} robust z {o.Observed.ToString("0.#", CultureInfo.InvariantCulture)}: {o.Count} of the last {o.Of} windows {(rule.Above ? "above" : "below")} {(rule.Above ? "" : "-")}{o.Threshold.ToString("0.#", CultureInfo.InvariantCulture)} for {series}",
            (_, RuleKind.Anomaly, _) => $"{metric} scores back within {o.Threshold.ToString("0.#", CultureInfo.InvariantCulture)} (latest {o.Observed.ToString("0.#", CultureInfo.InvariantCulture)}) for {series}",
            (_, _, AlertState.Firing) =>
                $"{metric} {Format(rule.Metric, o.Observed)} is {(rule.Above ? "above" : "below")} {limitText} over {rule.Window.TotalMinutes:0}m for {series}",
            _ => $"{metric} back to {Format(rule.Metric, o.Observed)} (limit {limitText}) for {series}",
        };
        var alert = new Alert
        {
            AlertId = t.AlertId,
            RuleId = rule.Id,
            Fingerprint = fingerprint,
            State = state,
            Severity = rule.Severity.ToString().ToUpperInvariant(),
            Series = series,
            Metric = metric,
            Observed = o.Observed,
            Baseline = o.Baseline,
            Threshold = o.Threshold,
            WindowStart = now - rule.Window,
            WindowEnd = now,
            StartedAt = t.PendingSince,
            ResolvedAt = state == AlertState.Resolved ? now : null,
            Summary = summary,
            RunbookUrl = rule.Runbook,
            Labels = rule.Labels,
        };
        t.Last = alert;
        return alert;
    }

    private static string Format(AlertMetric metric, double v) => metric switch
    {
        AlertMetric.SuccessRate or AlertMetric.ErrorRate => v.ToString("P1", CultureInfo.InvariantCulture),
        AlertMetric.LatencyP50 or AlertMetric.LatencyP95 or AlertMetric.LatencyP99 or AlertMetric.LatencyMean => v.ToString("0", CultureInfo.InvariantCulture) + " ms",
        AlertMetric.TokensPerCall => v.ToString("0", CultureInfo.InvariantCulture) + " tokens",
        AlertMetric.CostPerCall => "$" + v.ToString("0.######", CultureInfo.InvariantCulture),
        AlertMetric.Traffic or AlertMetric.TrafficStopped => v.ToString("0.#", CultureInfo.InvariantCulture) + "/min",
        _ => v.ToString("0.###", CultureInfo.InvariantCulture),
    };

    /// <summary>Stable id of a rule applied to a series.</summary>
    public static string Fingerprint(string ruleId, SeriesKey series) =>
        Hash(ruleId + "\u001f" + string.Join('\u001f', series.Environment, series.Service, series.PromptName, series.PromptVersion, series.RequestModel))[..16];

    private static string Hash(string s) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s)));

    internal sealed record Observation(double Observed, double? Baseline, double Threshold, bool Breached)
    {
        /// <summary>False when the change is within sampling noise (the rule's confidence).</summary>
        public bool Significant { get; init; } = true;
        /// <summary>Anomaly rules: windows beyond the threshold, of <see cref="Of"/> scored.</summary>
        public int Count { get; init; }
        public int Of { get; init; }
    }

    private sealed record Reference(double Value, RollingStats Stats, double Minutes);

    /// <summary>A window held in memory with its statistics and scores, computed once.</summary>
    private sealed class Entry(WindowAggregate window, RollingStats stats)
    {
        private Dictionary<AnomalyMetric, double?>? _values;
        public WindowAggregate Window { get; } = window;
        public RollingStats Stats { get; } = stats;
        public Dictionary<(AnomalyMetric, long), double?> Scores { get; } = [];

        public double? Value(AnomalyMetric metric)
        {
            _values ??= [];
            if (_values.TryGetValue(metric, out var v)) return v;
            v = Window.Calls == 0 ? null : metric switch
            {
                AnomalyMetric.LatencyP95 => Stats.Latency.Count == 0 ? null : Stats.Latency.Quantile(0.95),
                AnomalyMetric.ErrorRate => (double)Window.Errors / Window.Calls,
                AnomalyMetric.Traffic => Window.Calls,
                AnomalyMetric.CostPerCall => Window.Calls > Window.UnpricedCalls ? Window.CostUsd / (Window.Calls - Window.UnpricedCalls) : null,
                _ => Window.QualityCount > 0 ? Window.QualityMean : null,
            };
            _values[metric] = v;
            return v;
        }
    }

    private enum TrackerState
    {
        Inactive,
        Pending,
        Firing,
    }

    private sealed class Tracker
    {
        public TrackerState State { get; set; }
        public DateTimeOffset PendingSince { get; set; }
        public DateTimeOffset? ClearSince { get; set; }
        public DateTimeOffset? LastResolved { get; set; }
        public DateTimeOffset LastNotified { get; set; }
        public string? AlertId { get; set; }
        public Alert? Last { get; set; }
        public double? FrozenBaseline { get; set; }
        public AlertRule? Rule { get; set; }
        public SeriesKey? Series { get; set; }
    }
}
