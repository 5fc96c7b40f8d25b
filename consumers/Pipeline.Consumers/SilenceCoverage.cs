using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>
/// Whether a new silence's matcher names anything that exists: the series known to ClickHouse over a recent range
/// and the rules in force. A matcher that matches nothing silences nothing, so the person silencing is told, with
/// the closest known values (a typo in a prompt name, a version not deployed, a rule id misspelt).
/// </summary>
public static class SilenceCoverage
{
    /// <summary>Null when the matcher matches a known series (and a known rule, when it names one); else a warning line.</summary>
    /// <param name="matcher">The matcher as typed.</param>
    /// <param name="known">Series seen over <paramref name="rangeText"/>.</param>
    /// <param name="ruleIds">The rules in force; empty when they could not be read (the rule is then not checked).</param>
    /// <param name="rangeText">How far back <paramref name="known"/> looked, for the message (for example 7d).</param>
    public static string? Warning(SilenceMatcher matcher, IReadOnlyCollection<SeriesKey> known, IReadOnlyCollection<string> ruleIds, string rangeText)
    {
        ArgumentNullException.ThrowIfNull(matcher);
        ArgumentNullException.ThrowIfNull(known);
        ArgumentNullException.ThrowIfNull(ruleIds);
        var fields = matcher.Fields.ToList();
        var rule = fields.FirstOrDefault(kv => kv.Key == "rule").Value;
        var unknownRule = rule is not null && ruleIds.Count > 0 && !ruleIds.Contains(rule);
        var seriesMatched = known.Any(matcher.MatchesSeries);
        if (seriesMatched && !unknownRule) return null;
        var parts = new List<string>();
        if (!seriesMatched)
        {
            var seriesFields = fields.Where(kv => kv.Key != "rule").ToList();
            if (known.Count == 0)
            {
                parts.Add($"no series at all in metrics_1m over the last {rangeText}");
            }
            else
            {
                parts.Add($"no series seen over the last {rangeText} matches it");
                // The nearest series: fewest edits over the keys the matcher names; its full key shows what to type.
                var closest = known.MinBy(s => seriesFields.Sum(kv => Distance(kv.Value, SilenceMatcher.ValueOf(kv.Key, s, ""))))!;
                parts.Add("closest series: " + string.Join(",", seriesFields.Select(kv => $"{kv.Key}={SilenceMatcher.ValueOf(kv.Key, closest, "")}"))
                    + $" ({closest})");
                foreach (var (key, value) in seriesFields)
                {
                    var values = known.Select(s => SilenceMatcher.ValueOf(key, s, "")).Distinct(StringComparer.Ordinal).ToList();
                    if (values.Contains(value, StringComparer.Ordinal)) continue;
                    parts.Add($"{key} '{value}' is not known; closest: {string.Join(", ", Closest(value, values))}");
                }
            }
        }
        if (unknownRule) parts.Add($"rule '{rule}' is not a rule in force; closest: {string.Join(", ", Closest(rule!, ruleIds))}");
        return $"warning: --match {matcher} matches nothing: {string.Join("; ", parts)}";
    }

    private static IEnumerable<string> Closest(string value, IEnumerable<string> candidates) =>
        candidates.OrderBy(c => Distance(value, c)).ThenBy(c => c, StringComparer.Ordinal).Take(3);

    /// <summary>Levenshtein distance, case-insensitive (a case slip is the commonest typo; matching stays exact).</summary>
    public static int Distance(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        var current = new int[b.Length + 1];
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var same = char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]);
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (same ? 0 : 1));
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
