using Pipeline.Reports;

namespace Pipeline.UnitTests.Reports;

public sealed class StatisticsTests
{
    [Fact]
    public void TwoProportion_KnownExample()
    {
        // 950/1000 against 900/1000: pooled 0.925, z = -0.05 / sqrt(0.925 * 0.075 * 0.002) = -4.24
        var (z, p) = Statistics.TwoProportion(950, 1000, 900, 1000);
        Assert.Equal(-4.24, z, 2);
        Assert.True(p < 0.0001);
        var (z0, p0) = Statistics.TwoProportion(950, 1000, 951, 1000);
        Assert.True(Math.Abs(z0) < 0.2 && p0 > 0.8);
    }

    [Theory]
    [InlineData(0, 0.5)]
    [InlineData(1.96, 0.975)]
    [InlineData(-1.96, 0.025)]
    public void NormalCdf_KnownValues(double x, double expected)
    {
        Assert.Equal(expected, Statistics.NormalCdf(x), 3);
    }

    [Fact]
    public void Bootstrap_ShiftedDistribution_IntervalExcludesZero_SameDistributionIncludesIt()
    {
        var random = new Random(1);
        var a = Enumerable.Range(0, 2000).Select(_ => 400 * Math.Exp(0.45 * (random.NextDouble() - 0.5) * 3.4)).ToList();
        var b = a.Select(x => x * 2).ToList();
        var (low, high, estimate) = Statistics.BootstrapQuantileDifference(a, b, 0.95);
        Assert.True(low > 0 && high >= estimate && estimate >= low);
        var c = Enumerable.Range(0, 2000).Select(_ => 400 * Math.Exp(0.45 * (random.NextDouble() - 0.5) * 3.4)).ToList();
        var (low2, high2, _) = Statistics.BootstrapQuantileDifference(a, c, 0.95);
        Assert.True(low2 < 0 && high2 > 0, $"[{low2}, {high2}] should contain 0");
    }
}

public sealed class HealthThresholdsTests
{
    [Theory]
    [InlineData(0.99, 300, 0.95, HealthStatus.Green)]
    [InlineData(0.97, 300, 0.95, HealthStatus.Yellow)]
    [InlineData(0.99, 600, 0.95, HealthStatus.Yellow)]
    [InlineData(0.99, 300, 0.85, HealthStatus.Yellow)]
    [InlineData(0.94, 300, 0.95, HealthStatus.Red)]
    [InlineData(0.99, 1200, 0.95, HealthStatus.Red)]
    [InlineData(0.99, 300, 0.7, HealthStatus.Red)]
    public void Classify_UsesTheProductThresholds(double success, double latency, double quality, HealthStatus expected)
    {
        Assert.Equal(expected, new HealthThresholds().Classify(success, latency, quality));
    }
}

public sealed class VersionComparisonTests
{
    private static PromptHealth Health(string version, long calls, double p95) => new()
    {
        Environment = "prod", Service = "svc", PromptName = "support_answer", PromptVersion = version, Model = "gpt-4o", Calls = calls, P95Ms = p95,
    };

    private static VersionSide Side(long calls, long successes, Func<int, double> latency, int samples = -1) =>
        new(calls, calls, successes, 0.001, Enumerable.Range(0, samples < 0 ? (int)Math.Min(calls, ReportBuilder.LatencySampleLimit) : samples).Select(latency).ToList());

    [Fact]
    public void Of_OneCallAgainstThousands_SaysNotEnoughData_NotAnInterval()
    {
        // The report once said "faster by 409-458 ms, 95% CI" from one call against 9,562.
        var control = Side(9562, 9500, i => 800 + i % 400);
        var candidate = Side(1, 1, _ => 350);
        var c = VersionComparison.Of(Health("2.0", 9562, 1190), Health("2.1", 1, 350), control, candidate, AbMinimums.Default);
        Assert.Equal("2.1 vs 2.0: not enough data (n=1 vs 9,562; need 30 per side)", c.Verdict);
        Assert.Null(c.P95DiffLowMs);
        Assert.Null(c.P95DiffHighMs);
        Assert.Null(c.SuccessZ);
        Assert.Null(c.SuccessP);
        Assert.Equal("prod", c.Environment);
    }

    [Fact]
    public void Of_EnoughOnBothSides_GivesTheIntervalAndTheVerdict()
    {
        var control = Side(2000, 1990, i => 400 + i % 50);
        var candidate = Side(2000, 1990, i => 900 + i % 50);
        var c = VersionComparison.Of(Health("1.0", 2000, 449), Health("2.0", 2000, 949), control, candidate, AbMinimums.Default);
        Assert.Matches(@"^2\.0 vs 1\.0: p95 is slower by \d+-\d+ ms \(95% CI\)$", c.Verdict);
        Assert.True(c.P95DiffLowMs > 400);
        Assert.NotNull(c.SuccessP);
    }

    [Fact]
    public void Of_ExactlyTheMinimum_IsTested_OneFewerIsNot()
    {
        var control = Side(5000, 4000, i => 400 + i % 50);
        var at = VersionComparison.Of(Health("1.0", 5000, 449), Health("2.0", 30, 949), control, Side(30, 24, i => 900 + i % 50), AbMinimums.Default);
        Assert.NotNull(at.P95DiffLowMs);
        Assert.NotNull(at.SuccessP);
        var below = VersionComparison.Of(Health("1.0", 5000, 449), Health("2.0", 29, 949), control, Side(29, 23, i => 900 + i % 50), AbMinimums.Default);
        Assert.Equal("2.0 vs 1.0: not enough data (n=29 vs 5,000; need 30 per side)", below.Verdict);
    }

    [Fact]
    public void Of_LatencyTestedButTooFewErrorsExpected_SaysWhySuccessWasNotCompared()
    {
        // 99.9% success: 0.2 errors expected among 200 calls, too few for the z-test's normal approximation.
        var control = Side(5000, 4995, i => 400 + i % 50);
        var candidate = Side(200, 200, i => 400 + i % 50);
        var c = VersionComparison.Of(Health("1.0", 5000, 449), Health("1.1", 200, 449), control, candidate, AbMinimums.Default);
        Assert.Null(c.SuccessP);
        Assert.NotNull(c.P95DiffLowMs);
        Assert.Equal("1.1: no significant difference from 1.0; success rate not compared: not enough data (0.2 errors expected on the smaller side at 99.90% success; need 5 per side)", c.Verdict);
    }

    [Fact]
    public void Of_CappedLatencySample_CountsTheCallsReceived()
    {
        var side = Side(9562, 9500, i => 800, samples: ReportBuilder.LatencySampleLimit);
        Assert.Equal(9562, side.LatencySamples);
        Assert.Equal(12, Side(12, 12, _ => 1).LatencySamples);
        // Raw calls dropped by retention while minute windows remain: only the calls still there count.
        Assert.Equal(3, new VersionSide(500, 500, 500, null, [1, 2, 3]).LatencySamples);
    }

    [Theory]
    [InlineData(29, 100, "n=29 vs 100; need 30 per side")]
    [InlineData(100, 29, "n=100 vs 29; need 30 per side")]
    [InlineData(30, 30, null)]
    public void LatencyShortfall_NeedsTheMinimumOnBothSides(long a, long b, string? expected)
    {
        Assert.Equal(expected, Statistics.LatencyShortfall(a, b, AbMinimums.Default));
    }

    [Fact]
    public void SuccessShortfall_NeedsCallsAndExpectedOutcomesOnBothSides()
    {
        Assert.Equal("n=10 vs 1,000; need 30 per side", Statistics.SuccessShortfall(9, 10, 10, 900, 1000, 1000, AbMinimums.Default));
        // Pooled 95%: 5 errors expected among 100 calls: enough. Among 60: 3, too few.
        Assert.Null(Statistics.SuccessShortfall(95, 100, 100, 950, 1000, 1000, AbMinimums.Default));
        Assert.StartsWith("3 errors expected", Statistics.SuccessShortfall(57, 60, 60, 950, 1000, 1000, AbMinimums.Default), StringComparison.Ordinal);
        // Mostly failing: successes are the rare outcome.
        Assert.StartsWith("1 successes expected", Statistics.SuccessShortfall(1, 100, 100, 10, 1000, 1000, AbMinimums.Default), StringComparison.Ordinal);
        Assert.Null(Statistics.SuccessShortfall(1, 10, 10, 900, 1000, 1000, new AbMinimums { CallsPerSide = 5, ExpectedOutcomesPerSide = 0 }));
    }
}

public sealed class CostDisplayTests
{
    [Theory]
    [InlineData(null, 0L, "unpriced")]
    [InlineData(null, 40L, "unpriced")]
    [InlineData(0.0, 0L, "0.0000")]
    [InlineData(0.01234, 0L, "0.0123")]
    [InlineData(0.01234, 1500L, "0.0123 (+1,500 unpriced)")]
    public void FormatCost_UnpricedIsNeverZero(double? cost, long unpriced, string expected)
    {
        Assert.Equal(expected, PromptHealth.FormatCost(cost, unpriced));
    }

    [Fact]
    public void CostPerCall_IsOverTheCallsThatHaveACost()
    {
        Assert.Equal(0.01, new PromptHealth { Environment = "", Service = "", PromptName = "", PromptVersion = "", Model = "", Calls = 300, UnpricedCalls = 100, CostUsd = 2 }.CostPerCallUsd);
        Assert.Null(new PromptHealth { Environment = "", Service = "", PromptName = "", PromptVersion = "", Model = "", Calls = 300, UnpricedCalls = 300 }.CostPerCallUsd);
    }

    [Fact]
    public void SeriesScope_QuotesEveryName_AndAllMatchesEverything()
    {
        Assert.Equal("1", SeriesScope.All.Sql());
        Assert.Equal("1", new SeriesScope("", null).Sql());
        Assert.Equal("environment = 'pr\\'od' AND service = 'svc'", new SeriesScope("pr'od", "svc").Sql());
        Assert.Equal("service = 'svc'", new SeriesScope(null, "svc").Sql());
        Assert.True(new SeriesScope("prod", null).Matches("prod", "any"));
        Assert.False(new SeriesScope("prod", null).Matches("staging", "any"));
        Assert.Equal("environment 'prod', service 'svc'", new SeriesScope("prod", "svc").ToString());
    }
}
