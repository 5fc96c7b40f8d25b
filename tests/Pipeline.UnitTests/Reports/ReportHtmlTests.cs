using Pipeline.Reports;

namespace Pipeline.UnitTests.Reports;

/// <summary>The report's chart rules (issue 17): markup rendered, not printed; gaps left as gaps; legends beside the data.</summary>
public sealed class ReportHtmlTests
{
    [Fact]
    public void Html_BoldCodeListsAndTables_RenderedNotPrinted()
    {
        var md = string.Join('\n',
            "# Daily report",
            "## Version A/B",
            "- **support\\_answer**: 2.0 vs 1.0: p95 is slower by 19-95 ms",
            "- alert `latency_p95` fired",
            "| prompt | calls |",
            "|---|---|",
            "| a\\|b | 12 |",
            "| <script>alert(1)</script> | \\*\\*3\\*\\* |",
            "![p95 latency](latency_p95.png)");
        var html = ReportBuilder.Html("t", md);
        Assert.Contains("<h1>Daily report</h1>", html, StringComparison.Ordinal);
        Assert.Contains("<ul><li><strong>support_answer</strong>: 2.0 vs 1.0", html, StringComparison.Ordinal);
        Assert.Contains("<li>alert <code>latency_p95</code> fired</li></ul>", html, StringComparison.Ordinal);
        Assert.Contains("<tr><th>prompt</th><th>calls</th></tr>", html, StringComparison.Ordinal);
        // An escaped pipe stays in its cell; escaped stars are stars, not bold; data is never markup.
        Assert.Contains("<tr><td>a|b</td><td>12</td></tr>", html, StringComparison.Ordinal);
        Assert.Contains("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td>**3**</td>", html, StringComparison.Ordinal);
        Assert.Contains("<img src=\"latency_p95.png\" alt=\"p95 latency\">", html, StringComparison.Ordinal);
        Assert.DoesNotContain("**support", html, StringComparison.Ordinal);
        Assert.DoesNotContain("`", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);
    }

    [Fact]
    public void WithGaps_MissingMinutes_BecomeOneNaNPoint_NoLineAcrossThem()
    {
        var (xs, ys) = ReportBuilder.WithGaps([0, 60, 120, 600, 660], [1, 2, 3, 4, 5], 60);
        Assert.Equal([1, 2, 3, double.NaN, 4, 5], ys);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(180).UtcDateTime.ToOADate(), xs[3]);
        Assert.True(xs.Zip(xs.Skip(1)).All(p => p.Second > p.First), "x increases");
        var (_, none) = ReportBuilder.WithGaps([0, 60, 120], [1, 2, 3], 60);
        Assert.DoesNotContain(double.NaN, none);
    }

    [Fact]
    public void Chart_LegendBesideTheDataArea_NotInsideIt()
    {
        var plot = ReportBuilder.Chart("p95 latency per minute", "ms", [("answer@1.0", [0L, 60, 600], [100.0, 120, 110]), ("answer@2.0", [0L, 60], [300.0, 310])]);
        Assert.False(plot.Legend.IsVisible); // the in-plot legend, drawn over the data
        Assert.Contains(plot.Axes.GetPanels(), p => p.GetType().Name == "LegendPanel");
        Assert.Equal(2, plot.GetPlottables().Count());
        Assert.NotEmpty(plot.GetImageBytes(400, 200, ScottPlot.ImageFormat.Png));
    }
}
