using System.Globalization;
using System.Text.RegularExpressions;
using Pipeline.Schemas;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Pipeline.Alerting;

/// <summary>A rule file that cannot be used, with the file, line and reason.</summary>
public sealed class RuleFileException(string source, long line, string reason)
    : Exception($"{source}:{line}: {reason}")
{
    public string File { get; } = source;
    public long Line { get; } = line;
    public string Reason { get; } = reason;
}

/// <summary>Reads alert rules from YAML (see <c>rules.default.yaml</c>); every error names its line.</summary>
public static partial class RuleFile
{
    private static readonly HashSet<string> KnownKeys =
    [
        "id", "metric", "comparison", "threshold", "baseline_factor", "window", "baseline", "for", "resolve_after", "min_calls",
        "severity", "cooldown", "renotify", "slo", "long_window", "labels", "runbook", "overrides", "kind", "confidence", "windows", "min_expected",
        "family",
    ];

    /// <summary>The built-in rules.</summary>
    public static IReadOnlyList<AlertRule> Defaults { get; } = Parse(ReadDefaultText(), "rules.default.yaml");

    /// <summary>Text of the built-in rule file.</summary>
    public static string ReadDefaultText()
    {
        using var stream = typeof(RuleFile).Assembly.GetManifestResourceStream("rules.default.yaml")!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Reads a rule file from disk.</summary>
    public static IReadOnlyList<AlertRule> Load(string path)
    {
        if (!File.Exists(path)) throw new RuleFileException(path, 0, "file does not exist");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses rule-file text; <paramref name="source"/> names it in errors.</summary>
    public static IReadOnlyList<AlertRule> Parse(string text, string source)
    {
        var yaml = new YamlStream();
        try
        {
            yaml.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            throw new RuleFileException(source, ex.Start.Line, "not valid YAML: " + ex.Message);
        }
        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new RuleFileException(source, 1, "expected a mapping with a 'rules' list");
        }
        if (!root.Children.TryGetValue(new YamlScalarNode("rules"), out var rulesNode) || rulesNode is not YamlSequenceNode rules)
        {
            throw new RuleFileException(source, root.Start.Line, "expected a 'rules' list");
        }
        var list = new List<AlertRule>();
        foreach (var node in rules)
        {
            if (node is not YamlMappingNode map) throw new RuleFileException(source, node.Start.Line, "each rule must be a mapping");
            var rule = ParseRule(map, source);
            if (list.Any(r => r.Id == rule.Id)) throw new RuleFileException(source, map.Start.Line, $"duplicate rule id '{rule.Id}'");
            list.Add(rule);
        }
        // An empty list is not "no alerts wanted": it is a file that lost its rules, and the worker would watch nothing.
        if (list.Count == 0) throw new RuleFileException(source, rulesNode.Start.Line, "'rules' is empty: the alert worker would watch nothing (leave Alerting:RulesFile unset for the built-in rules)");
        return list;
    }

    private static AlertRule ParseRule(YamlMappingNode map, string source)
    {
        var fields = new Dictionary<string, YamlNode>();
        YamlNode? unknown = null;
        foreach (var (k, v) in map.Children)
        {
            var key = ((YamlScalarNode)k).Value ?? "";
            if (!KnownKeys.Contains(key)) unknown ??= k;
            fields[key] = v;
        }
        var ruleId = fields.TryGetValue("id", out var idNode) && idNode is YamlScalarNode { Value: { } idText } ? idText : null;
        // Every reason names the rule (once its id is known) and the field.
        string Named(string key, string reason) => (ruleId is null ? "" : $"rule '{ruleId}': ") + $"'{key}' {reason}";
        long Line(string key) => fields.TryGetValue(key, out var n) ? n.Start.Line : map.Start.Line;
        RuleFileException Fail(string key, string reason) => new(source, Line(key), Named(key, reason));
        if (unknown is not null)
        {
            var key = ((YamlScalarNode)unknown).Value ?? "";
            throw new RuleFileException(source, unknown.Start.Line, Named(key, $"is an unknown key (known: {string.Join(", ", KnownKeys.Order())})"));
        }
        string Scalar(string key) => fields.TryGetValue(key, out var n) && n is YamlScalarNode s && s.Value is { } v ? v : throw Fail(key, "is required");
        string? Optional(string key) => fields.TryGetValue(key, out var n) ? (n as YamlScalarNode)?.Value : null;
        double? Number(string key)
        {
            if (Optional(key) is not { } s) return null;
            return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)
                ? d : throw Fail(key, $"'{s}' is not a number");
        }
        // Durations share the one syntax of settings and flags; every rule duration has an upper bound, so a
        // misread value (99999d) is refused rather than obeyed.
        TimeSpan? Duration(string key, TimeSpan min)
        {
            if (Optional(key) is not { } s) return null;
            if (!Durations.TryParse(s, out var d, out var error)) throw Fail(key, error);
            if (d < min || d > MaxDuration) throw Fail(key, $"{Durations.Format(d)} must be between {Durations.Format(min)} and {Durations.Format(MaxDuration)}");
            return d;
        }

        var id = Scalar("id");
        if (!IdPattern().IsMatch(id)) throw Fail("id", $"'{id}' must be lower-case letters, digits and underscores");
        var metricName = Scalar("metric");
        var metric = Enum.GetValues<AlertMetric>().Cast<AlertMetric?>().FirstOrDefault(m => AlertRule.MetricName(m!.Value) == metricName)
            ?? throw Fail("metric", $"unknown metric '{metricName}' (known: {string.Join(", ", Enum.GetValues<AlertMetric>().Select(AlertRule.MetricName))})");
        var burnRate = metric == AlertMetric.BurnRate;
        var stopped = metric == AlertMetric.TrafficStopped;
        var kindText = Optional("kind") ?? "threshold";
        var kind = kindText switch
        {
            "threshold" => RuleKind.Threshold,
            "anomaly" => RuleKind.Anomaly,
            _ => throw Fail("kind", $"must be 'threshold' or 'anomaly', not '{kindText}'"),
        };
        var anomaly = kind == RuleKind.Anomaly;
        if (anomaly && metric is not (AlertMetric.LatencyP95 or AlertMetric.ErrorRate or AlertMetric.Traffic or AlertMetric.CostPerCall or AlertMetric.QualityMean))
        {
            throw Fail("metric", $"'{metricName}' cannot be scored: kind anomaly takes latency_p95, error_rate, traffic, cost_per_call or quality_mean");
        }
        var familyText = Optional("family");
        if (familyText is not null && familyText != "none" && !IdPattern().IsMatch(familyText))
        {
            throw Fail("family", $"'{familyText}' must be lower-case letters, digits and underscores, or 'none' (never inhibited)");
        }
        var family = familyText switch { null => AlertRule.DefaultFamily(metric), "none" => null, _ => familyText };
        if (stopped) return ParseStopped(source, id, fields, Fail, Optional, Number, Duration, StringMap) with { Family = family };
        var comparison = Scalar("comparison");
        if (comparison is not ("above" or "below")) throw Fail("comparison", $"must be 'above' or 'below', not '{comparison}'");
        var threshold = Number("threshold");
        var factor = Number("baseline_factor");
        if (anomaly && threshold is null) throw Fail("threshold", "is required for kind anomaly (the robust z-score, for example 4)");
        if (anomaly && factor is not null) throw Fail("baseline_factor", "cannot be used with kind anomaly; give 'threshold' (the robust z-score)");
        if (anomaly && threshold is not (>= 1 and <= 100)) throw Fail("threshold", $"{threshold?.ToString(CultureInfo.InvariantCulture)} must be a robust z-score from 1 to 100 for kind anomaly");
        if ((threshold is null) == (factor is null)) throw new RuleFileException(source, map.Start.Line, $"rule '{id}' needs exactly one of 'threshold' and 'baseline_factor'");
        if (burnRate && threshold is null) throw Fail("baseline_factor", "cannot be used with burn_rate; give 'threshold' (the burn-rate multiple, for example 14.4)");
        if (!anomaly && threshold is { } t && ThresholdProblem(metric, t, comparison == "above") is { } thresholdProblem) throw Fail("threshold", thresholdProblem);
        if (factor is { } f && f is not (> 0 and <= MaxBaselineFactor)) throw Fail("baseline_factor", $"{f.ToString(CultureInfo.InvariantCulture)} must be above 0 and at most {MaxBaselineFactor}");
        if (factor is { } f2 && FactorProblem(f2, comparison == "above", Optional("confidence") is not null) is { } factorProblem) throw Fail("baseline_factor", factorProblem);
        var baselineText = Optional("baseline");
        var (baseline, baselineWindow) = baselineText switch
        {
            null => (factor is null && !anomaly ? BaselineKind.None : BaselineKind.Previous, TimeSpan.FromHours(1)),
            "same_hour_last_week" => (BaselineKind.SameHourLastWeek, TimeSpan.FromHours(1)),
            "same_hour_previous_days" => (BaselineKind.SameHourPreviousDays, TimeSpan.FromHours(1)),
            _ when baselineText.StartsWith("previous:", StringComparison.Ordinal) && ParseDuration(baselineText[9..]) is { } d =>
                d >= TimeSpan.FromMinutes(1) && d <= MaxDuration ? (BaselineKind.Previous, d)
                : throw Fail("baseline", $"previous:{Durations.Format(d)} must be between 1m and {Durations.Format(MaxDuration)}"),
            _ => throw Fail("baseline", $"'{baselineText}' must be 'previous:<duration>', 'same_hour_previous_days' or 'same_hour_last_week'"),
        };
        if (baseline != BaselineKind.None && factor is null && !anomaly) throw Fail("baseline", "needs 'baseline_factor'");
        if (anomaly && baseline != BaselineKind.Previous) throw Fail("baseline", "kind anomaly scores against 'previous:<duration>'");
        var confidence = Number("confidence");
        if (confidence is { } c && c is not (>= 0.5 and <= 0.999999)) throw Fail("confidence", $"{c.ToString(CultureInfo.InvariantCulture)} must be between 0.5 and 0.999999");
        if (confidence is not null && (burnRate || anomaly)) throw Fail("confidence", burnRate ? "is not used by metric burn_rate" : "is not used by kind anomaly (its threshold is the score)");
        var (anomalyCount, anomalyWindows) = (1, 1);
        if (Optional("windows") is { } windowsText)
        {
            if (!anomaly) throw Fail("windows", "is only used by kind anomaly");
            var parts = windowsText.Split('/');
            if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out anomalyCount)
                || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out anomalyWindows)
                || anomalyCount < 1 || anomalyWindows < anomalyCount || anomalyWindows > 60)
            {
                throw Fail("windows", $"'{windowsText}' must be N/M with 1 <= N <= M <= 60 (N of the last M windows), for example 3/5");
            }
        }
        if (fields.ContainsKey("min_expected")) throw Fail("min_expected", "is only used by metric traffic_stopped");
        var severityText = Optional("severity") ?? "warning";
        var severity = Enum.TryParse<Severity>(severityText, ignoreCase: true, out var sev) && severityText.All(char.IsLower)
            ? sev : throw Fail("severity", $"must be info, warning, error or critical, not '{severityText}'");
        var window = Duration("window", TimeSpan.FromMinutes(1)) ?? TimeSpan.FromMinutes(5);
        // A burn-rate rule compares a short and a long window against an SLO: all three must be given, not defaulted.
        double slo = 0.99;
        TimeSpan longWindow = TimeSpan.FromHours(1);
        if (burnRate)
        {
            slo = Number("slo") ?? throw Fail("slo", "is required for metric burn_rate (the SLO target, for example 0.99)");
            if (slo is not (> 0 and < 1)) throw Fail("slo", "must be between 0 and 1, for example 0.99");
            longWindow = Duration("long_window", TimeSpan.FromMinutes(1)) ?? throw Fail("long_window", "is required for metric burn_rate (for example 1h)");
            if (longWindow <= window) throw Fail("long_window", $"{Durations.Format(longWindow)} must be longer than 'window' ({Durations.Format(window)})");
        }
        else
        {
            foreach (var key in new[] { "slo", "long_window" })
            {
                if (fields.ContainsKey(key)) throw Fail(key, "is only used by metric burn_rate");
            }
        }
        var minCalls = Number("min_calls") ?? 20;
        if (minCalls is < 0 or > 1e9 || minCalls != Math.Floor(minCalls)) throw Fail("min_calls", "must be a whole number from 0 to 1000000000");
        var forDuration = Duration("for", TimeSpan.Zero) ?? TimeSpan.Zero;
        // A baseline learns what it sees: an incident's baseline stays frozen for one baseline period only (an
        // anomaly's median moves once half its windows are the incident). A rule that must hold longer than that
        // before firing can never fire: by then the incident is the baseline's normal.
        var learnt = anomaly ? baselineWindow / 2 : factor is not null ? baselineWindow : TimeSpan.MaxValue;
        if (learnt != TimeSpan.MaxValue && forDuration + (anomaly ? TimeSpan.Zero : window) >= learnt)
        {
            throw Fail("for", anomaly
                ? $"{Durations.Format(forDuration)} must be shorter than half the baseline ({Durations.Format(learnt)}): by then the anomaly is the baseline's median and never fires"
                : $"{Durations.Format(forDuration)} plus 'window' ({Durations.Format(window)}) must be shorter than the baseline period ({Durations.Format(baselineWindow)}): by then the incident is the baseline and the rule never fires");
        }

        return new AlertRule
        {
            Id = id,
            Metric = metric,
            Kind = kind,
            Confidence = confidence,
            AnomalyCount = anomalyCount,
            AnomalyWindows = anomalyWindows,
            Above = comparison == "above",
            Threshold = threshold,
            BaselineFactor = factor,
            Window = window,
            Baseline = baseline,
            BaselineWindow = baselineWindow,
            For = forDuration,
            ResolveAfter = Duration("resolve_after", TimeSpan.Zero) ?? TimeSpan.FromMinutes(2),
            MinCalls = (long)minCalls,
            Severity = severity,
            Cooldown = Duration("cooldown", TimeSpan.Zero) ?? TimeSpan.FromMinutes(10),
            Renotify = Duration("renotify", TimeSpan.Zero) ?? TimeSpan.Zero,
            Slo = slo,
            LongWindow = longWindow,
            Labels = fields.TryGetValue("labels", out var labels) ? StringMap(labels, source) : new Dictionary<string, string>(),
            Runbook = Optional("runbook"),
            Family = family,
            Overrides = fields.TryGetValue("overrides", out var overrides) ? ParseOverrides(overrides, source, id, metric, comparison == "above", confidence is not null) : new Dictionary<string, RuleOverride>(),
        };
    }

    // traffic_stopped: silence against what the baseline predicts; no comparison, threshold or factor to give.
    private static AlertRule ParseStopped(string source, string id, Dictionary<string, YamlNode> fields,
        Func<string, string, RuleFileException> fail, Func<string, string?> optional, Func<string, double?> number,
        Func<string, TimeSpan, TimeSpan?> duration, Func<YamlNode, string, Dictionary<string, string>> stringMap)
    {
        foreach (var key in new[] { "comparison", "threshold", "baseline_factor", "confidence", "slo", "long_window", "windows" })
        {
            if (fields.ContainsKey(key)) throw fail(key, "is not used by metric traffic_stopped (it fires when no calls arrive although min_expected were predicted)");
        }
        if (optional("kind") is { } k && k != "threshold") throw fail("kind", "must be 'threshold' (the default) for metric traffic_stopped");
        var minExpected = number("min_expected") ?? 10;
        if (minExpected is < 1 or > 1e9) throw fail("min_expected", $"{minExpected.ToString(CultureInfo.InvariantCulture)} must be from 1 to 1000000000");
        var baselineText = optional("baseline") ?? "same_hour_previous_days";
        var (baseline, baselineWindow) = baselineText switch
        {
            "same_hour_previous_days" => (BaselineKind.SameHourPreviousDays, TimeSpan.FromHours(1)),
            _ when baselineText.StartsWith("previous:", StringComparison.Ordinal) && ParseDuration(baselineText[9..]) is { } d && d >= TimeSpan.FromMinutes(1) && d <= MaxDuration =>
                (BaselineKind.Previous, d),
            _ => throw fail("baseline", $"'{baselineText}' must be 'same_hour_previous_days' or 'previous:<duration>' (1m to 7d) for metric traffic_stopped"),
        };
        var severityText = optional("severity") ?? "warning";
        var severity = Enum.TryParse<Severity>(severityText, ignoreCase: true, out var sev) && severityText.All(char.IsLower)
            ? sev : throw fail("severity", $"must be info, warning, error or critical, not '{severityText}'");
        if (fields.ContainsKey("overrides")) throw fail("overrides", "are not supported for metric traffic_stopped; disable it per prompt with a silence");
        return new AlertRule
        {
            Id = id,
            Metric = AlertMetric.TrafficStopped,
            Above = false,
            Window = duration("window", TimeSpan.FromMinutes(1)) ?? TimeSpan.FromMinutes(2),
            Baseline = baseline,
            BaselineWindow = baselineWindow,
            For = duration("for", TimeSpan.Zero) ?? TimeSpan.Zero,
            ResolveAfter = duration("resolve_after", TimeSpan.Zero) ?? TimeSpan.Zero,
            MinCalls = 0,
            MinExpected = minExpected,
            Severity = severity,
            Cooldown = duration("cooldown", TimeSpan.Zero) ?? TimeSpan.FromMinutes(10),
            Renotify = duration("renotify", TimeSpan.Zero) ?? TimeSpan.Zero,
            Labels = fields.TryGetValue("labels", out var labels) ? stringMap(labels, source) : new Dictionary<string, string>(),
            Runbook = optional("runbook"),
        };
    }

    /// <summary>Longest duration any rule field may have (rolling windows, baselines, for, cooldown, ...).</summary>
    // Computed, not a static field: Defaults is parsed during static initialisation, before later fields are set.
    public static TimeSpan MaxDuration => TimeSpan.FromDays(7);

    private const double MaxBaselineFactor = 1000;

    // Rates and quality scores are fractions; every other metric (latency, traffic, cost, burn multiple) is not
    // negative. A limit the value can never pass (below 0, above 1 for a fraction) would never fire.
    private static string? ThresholdProblem(AlertMetric metric, double threshold, bool? above = null)
    {
        var text = threshold.ToString(CultureInfo.InvariantCulture);
        var fraction = metric is AlertMetric.SuccessRate or AlertMetric.ErrorRate or AlertMetric.QualityMean;
        if (fraction && threshold is < 0 or > 1)
        {
            return $"{text} must be between 0 and 1 for {AlertRule.MetricName(metric)} ({(metric == AlertMetric.QualityMean ? "a quality score" : "a fraction of calls")})";
        }
        if (threshold < 0) return $"{text} must not be negative";
        if (above == false && threshold == 0) return $"{text} can never be undercut ({AlertRule.MetricName(metric)} is never below 0): the rule would never fire";
        if (above == true && fraction && threshold == 1) return $"{text} can never be exceeded ({AlertRule.MetricName(metric)} is at most 1): the rule would never fire";
        return null;
    }

    // A factor on the wrong side of 1 pages on normal traffic: 'below' 1.5x the baseline holds nearly always,
    // 'above' 0.5x too. Exactly 1 asks for any change at all, which only a confidence test makes meaningful.
    private static string? FactorProblem(double factor, bool above, bool confidence)
    {
        var text = factor.ToString(CultureInfo.InvariantCulture);
        if (above && factor < 1) return $"{text} must be above 1 with comparison 'above' (a rise): at {text}x the rule fires on normal values";
        if (!above && factor > 1) return $"{text} must be below 1 with comparison 'below' (a drop): at {text}x the rule fires on normal values";
        if (factor == 1 && !confidence) return "1 fires on half of all windows without 'confidence': give a factor away from 1, or a confidence";
        return null;
    }

    private static Dictionary<string, string> StringMap(YamlNode node, string source) =>
        node is YamlMappingNode m
            ? m.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value ?? "", kv => (kv.Value as YamlScalarNode)?.Value ?? "")
            : throw new RuleFileException(source, node.Start.Line, "'labels' must be a mapping");

    private static Dictionary<string, RuleOverride> ParseOverrides(YamlNode node, string source, string id, AlertMetric metric, bool above, bool confidence)
    {
        if (node is not YamlMappingNode m) throw new RuleFileException(source, node.Start.Line, $"rule '{id}': 'overrides' must map prompt names to settings");
        var result = new Dictionary<string, RuleOverride>();
        foreach (var (k, v) in m.Children)
        {
            var prompt = ((YamlScalarNode)k).Value ?? "";
            RuleFileException Fail(YamlNode at, string reason) => new(source, at.Start.Line, $"rule '{id}': overrides '{prompt}': {reason}");
            if (v is not YamlMappingNode o) throw Fail(v, "must be a mapping");
            var values = o.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value ?? "", kv => (kv.Value as YamlScalarNode)?.Value ?? "");
            foreach (var key in values.Keys.Where(x => x is not ("enabled" or "threshold" or "baseline_factor" or "severity")))
            {
                throw Fail(o, $"unknown key '{key}' (known: enabled, threshold, baseline_factor, severity)");
            }
            double? Num(string key) => values.TryGetValue(key, out var s)
                ? double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d : throw Fail(o, $"'{key}': '{s}' is not a number")
                : null;
            var threshold = Num("threshold");
            if (threshold is { } t && ThresholdProblem(metric, t, above) is { } problem) throw Fail(o, $"'threshold' {problem}");
            var factor = Num("baseline_factor");
            if (factor is { } f && f is not (> 0 and <= MaxBaselineFactor)) throw Fail(o, $"'baseline_factor' must be above 0 and at most {MaxBaselineFactor}");
            if (factor is { } f2 && FactorProblem(f2, above, confidence) is { } factorProblem) throw Fail(o, $"'baseline_factor' {factorProblem}");
            result[prompt] = new RuleOverride
            {
                Enabled = values.TryGetValue("enabled", out var e) ? e is "true" ? true : e is "false" ? false : throw Fail(o, "'enabled' must be true or false") : null,
                Threshold = threshold,
                BaselineFactor = factor,
                Severity = values.TryGetValue("severity", out var s) ? Enum.TryParse<Severity>(s, true, out var sv) ? sv : throw Fail(o, $"unknown severity '{s}'") : null,
            };
        }
        return result;
    }

    /// <summary>Parses a duration in the syntax of <see cref="Durations"/> (30s, 5m, 1h, 7d, 0, hh:mm:ss); null when malformed.</summary>
    public static TimeSpan? ParseDuration(string text) => Durations.TryParse(text, out var value, out _) ? value : null;

    [GeneratedRegex("^[a-z0-9_]{1,64}$")]
    private static partial Regex IdPattern();
}
