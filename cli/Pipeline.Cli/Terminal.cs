using System.Text;
using Pipeline.Reports;
using Spectre.Console;

namespace Pipeline.Cli;

/// <summary>Terminal output that names from events cannot subvert (no escape sequences, no markup).</summary>
internal static class Terminal
{
    /// <summary>Control characters (ANSI escapes included) replaced by '?', then Spectre markup escaped.</summary>
    public static string Safe(string? text)
    {
        if (string.IsNullOrEmpty(text)) return "";
        var sb = new StringBuilder(text.Length);
        foreach (var ch in text)
        {
            sb.Append(char.IsControl(ch) ? '?' : ch);
        }
        return Markup.Escape(sb.ToString());
    }

    /// <summary>Plain text with control characters replaced, for non-markup output.</summary>
    public static string Plain(string? text) => string.IsNullOrEmpty(text) ? "" : new string(text.Select(c => char.IsControl(c) ? '?' : c).ToArray());

    public static string Colour(HealthStatus status) => status switch
    {
        HealthStatus.Red => "[red]● red[/]",
        HealthStatus.Yellow => "[yellow]● yellow[/]",
        _ => "[green]● green[/]",
    };

    /// <summary>The key of <see cref="TopCommand.ActiveAlertsAsync"/>: one series' prompt version in its environment and service.</summary>
    public static string AlertKey(string environment, string service, string prompt, string version) => $"{environment}\n{service}\n{prompt}@{version}";

    /// <summary>
    /// The health table of `top` and `demo`. Rows of more than one environment or service get those columns, so one
    /// team's prompt version never passes for another's; a cost reads <c>unpriced</c> when no call has one.
    /// </summary>
    public static Table HealthTable(IReadOnlyList<PromptHealth> health, IReadOnlyDictionary<string, int> activeAlerts, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(health);
        ArgumentNullException.ThrowIfNull(activeAlerts);
        var scoped = health.Select(h => (h.Environment, h.Service)).Distinct().Count() > 1;
        var table = new Table().Border(TableBorder.Rounded);
        var columns = new[] { "status", "prompt", "version", "model", "req/min", "success", "p50 ms", "p95 ms", "p99 ms", "tokens", "cost $", "quality", "alerts", "fresh" };
        string[] header = scoped ? ["environment", "service", .. columns] : columns;
        foreach (var c in header)
        {
            table.AddColumn(new TableColumn(c));
        }
        foreach (var h in health)
        {
            var key = AlertKey(h.Environment, h.Service, h.PromptName, h.PromptVersion);
            string[] where = scoped ? [Safe(h.Environment), Safe(h.Service)] : [];
            table.AddRow([.. where,
                Colour(h.Status), Safe(h.PromptName), Safe(h.PromptVersion), Safe(h.Model),
                // Sampled series: an estimate, with its 95% bound per minute.
                h.CallsBound is { } bound && h.Calls > 0
                    ? $"~{h.CallsPerMinute.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)} ±{(bound * h.CallsPerMinute / h.Calls).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)}"
                    : h.CallsPerMinute.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture),
                h.SuccessRate.ToString("P1", System.Globalization.CultureInfo.InvariantCulture),
                h.P50Ms.ToString("0", System.Globalization.CultureInfo.InvariantCulture),
                h.P95Ms.ToString("0", System.Globalization.CultureInfo.InvariantCulture),
                h.P99Ms.ToString("0", System.Globalization.CultureInfo.InvariantCulture),
                h.Tokens.ToString("N0", System.Globalization.CultureInfo.InvariantCulture),
                h.CostUsd is null ? "[grey]unpriced[/]" : Safe(PromptHealth.FormatCost(h.CostUsd, h.UnpricedCalls)),
                h.QualityMean?.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) ?? "-",
                activeAlerts.TryGetValue(key, out var n) && n > 0 ? $"[red]{n}[/]" : "0",
                $"{Math.Max(0, (now - h.LastWindowEnd).TotalMinutes):0}m ago"]);
        }
        return table;
    }
}
