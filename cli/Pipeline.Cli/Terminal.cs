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

    /// <summary>The health table of `top` and `demo`.</summary>
    public static Table HealthTable(IReadOnlyList<PromptHealth> health, IReadOnlyDictionary<string, int> activeAlerts, DateTimeOffset now)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var c in new[] { "status", "prompt", "version", "model", "req/min", "success", "p50 ms", "p95 ms", "p99 ms", "tokens", "cost $", "quality", "alerts", "fresh" })
        {
            table.AddColumn(new TableColumn(c));
        }
        foreach (var h in health)
        {
            var key = $"{h.PromptName}@{h.PromptVersion}";
            table.AddRow(
                Colour(h.Status), Safe(h.PromptName), Safe(h.PromptVersion), Safe(h.Model),
                h.CallsPerMinute.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture),
                h.SuccessRate.ToString("P1", System.Globalization.CultureInfo.InvariantCulture),
                h.P50Ms.ToString("0", System.Globalization.CultureInfo.InvariantCulture),
                h.P95Ms.ToString("0", System.Globalization.CultureInfo.InvariantCulture),
                h.P99Ms.ToString("0", System.Globalization.CultureInfo.InvariantCulture),
                h.Tokens.ToString("N0", System.Globalization.CultureInfo.InvariantCulture),
                h.CostUsd.ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture),
                h.QualityMean?.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) ?? "-",
                activeAlerts.TryGetValue(key, out var n) && n > 0 ? $"[red]{n}[/]" : "0",
                $"{Math.Max(0, (now - h.LastWindowEnd).TotalMinutes):0}m ago");
        }
        return table;
    }
}
