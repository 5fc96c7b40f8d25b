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
