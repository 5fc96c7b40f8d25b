using System.Globalization;
using System.Text.RegularExpressions;
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
        "severity", "cooldown", "renotify", "slo", "long_window", "labels", "runbook", "overrides",
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
        return list;
    }

    private static AlertRule ParseRule(YamlMappingNode map, string source)
    {
        var fields = new Dictionary<string, YamlNode>();
        foreach (var (k, v) in map.Children)
        {
            var key = ((YamlScalarNode)k).Value ?? "";
            if (!KnownKeys.Contains(key)) throw new RuleFileException(source, k.Start.Line, $"unknown key '{key}' (known: {string.Join(", ", KnownKeys.Order())})");
            fields[key] = v;
        }
        string Scalar(string key) => fields.TryGetValue(key, out var n) && n is YamlScalarNode s && s.Value is { } v
            ? v : throw new RuleFileException(source, fields.TryGetValue(key, out var m) ? m.Start.Line : map.Start.Line, $"'{key}' is required");
        string? Optional(string key) => fields.TryGetValue(key, out var n) ? (n as YamlScalarNode)?.Value : null;
        long Line(string key) => fields.TryGetValue(key, out var n) ? n.Start.Line : map.Start.Line;
        double? Number(string key)
        {
            if (Optional(key) is not { } s) return null;
            return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)
                ? d : throw new RuleFileException(source, Line(key), $"'{key}': '{s}' is not a number");
        }
        TimeSpan? Duration(string key) => Optional(key) is { } s ? ParseDuration(s) ?? throw new RuleFileException(source, Line(key), $"'{key}': '{s}' is not a duration like 30s, 5m, 1h, 7d") : null;

        var id = Scalar("id");
        if (!IdPattern().IsMatch(id)) throw new RuleFileException(source, Line("id"), $"id '{id}' must be lower-case letters, digits and underscores");
        var metricName = Scalar("metric");
        var metric = Enum.GetValues<AlertMetric>().Cast<AlertMetric?>().FirstOrDefault(m => AlertRule.MetricName(m!.Value) == metricName)
            ?? throw new RuleFileException(source, Line("metric"), $"unknown metric '{metricName}' (known: {string.Join(", ", Enum.GetValues<AlertMetric>().Select(AlertRule.MetricName))})");
        var comparison = Scalar("comparison");
        if (comparison is not ("above" or "below")) throw new RuleFileException(source, Line("comparison"), $"comparison must be 'above' or 'below', not '{comparison}'");
        var threshold = Number("threshold");
        var factor = Number("baseline_factor");
        if ((threshold is null) == (factor is null)) throw new RuleFileException(source, map.Start.Line, $"rule '{id}' needs exactly one of 'threshold' and 'baseline_factor'");
        if (factor is <= 0) throw new RuleFileException(source, Line("baseline_factor"), "'baseline_factor' must be positive");
        var baselineText = Optional("baseline");
        var (baseline, baselineWindow) = baselineText switch
        {
            null => (factor is null ? BaselineKind.None : BaselineKind.Previous, TimeSpan.FromHours(1)),
            "same_hour_last_week" => (BaselineKind.SameHourLastWeek, TimeSpan.FromHours(1)),
            _ when baselineText.StartsWith("previous:", StringComparison.Ordinal) && ParseDuration(baselineText[9..]) is { } d => (BaselineKind.Previous, d),
            _ => throw new RuleFileException(source, Line("baseline"), $"baseline '{baselineText}' must be 'previous:<duration>' or 'same_hour_last_week'"),
        };
        if (baseline != BaselineKind.None && factor is null) throw new RuleFileException(source, Line("baseline"), "a baseline needs 'baseline_factor'");
        var severityText = Optional("severity") ?? "warning";
        var severity = Enum.TryParse<Severity>(severityText, ignoreCase: true, out var sev) && severityText.All(char.IsLower)
            ? sev : throw new RuleFileException(source, Line("severity"), $"severity must be info, warning, error or critical, not '{severityText}'");
        var slo = Number("slo") ?? 0.99;
        if (metric == AlertMetric.BurnRate && slo is not (> 0 and < 1)) throw new RuleFileException(source, Line("slo"), "'slo' must be between 0 and 1, for example 0.99");
        var window = Duration("window") ?? TimeSpan.FromMinutes(5);
        if (window < TimeSpan.FromMinutes(1)) throw new RuleFileException(source, Line("window"), "'window' must be at least 1m (one closed window)");
        var minCalls = Number("min_calls") ?? 20;
        if (minCalls < 0) throw new RuleFileException(source, Line("min_calls"), "'min_calls' must not be negative");

        return new AlertRule
        {
            Id = id,
            Metric = metric,
            Above = comparison == "above",
            Threshold = threshold,
            BaselineFactor = factor,
            Window = window,
            Baseline = baseline,
            BaselineWindow = baselineWindow,
            For = Duration("for") ?? TimeSpan.Zero,
            ResolveAfter = Duration("resolve_after") ?? TimeSpan.FromMinutes(2),
            MinCalls = (long)minCalls,
            Severity = severity,
            Cooldown = Duration("cooldown") ?? TimeSpan.FromMinutes(10),
            Renotify = Duration("renotify") ?? TimeSpan.Zero,
            Slo = slo,
            LongWindow = Duration("long_window") ?? TimeSpan.FromHours(1),
            Labels = fields.TryGetValue("labels", out var labels) ? StringMap(labels, source) : new Dictionary<string, string>(),
            Runbook = Optional("runbook"),
            Overrides = fields.TryGetValue("overrides", out var overrides) ? ParseOverrides(overrides, source) : new Dictionary<string, RuleOverride>(),
        };
    }

    private static Dictionary<string, string> StringMap(YamlNode node, string source) =>
        node is YamlMappingNode m
            ? m.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value ?? "", kv => (kv.Value as YamlScalarNode)?.Value ?? "")
            : throw new RuleFileException(source, node.Start.Line, "'labels' must be a mapping");

    private static Dictionary<string, RuleOverride> ParseOverrides(YamlNode node, string source)
    {
        if (node is not YamlMappingNode m) throw new RuleFileException(source, node.Start.Line, "'overrides' must map prompt names to settings");
        var result = new Dictionary<string, RuleOverride>();
        foreach (var (k, v) in m.Children)
        {
            if (v is not YamlMappingNode o) throw new RuleFileException(source, v.Start.Line, "each override must be a mapping");
            var values = o.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value ?? "", kv => (kv.Value as YamlScalarNode)?.Value ?? "");
            foreach (var key in values.Keys.Where(x => x is not ("enabled" or "threshold" or "baseline_factor" or "severity")))
            {
                throw new RuleFileException(source, o.Start.Line, $"unknown override key '{key}' (known: enabled, threshold, baseline_factor, severity)");
            }
            double? Num(string key) => values.TryGetValue(key, out var s)
                ? double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : throw new RuleFileException(source, o.Start.Line, $"'{key}': '{s}' is not a number")
                : null;
            result[((YamlScalarNode)k).Value ?? ""] = new RuleOverride
            {
                Enabled = values.TryGetValue("enabled", out var e) ? e is "true" ? true : e is "false" ? false : throw new RuleFileException(source, o.Start.Line, "'enabled' must be true or false") : null,
                Threshold = Num("threshold"),
                BaselineFactor = Num("baseline_factor"),
                Severity = values.TryGetValue("severity", out var s) ? Enum.TryParse<Severity>(s, true, out var sv) ? sv : throw new RuleFileException(source, o.Start.Line, $"unknown severity '{s}'") : null,
            };
        }
        return result;
    }

    /// <summary>Parses 30s, 5m, 1h, 7d (and 0); null when malformed.</summary>
    public static TimeSpan? ParseDuration(string text)
    {
        var m = DurationPattern().Match(text.Trim());
        if (!m.Success) return null;
        var n = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        return m.Groups[2].Value switch
        {
            "s" => TimeSpan.FromSeconds(n),
            "m" => TimeSpan.FromMinutes(n),
            "h" => TimeSpan.FromHours(n),
            "d" => TimeSpan.FromDays(n),
            _ => n == 0 ? TimeSpan.Zero : null,
        };
    }

    [GeneratedRegex("^([0-9]{1,6})(s|m|h|d|)$")]
    private static partial Regex DurationPattern();

    [GeneratedRegex("^[a-z0-9_]{1,64}$")]
    private static partial Regex IdPattern();
}
