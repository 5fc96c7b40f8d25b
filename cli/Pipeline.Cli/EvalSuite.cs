using System.Globalization;
using Pipeline.LoadGen;

namespace Pipeline.Cli;

/// <summary>One incident of the evaluation suite: a change to one stream (its own prompt and version) between two scenario minutes.</summary>
/// <param name="Id">Short name, as printed in the table.</param>
/// <param name="Stream">Index of the affected stream in <see cref="EvalSuite.Streams"/>.</param>
/// <param name="From">First affected minute of the scenario (inclusive).</param>
/// <param name="To">Minute the incident ends (exclusive).</param>
/// <param name="AwaitsIssue14">True when no rule on main at the time of writing covers it: expected to be caught once issue 14's detectors land.</param>
/// <param name="Change">The stream's profile during the incident.</param>
internal sealed record EvalIncident(string Id, string Description, int Stream, int From, int To, bool AwaitsIssue14, Func<TrafficProfile, TrafficProfile> Change)
{
    /// <summary>Alert metrics (prefixes) that measure what the incident changes; a catch by another metric is noise that happened to fall in its span.</summary>
    public IReadOnlyList<string> Metrics { get; init; } = [];

    public bool Measures(string metric) => Metrics.Any(m => metric.StartsWith(m, StringComparison.Ordinal));
}

/// <summary>An alert record read back from the <c>alerts</c> table: the rule and the series it fired for, at a window end (event time).</summary>
internal sealed record EvalAlert(string RuleId, string PromptName, string PromptVersion, DateTimeOffset WindowEnd, string Metric = "");

/// <summary>
/// How one incident fared in one run: caught (by which rule, how many minutes after the end of its first affected
/// minute), and whether that first FIRING measured what the incident changed.
/// </summary>
internal sealed record IncidentOutcome(string Id, bool Caught, string? Rule, double? DelayMinutes, bool ByRelatedMetric = false);

/// <summary>The scored alerts of one run.</summary>
internal sealed record EvalScore(IReadOnlyList<IncidentOutcome> Incidents, IReadOnlyList<EvalAlert> FalseAlerts, double SteadySeriesHours)
{
    public double FalseAlertsPer1000SeriesHours => SteadySeriesHours <= 0 ? 0 : FalseAlerts.Count * 1000 / SteadySeriesHours;
}

/// <summary>
/// The evaluation suite (<c>pipeline eval</c>): days of steady, day-shaped traffic over many series, then
/// incidents, each on a series of its own, continuing the same series' timeline (so the alert worker's
/// history holds the previous days). Pure: it builds the scenario and scores alerts; <see cref="EvalRunner"/>
/// plays it through the pipeline.
/// </summary>
internal sealed class EvalSuite
{
    /// <summary>Incident series run at about this rate (before the day curve, which is near 1 at the incidents' time of day).</summary>
    public const double IncidentCallsPerMinute = 20;
    /// <summary>An incident counts as caught by a FIRING on its series up to this long after it ends.</summary>
    public static readonly TimeSpan CatchGrace = TimeSpan.FromMinutes(5);
    /// <summary>Incidents begin at this time of day (UTC), where the day curve is about 1, so their series run at about 20 calls a minute.</summary>
    public static readonly TimeSpan IncidentTimeOfDay = new(8, 30, 0);

    private EvalSuite(string name, int steadyMinutes, int incidentLead, int incidentMinutes, IReadOnlyList<TrafficProfile> streams, IReadOnlyList<EvalIncident> incidents)
    {
        Name = name;
        SteadyMinutes = steadyMinutes;
        IncidentLead = incidentLead;
        IncidentMinutes = incidentMinutes;
        Streams = streams;
        Incidents = incidents;
    }

    public string Name { get; }
    /// <summary>Minutes of steady traffic before the incident phase.</summary>
    public int SteadyMinutes { get; }
    /// <summary>Healthy minutes at the start of the incident phase before the first incident.</summary>
    public int IncidentLead { get; }
    /// <summary>Minutes of the incident phase (incidents, recovery).</summary>
    public int IncidentMinutes { get; }
    public int Minutes => SteadyMinutes + IncidentMinutes;
    public IReadOnlyList<TrafficProfile> Streams { get; }
    public IReadOnlyList<EvalIncident> Incidents { get; }
    /// <summary>Share of calls that arrive 2 to 5 minutes late (after their window closed).</summary>
    public double LateFraction { get; init; } = 0.01;
    /// <summary>Share of calls sent twice with the same event id.</summary>
    public double DuplicateFraction { get; init; } = 0.005;

    /// <summary>The whole suite: <paramref name="days"/> of steady traffic over <paramref name="series"/> series (incident series included), then 3 hours of incidents.</summary>
    public static EvalSuite Full(int days, int series)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(days, 1);
        var p = days * 1440;
        const int lead = 30;
        var (from, to) = (p + lead, p + lead + 30);
        var streams = new List<TrafficProfile>();
        var incidents = new List<EvalIncident>();
        void Add(string id, string description, bool awaits, Func<TrafficProfile, TrafficProfile> change, bool sibling = false, int? end = null)
        {
            var baseProfile = IncidentStream(id, streams.Count);
            if (sibling) streams.Add(baseProfile with { PromptVersion = "1" });
            streams.Add(baseProfile);
            incidents.Add(new EvalIncident(id, description, streams.Count - 1, from, end ?? to, awaits, change) { Metrics = MetricsOf(id) });
        }
        Add("latency +20%", "latency x1.2 on one version (the other healthy)", true, s => s with { LatencyMultiplier = 1.2 }, sibling: true);
        Add("latency +60%", "latency x1.6 on one version (the other healthy)", true, s => s with { LatencyMultiplier = 1.6 }, sibling: true);
        Add("latency 2x", "latency x2 on one version (the other healthy)", false, s => s with { LatencyMultiplier = 2 }, sibling: true);
        Add("quality -5%", "mean quality score x0.95", true, s => s with { QualityMultiplier = 0.95 });
        Add("quality -25%", "mean quality score x0.75", true, s => s with { QualityMultiplier = 0.75 });
        Add("errors 1%->12%", "error rate from 1% to 12%", false, s => s with { ErrorRate = 0.12 });
        Add("cost x1.5", "cost per call x1.5 (tokens x1.5)", false, s => s with { CostMultiplier = 1.5 });
        Add("traffic x3", "calls per minute x3", false, s => s with { CallsPerMinute = s.CallsPerMinute * 3 });
        Add("series stops", "the series sends nothing for 30 minutes", true, s => s with { CallsPerMinute = 0 });
        Add("latency drift 2h", "latency factor rising linearly from 1 to 1.5 over two hours", true,
            s => s with { LatencyDrift = new LatencyDrift(1.5, from, from + 120) }, end: from + 120);
        AddSteady(streams, series);
        return new EvalSuite($"full ({days} d x {streams.Count} series)", p, lead, 180, streams, incidents);
    }

    /// <summary>The CI version: an hour of steady traffic over five series, then an error-rate rise, a 2x latency on one version and a stop.</summary>
    public static EvalSuite Short()
    {
        const int p = 60, lead = 5;
        var (from, to) = (p + lead, p + lead + 15);
        var streams = new List<TrafficProfile>();
        var incidents = new List<EvalIncident>();
        streams.Add(IncidentStream("errors 1%->12%", 0));
        incidents.Add(new EvalIncident("errors 1%->12%", "error rate from 1% to 12%", 0, from, to, false, s => s with { ErrorRate = 0.12 }) { Metrics = MetricsOf("errors") });
        var latency = IncidentStream("latency 2x", 1);
        streams.Add(latency with { PromptVersion = "1" });
        streams.Add(latency);
        incidents.Add(new EvalIncident("latency 2x", "latency x2 on one version (the other healthy)", 2, from, to, false, s => s with { LatencyMultiplier = 2 }) { Metrics = MetricsOf("latency") });
        streams.Add(IncidentStream("series stops", 3));
        incidents.Add(new EvalIncident("series stops", "the series sends nothing for 15 minutes", 3, from, to, true, s => s with { CallsPerMinute = 0 }) { Metrics = MetricsOf("series stops") });
        AddSteady(streams, 5);
        return new EvalSuite("short (1 h x 5 series)", p, lead, 30, streams, incidents);
    }

    /// <summary>What each kind of incident changes, as alert metric prefixes (AlertRule metric names).</summary>
    private static string[] MetricsOf(string id) => id switch
    {
        _ when id.StartsWith("latency", StringComparison.Ordinal) => ["latency"],
        _ when id.StartsWith("quality", StringComparison.Ordinal) => ["quality"],
        _ when id.StartsWith("errors", StringComparison.Ordinal) => ["error_rate", "success_rate", "burn_rate"],
        _ when id.StartsWith("cost", StringComparison.Ordinal) => ["cost", "tokens"], // the suite raises cost by raising tokens
        _ => ["traffic"],
    };

    private static TrafficProfile IncidentStream(string id, int index)
    {
        var name = "eval_" + new string(id.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray()).Trim('_');
        while (name.Contains("__", StringComparison.Ordinal)) name = name.Replace("__", "_", StringComparison.Ordinal);
        return Varied(index) with { PromptName = name, PromptVersion = "2", CallsPerMinute = IncidentCallsPerMinute };
    }

    /// <summary>Fills the suite up to <paramref name="series"/> streams with steady ones (rates 12 to 28 a minute, mean 20).</summary>
    private static void AddSteady(List<TrafficProfile> streams, int series)
    {
        for (var i = 0; streams.Count < series; i++)
        {
            streams.Add(Varied(i) with { PromptName = $"steady_{i:00}", PromptVersion = "1", CallsPerMinute = 12 + 4 * (i % 5) });
        }
    }

    /// <summary>Series differ in model, latency and tokens, as real prompts do.</summary>
    private static TrafficProfile Varied(int i) => new()
    {
        PromptName = "p", PromptVersion = "1", Service = "eval",
        Provider = (i % 3) == 2 ? "anthropic" : "openai",
        Model = (i % 3) switch { 0 => "gpt-4o-mini", 1 => "gpt-4o", _ => "claude-sonnet-4" },
        MedianLatencyMs = 300 + 100 * (i % 8),
        MeanInputTokens = 600 + 200 * (i % 6),
        MeanOutputTokens = 150 + 50 * (i % 4),
    };

    /// <summary>The scenario: every stream from minute 0, each incident changing its stream.</summary>
    public Scenario BuildScenario() => Scenario.FromStreams(Name, "pipeline eval", Minutes, Streams,
            Incidents.Select(i => new StreamChange(i.Stream, i.From, i.To, i.Change, i.Id)).ToList())
        with { Diurnal = true, LateFraction = LateFraction, DuplicateFraction = DuplicateFraction, LateMinutes = 5 };

    /// <summary>
    /// The scenario's end (event time): the latest one at or before <paramref name="latest"/> that puts the
    /// first incident at <see cref="IncidentTimeOfDay"/>. The whole history is then at most a day older than
    /// a history ending now (see docs/detection.md for the aggregator settings this needs).
    /// </summary>
    public DateTimeOffset EndAtOrBefore(DateTimeOffset latest)
    {
        var endTimeOfDay = IncidentTimeOfDay + TimeSpan.FromMinutes(IncidentMinutes - IncidentLead);
        var day = new DateTimeOffset(latest.UtcDateTime.Date, TimeSpan.Zero);
        var end = day + endTimeOfDay;
        while (end > latest) end -= TimeSpan.FromDays(1);
        return end;
    }

    /// <summary>
    /// Scores FIRING alerts of a run whose scenario started at <paramref name="start"/>: an incident is caught by a
    /// FIRING on its series with a window end in (its start, its end + 5 min]; the first such is its rule and
    /// delay (event time, from the end of the first affected minute). Every other FIRING is a false alert.
    /// </summary>
    public EvalScore Score(DateTimeOffset start, IReadOnlyList<EvalAlert> firing)
    {
        ArgumentNullException.ThrowIfNull(firing);
        var explained = new HashSet<EvalAlert>();
        var outcomes = new List<IncidentOutcome>();
        foreach (var i in Incidents)
        {
            var s = Streams[i.Stream];
            var (from, to) = (start.AddMinutes(i.From), start.AddMinutes(i.To) + CatchGrace);
            var hits = firing.Where(a => a.PromptName == s.PromptName && a.PromptVersion == s.PromptVersion && a.WindowEnd > from && a.WindowEnd <= to)
                .OrderBy(a => a.WindowEnd).ThenBy(a => a.RuleId, StringComparer.Ordinal).ToList();
            explained.UnionWith(hits);
            outcomes.Add(hits.Count == 0
                ? new IncidentOutcome(i.Id, false, null, null)
                : new IncidentOutcome(i.Id, true, hits[0].RuleId, (hits[0].WindowEnd - from.AddMinutes(1)).TotalMinutes, i.Measures(hits[0].Metric)));
        }
        var falseAlerts = firing.Where(a => !explained.Contains(a)).OrderBy(a => a.WindowEnd).ToList();
        var incidentHours = Incidents.Sum(i => (i.To - i.From + CatchGrace.TotalMinutes) / 60);
        return new EvalScore(outcomes, falseAlerts, Streams.Count * Minutes / 60.0 - incidentHours);
    }

    /// <summary>A line per incident and setting, for the header of the output.</summary>
    public IEnumerable<string> Describe(DateTimeOffset start)
    {
        yield return string.Create(CultureInfo.InvariantCulture, $"suite {Name}: {Streams.Count} series, {SteadyMinutes / 60.0:0.#} h steady from {start:yyyy-MM-dd HH:mm}, then {IncidentMinutes} min with incidents; {LateFraction:P1} late, {DuplicateFraction:P1} duplicated");
        foreach (var i in Incidents)
        {
            var s = Streams[i.Stream];
            yield return string.Create(CultureInfo.InvariantCulture, $"  {i.Id,-18} {s.PromptName}@{s.PromptVersion} ({s.Model}) {start.AddMinutes(i.From):MM-dd HH:mm} to {start.AddMinutes(i.To):HH:mm}: {i.Description}");
        }
    }
}
