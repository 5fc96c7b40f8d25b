namespace Pipeline.Alerting;

/// <summary>What a rule measures over its rolling window.</summary>
public enum AlertMetric
{
    SuccessRate,
    ErrorRate,
    LatencyP50,
    LatencyP95,
    LatencyP99,
    LatencyMean,
    /// <summary>Calls per minute.</summary>
    Traffic,
    CostPerCall,
    /// <summary>Input plus output tokens per call.</summary>
    TokensPerCall,
    QualityMean,
    /// <summary>
    /// A series that normally sends and has stopped: no calls over the rolling window although its baseline
    /// predicts at least <see cref="AlertRule.MinExpected"/>. Evaluated as event time passes, not only on windows.
    /// </summary>
    TrafficStopped,
    /// <summary>Error-budget burn rate against an SLO, over a short and a long window (both must exceed).</summary>
    BurnRate,
}

/// <summary>Alert severity, as on the topic.</summary>
public enum Severity
{
    Info,
    Warning,
    Error,
    Critical,
}

/// <summary>Which history a baseline comes from.</summary>
public enum BaselineKind
{
    /// <summary>No baseline: a static threshold.</summary>
    None,
    /// <summary>The period just before the rolling window.</summary>
    Previous,
    /// <summary>The same window one week earlier; falls back to <see cref="Previous"/> when that history is missing.</summary>
    SameHourLastWeek,
    /// <summary>
    /// The same clock hours of the previous days held in memory (up to 7), so that a slow drift is judged
    /// against yesterday rather than against the hour it drifted through; falls back to <see cref="Previous"/>.
    /// </summary>
    SameHourPreviousDays,
}

/// <summary>How a rule judges its metric.</summary>
public enum RuleKind
{
    /// <summary>The rolling window's value against a static threshold or a baseline times a factor.</summary>
    Threshold,
    /// <summary>
    /// Robust z-scores of the last windows against the series' own baseline windows (median and MAD, floored
    /// at the sampling noise): fires when at least <see cref="AlertRule.AnomalyCount"/> of the last
    /// <see cref="AlertRule.AnomalyWindows"/> windows score beyond the threshold in the rule's direction.
    /// </summary>
    Anomaly,
}

/// <summary>Per-prompt changes to a rule.</summary>
public sealed record RuleOverride
{
    public bool? Enabled { get; init; }
    public double? Threshold { get; init; }
    public double? BaselineFactor { get; init; }
    public Severity? Severity { get; init; }
}

/// <summary>One alert rule. See <c>rules.default.yaml</c> for the file form and the defaults.</summary>
public sealed record AlertRule
{
    public required string Id { get; init; }
    public required AlertMetric Metric { get; init; }
    /// <summary>True: fire when the observation is above the limit; false: below.</summary>
    public required bool Above { get; init; }
    public RuleKind Kind { get; init; } = RuleKind.Threshold;
    /// <summary>
    /// One-sided confidence the change must also reach (0.5..0.999999): the rolling window must differ from the
    /// baseline (or the static threshold) by more than sampling noise explains, so quiet series do not flap.
    /// Null: the threshold alone decides.
    /// </summary>
    public double? Confidence { get; init; }
    /// <summary>For <see cref="RuleKind.Anomaly"/>: windows that must score beyond the threshold ...</summary>
    public int AnomalyCount { get; init; } = 1;
    /// <summary>... among this many most recent windows.</summary>
    public int AnomalyWindows { get; init; } = 1;
    /// <summary>For <see cref="AlertMetric.TrafficStopped"/>: calls the baseline must predict in the window before silence pages.</summary>
    public double MinExpected { get; init; } = 10;
    public double? Threshold { get; init; }
    public double? BaselineFactor { get; init; }
    public TimeSpan Window { get; init; } = TimeSpan.FromMinutes(5);
    public BaselineKind Baseline { get; init; } = BaselineKind.None;
    public TimeSpan BaselineWindow { get; init; } = TimeSpan.FromHours(1);
    /// <summary>How long the condition must hold before the alert fires.</summary>
    public TimeSpan For { get; init; } = TimeSpan.Zero;
    /// <summary>How long the condition must be clear before the alert resolves (no flapping on one good window).</summary>
    public TimeSpan ResolveAfter { get; init; } = TimeSpan.FromMinutes(2);
    /// <summary>Calls the rolling window needs before the rule is evaluated at all.</summary>
    public long MinCalls { get; init; } = 20;
    public Severity Severity { get; init; } = Severity.Warning;
    /// <summary>After a resolve, the same fingerprint cannot fire again for this long.</summary>
    public TimeSpan Cooldown { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>While firing, repeat the FIRING record this often; zero never repeats.</summary>
    public TimeSpan Renotify { get; init; } = TimeSpan.Zero;
    /// <summary>SLO target for <see cref="AlertMetric.BurnRate"/>, for example 0.99.</summary>
    public double Slo { get; init; } = 0.99;
    /// <summary>The long window of a burn-rate rule.</summary>
    public TimeSpan LongWindow { get; init; } = TimeSpan.FromHours(1);
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public string? Runbook { get; init; }
    /// <summary>Overrides by prompt name.</summary>
    public IReadOnlyDictionary<string, RuleOverride> Overrides { get; init; } = new Dictionary<string, RuleOverride>();
    /// <summary>
    /// Rules of one family describe one kind of trouble (latency, errors, traffic, cost, quality): while one of them
    /// is firing on a series, a related rule of the family at most as severe is recorded but not notified on that
    /// series (inhibited). Default <see cref="DefaultFamily"/> of the metric; null: never inhibits nor is inhibited.
    /// </summary>
    public string? Family { get; init; }

    /// <summary>The family a rule of <paramref name="metric"/> belongs to when its rule file names none.</summary>
    public static string DefaultFamily(AlertMetric metric) => metric switch
    {
        AlertMetric.LatencyP50 or AlertMetric.LatencyP95 or AlertMetric.LatencyP99 or AlertMetric.LatencyMean => "latency",
        AlertMetric.SuccessRate or AlertMetric.ErrorRate or AlertMetric.BurnRate => "errors",
        AlertMetric.Traffic or AlertMetric.TrafficStopped => "traffic",
        AlertMetric.CostPerCall or AlertMetric.TokensPerCall => "cost",
        _ => "quality",
    };

    /// <summary>The rule as it applies to <paramref name="promptName"/>, or null when disabled for it.</summary>
    public AlertRule? ForPrompt(string promptName)
    {
        if (!Overrides.TryGetValue(promptName, out var o)) return this;
        if (o.Enabled == false) return null;
        return this with
        {
            Threshold = o.Threshold ?? Threshold,
            BaselineFactor = o.BaselineFactor ?? BaselineFactor,
            Severity = o.Severity ?? Severity,
        };
    }

    /// <summary>Snake-case name of the metric, as in rule files and on the topic.</summary>
    public static string MetricName(AlertMetric metric) => metric switch
    {
        AlertMetric.SuccessRate => "success_rate",
        AlertMetric.ErrorRate => "error_rate",
        AlertMetric.LatencyP50 => "latency_p50",
        AlertMetric.LatencyP95 => "latency_p95",
        AlertMetric.LatencyP99 => "latency_p99",
        AlertMetric.LatencyMean => "latency_mean",
        AlertMetric.Traffic => "traffic",
        AlertMetric.CostPerCall => "cost_per_call",
        AlertMetric.TokensPerCall => "tokens_per_call",
        AlertMetric.QualityMean => "quality_mean",
        AlertMetric.TrafficStopped => "traffic_stopped",
        _ => "burn_rate",
    };
}
