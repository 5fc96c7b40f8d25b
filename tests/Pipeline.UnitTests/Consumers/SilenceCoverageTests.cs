using Pipeline.Consumers;
using Pipeline.Schemas;

namespace Pipeline.UnitTests.Consumers;

public sealed class SilenceCoverageTests
{
    private static readonly SeriesKey[] Known =
    [
        new("prod", "api", "support_answer", "1.0", "gpt-4o"),
        new("prod", "api", "support_answer", "2.0", "gpt-4o"),
        new("prod", "api", "summarize", "3.1", "gpt-4o-mini"),
    ];

    private static readonly string[] Rules = ["error_rate", "latency_p95_regression", "traffic_stopped"];

    private static SilenceMatcher Matcher(string text) =>
        SilenceMatcher.TryParse(text, out var m, out var error) ? m! : throw new InvalidOperationException(error);

    [Theory]
    [InlineData("prompt=support_answer,version=2.0")]
    [InlineData("prompt=summarize,version=3.1,model=gpt-4o-mini,rule=error_rate")]
    public void Warning_MatchesAKnownSeriesAndRule_None(string matcher) => Assert.Null(SilenceCoverage.Warning(Matcher(matcher), Known, Rules, "7d"));

    [Fact]
    public void Warning_TypoInPrompt_NamesTheMatcherAndTheClosestSeries()
    {
        var warning = SilenceCoverage.Warning(Matcher("prompt=suport_answer,version=2.0"), Known, Rules, "7d");
        Assert.NotNull(warning);
        Assert.StartsWith("warning: --match prompt=suport_answer,version=2.0 matches nothing: no series seen over the last 7d", warning, StringComparison.Ordinal);
        Assert.Contains("closest series: prompt=support_answer,version=2.0 (prod/api/support_answer@2.0/gpt-4o)", warning, StringComparison.Ordinal);
        Assert.Contains("prompt 'suport_answer' is not known; closest: support_answer", warning, StringComparison.Ordinal);
        Assert.DoesNotContain("version '2.0' is not known", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void Warning_VersionNeverDeployedForThatPrompt_NamesTheKnownVersions()
    {
        // Each value is known somewhere, but not together: the closest series says which versions exist.
        var warning = SilenceCoverage.Warning(Matcher("prompt=summarize,version=2.0"), Known, Rules, "7d")!;
        Assert.Contains("closest series: prompt=summarize,version=3.1", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void Warning_UnknownRule_NamesTheClosestRules()
    {
        var warning = SilenceCoverage.Warning(Matcher("prompt=support_answer,version=2.0,rule=latency_p95_regresion"), Known, Rules, "7d")!;
        Assert.Contains("rule 'latency_p95_regresion' is not a rule in force; closest: latency_p95_regression", warning, StringComparison.Ordinal);
        Assert.DoesNotContain("no series", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void Warning_NothingKnown_SaysSo_RulesUnreadable_RuleNotChecked()
    {
        Assert.Contains("no series at all in metrics_1m over the last 7d", SilenceCoverage.Warning(Matcher("prompt=a,version=1"), [], Rules, "7d"), StringComparison.Ordinal);
        Assert.Null(SilenceCoverage.Warning(Matcher("prompt=support_answer,version=2.0,rule=anything"), Known, [], "7d"));
    }

    [Theory]
    [InlineData("kitten", "sitting", 3)]
    [InlineData("Answer", "answer", 0)]
    [InlineData("", "abc", 3)]
    public void Distance_Levenshtein(string a, string b, int expected) => Assert.Equal(expected, SilenceCoverage.Distance(a, b));
}
