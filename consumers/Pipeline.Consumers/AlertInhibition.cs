using Pipeline.Alerting;
using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>
/// Inhibition, as Alertmanager's: one incident pages once, not once per related rule. While an incident of a rule
/// is open (FIRING) and not itself inhibited, the records of other rules of the same family (<see cref="AlertRule.Family"/>)
/// on the same series that it outranks are recorded, marked with <see cref="Alert.InhibitedBy"/>, but not notified.
/// It outranks them when it is more severe, or as severe and it began first (then: listed first in the rule file).
/// Pure: the worker passes the open incidents (rebuilt from ClickHouse after a restart).
/// </summary>
public sealed class AlertInhibition
{
    private static readonly string[] Severities = ["INFO", "WARNING", "ERROR", "CRITICAL"];
    private readonly Dictionary<string, (string? Family, int Order)> _rules;

    public AlertInhibition(IReadOnlyList<AlertRule> rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        _rules = rules.Select((r, i) => (r, i)).ToDictionary(x => x.r.Id, x => (x.r.Family, x.i), StringComparer.Ordinal);
    }

    /// <summary>The family of a rule id; null for rules without one or not in the rule file (restored from an older file).</summary>
    public string? Family(string ruleId) => _rules.TryGetValue(ruleId, out var r) ? r.Family : null;

    /// <summary>The open incident that inhibits <paramref name="alert"/>, or null. Inhibited incidents inhibit nothing.</summary>
    public Alert? InhibitorOf(Alert alert, IEnumerable<Alert> open)
    {
        ArgumentNullException.ThrowIfNull(alert);
        ArgumentNullException.ThrowIfNull(open);
        if (Family(alert.RuleId) is not { } family) return null;
        return open
            .Where(o => o.State == AlertState.Firing && o.InhibitedBy is null && o.AlertId != alert.AlertId && o.RuleId != alert.RuleId
                && o.Series == alert.Series && Family(o.RuleId) == family && Outranks(o, alert))
            .OrderByDescending(o => Rank(o.Severity)).ThenBy(o => o.StartedAt).ThenBy(o => Order(o.RuleId))
            .FirstOrDefault();
    }

    /// <summary>True when <paramref name="a"/> speaks for <paramref name="b"/>: more severe, or as severe and begun first (then listed first).</summary>
    public bool Outranks(Alert a, Alert b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var (ra, rb) = (Rank(a.Severity), Rank(b.Severity));
        if (ra != rb) return ra > rb;
        if (a.StartedAt != b.StartedAt) return a.StartedAt < b.StartedAt;
        return Order(a.RuleId) < Order(b.RuleId);
    }

    private int Order(string ruleId) => _rules.TryGetValue(ruleId, out var r) ? r.Order : int.MaxValue;

    private static int Rank(string severity) => Array.IndexOf(Severities, severity);
}
