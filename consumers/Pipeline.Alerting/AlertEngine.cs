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
    private readonly Dictionary<SeriesKey, SortedDictionary<DateTimeOffset, WindowAggregate>> _history = [];
    private readonly Dictionary<SeriesKey, DateTimeOffset> _lastEvaluated = [];
    private readonly Dictionary<SeriesKey, DateTimeOffset> _firstSeen = [];
    private readonly Dictionary<string, Tracker> _trackers = [];

    public AlertEngine(IReadOnlyList<AlertRule> rules)
    {
        _rules = rules;
        _retention = rules.Count == 0 ? TimeSpan.FromHours(2)
            : rules.Max(r => r.Window + (r.Baseline == BaselineKind.None ? TimeSpan.Zero : r.BaselineWindow) + (r.Metric == AlertMetric.BurnRate ? r.LongWindow : TimeSpan.Zero)) + TimeSpan.FromMinutes(5);
    }

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
    public IReadOnlyList<Alert> OnWindow(WindowAggregate window)
    {
        ArgumentNullException.ThrowIfNull(window);
        Store(window);
        var series = window.Series;
        if (_lastEvaluated.TryGetValue(series, out var last) && window.WindowEnd <= last)
        {
            return []; // a late revision: it updates history, alerts move on with newer windows
        }
        _lastEvaluated[series] = window.WindowEnd;
        var now = window.WindowEnd;
        var alerts = new List<Alert>();
        foreach (var baseRule in _rules)
        {
            if (baseRule.ForPrompt(series.PromptName) is not { } rule) continue;
            var fingerprint = Fingerprint(rule.Id, series);
            var observation = Evaluate(rule, series, now);
            if (!_trackers.TryGetValue(fingerprint, out var tracker))
            {
                tracker = new Tracker();
                _trackers[fingerprint] = tracker;
            }
            tracker.Rule = rule;
            tracker.Series = series;
            // While an incident is pending or firing its baseline stays where it was when it began, so the
            // incident's own windows do not teach the baseline that they are normal. After one baseline
            // period the freeze ends: a level that lasts that long is the new normal and may resolve.
            var usesBaseline = rule.Threshold is null && rule.BaselineFactor is not null && rule.Metric != AlertMetric.BurnRate;
            if (usesBaseline && observation is { Baseline: not null } o && tracker.State != TrackerState.Inactive
                && tracker.FrozenBaseline is { } frozen && now - tracker.PendingSince < rule.BaselineWindow)
            {
                var threshold = frozen * rule.BaselineFactor!.Value;
                observation = o with { Baseline = frozen, Threshold = threshold, Breached = rule.Above ? o.Observed > threshold : o.Observed < threshold };
            }
            var step = Step(rule, tracker, observation, now);
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
    public IReadOnlyList<Alert> AdvanceTo(DateTimeOffset safeNow) => ResolveSilent(safeNow);

    /// <summary>
    /// A firing series that stopped sending (a rolled-back version, a retired prompt) has nothing left to
    /// alert on: once its rolling window and resolve_after have passed with no windows, it resolves.
    /// </summary>
    private List<Alert> ResolveSilent(DateTimeOffset now)
    {
        var resolved = new List<Alert>();
        foreach (var (fingerprint, t) in _trackers)
        {
            if (t.State != TrackerState.Firing || t.Rule is null || t.Series is not { } series) continue;
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
        if (!windows.TryGetValue(w.WindowStart, out var existing) || existing.Revision <= w.Revision)
        {
            windows[w.WindowStart] = w;
        }
        if (!_firstSeen.TryGetValue(w.Series, out var first) || w.WindowStart < first) _firstSeen[w.Series] = w.WindowStart;
        var newest = windows.Keys.Max();
        foreach (var old in windows.Keys.Where(k => k < newest - _retention).ToList()) windows.Remove(old);
    }

    private IEnumerable<WindowAggregate> Range(SeriesKey series, DateTimeOffset from, DateTimeOffset to) =>
        _history.TryGetValue(series, out var windows) ? windows.Where(kv => kv.Key >= from && kv.Key < to).Select(kv => kv.Value) : [];

    /// <summary>The observation of one rule at <paramref name="now"/>: null when there is not enough data to judge.</summary>
    internal Observation? Evaluate(AlertRule rule, SeriesKey series, DateTimeOffset now)
    {
        var currentWindows = Range(series, now - rule.Window, now).ToList();
        var current = RollingStats.Of(currentWindows);
        if (current.Calls < rule.MinCalls || (current.Calls == 0 && rule.Metric != AlertMetric.Traffic)) return null;
        if (rule.Metric == AlertMetric.BurnRate)
        {
            var budget = 1 - rule.Slo;
            var longStats = RollingStats.Of(Range(series, now - rule.LongWindow, now));
            if (longStats.Calls == 0) return null;
            var shortBurn = (double)current.Errors / current.Calls / budget;
            var longBurn = (double)longStats.Errors / longStats.Calls / budget;
            var limit = rule.Threshold ?? 14.4;
            return new Observation(shortBurn, longBurn, limit, shortBurn > limit && longBurn > limit);
        }
        // A series younger than the rolling window (a new version), or resuming after a pause, is measured
        // over the windows it has in the rolling window, not over minutes before it (re)appeared.
        var span = currentWindows.Count == 0 ? rule.Window : now - currentWindows.Min(w => w.WindowStart);
        if (current.Value(rule.Metric, span) is not { } observed) return null;
        double? baseline = null;
        double threshold;
        if (rule.Threshold is { } t)
        {
            threshold = t;
        }
        else
        {
            if (BaselineValue(rule, series, now) is not { } b || b <= 0) return null;
            baseline = b;
            threshold = b * rule.BaselineFactor!.Value;
        }
        return new Observation(observed, baseline, threshold, rule.Above ? observed > threshold : observed < threshold);
    }

    private double? BaselineValue(AlertRule rule, SeriesKey series, DateTimeOffset now)
    {
        var windowStart = now - rule.Window;
        if (rule.Baseline == BaselineKind.SameHourLastWeek && OlderHistory?.Invoke(series, windowStart.AddDays(-7), now.AddDays(-7)) is { Count: > 0 } lastWeek)
        {
            var seasonal = RollingStats.Of(lastWeek);
            if (seasonal.Calls >= Math.Max(1, rule.MinCalls)) return seasonal.Value(rule.Metric, rule.Window);
        }
        // Previous period. A series younger than half the period (a new prompt version) is compared with
        // the other versions of the same prompt and model over that period, the way a release is judged.
        var from = windowStart - rule.BaselineWindow;
        IEnumerable<WindowAggregate> history;
        if (_firstSeen.TryGetValue(series, out var first) && first > from && windowStart - first < rule.BaselineWindow / 2)
        {
            var siblings = _history.Where(kv => kv.Key != series && kv.Key with { PromptVersion = series.PromptVersion } == series)
                .SelectMany(kv => kv.Value.Where(w => w.Key >= from && w.Key < windowStart).Select(w => w.Value)).ToList();
            if (siblings.Count == 0) return null;
            // Measured over the sibling history actually held, as for a series' own history below.
            var earliest = siblings.Min(w => w.WindowStart);
            if (earliest > from) from = earliest;
            if (windowStart - from < rule.BaselineWindow / 2) return null;
            history = siblings;
        }
        else
        {
            var own = Range(series, from, windowStart).ToList();
            if (own.Count == 0) return null;
            // Rates are measured over the history actually held (a series' first window, or history pruned
            // after a restart), never over minutes we know nothing about.
            var earliest = own.Min(w => w.WindowStart);
            if (earliest > from) from = earliest;
            if (windowStart - from < rule.BaselineWindow / 2) return null;
            history = own;
        }
        // Rates end at the newest window held: windows of another partition may not have arrived yet
        // (a replay after a restart), and minutes not yet seen must not count as minutes without traffic.
        var held = history.ToList();
        var to = held.Max(w => w.WindowEnd);
        if (to > windowStart) to = windowStart;
        if (to - from < rule.BaselineWindow / 2) return null;
        var stats = RollingStats.Of(held);
        if (stats.Calls < Math.Max(1, rule.MinCalls) && rule.Metric != AlertMetric.Traffic) return null;
        return stats.Value(rule.Metric, to - from);
    }

    private static AlertState? Step(AlertRule rule, Tracker t, Observation? o, DateTimeOffset now)
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
                if (rule.Renotify > TimeSpan.Zero && now - t.LastNotified >= rule.Renotify)
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
        var summary = state == AlertState.Firing
            ? $"{metric} {Format(rule.Metric, o.Observed)} is {(rule.Above ? "above" : "below")} {limitText} over {rule.Window.TotalMinutes:0}m for {series}"
            : $"{metric} back to {Format(rule.Metric, o.Observed)} (limit {limitText}) for {series}";
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
        AlertMetric.LatencyP95 or AlertMetric.LatencyP99 or AlertMetric.LatencyMean => v.ToString("0", CultureInfo.InvariantCulture) + " ms",
        AlertMetric.CostPerCall => "$" + v.ToString("0.######", CultureInfo.InvariantCulture),
        AlertMetric.Traffic => v.ToString("0.#", CultureInfo.InvariantCulture) + "/min",
        _ => v.ToString("0.###", CultureInfo.InvariantCulture),
    };

    /// <summary>Stable id of a rule applied to a series.</summary>
    public static string Fingerprint(string ruleId, SeriesKey series) =>
        Hash(ruleId + "\u001f" + string.Join('\u001f', series.Environment, series.Service, series.PromptName, series.PromptVersion, series.RequestModel))[..16];

    private static string Hash(string s) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s)));

    internal sealed record Observation(double Observed, double? Baseline, double Threshold, bool Breached);

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
