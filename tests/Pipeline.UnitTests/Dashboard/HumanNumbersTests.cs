using Pipeline.Dashboard;

namespace Pipeline.UnitTests.Dashboard;

public sealed class HumanNumbersTests
{
    [Theory]
    [InlineData(1.234, "1.2x")]
    [InlineData(9.96, "10.0x")]
    [InlineData(12.4, "12x")]
    [InlineData(120, "120x")]
    [InlineData(999.4, "999x")]
    [InlineData(1000, "more than 1,000x")]
    [InlineData(6_800_000, "more than 1,000x")]
    [InlineData(double.PositiveInfinity, "more than 1,000x")]
    public void Times_HugeRatios_CappedNeverPercent(double ratio, string expected) => Assert.Equal(expected, HumanNumbers.Times(ratio));

    [Theory]
    [InlineData(0, "$0")]
    [InlineData(0.0001, "$0.0001")]
    [InlineData(0.004237, "$0.0042")]
    [InlineData(12.5, "$12.50")]
    [InlineData(680.456, "$680.46")]
    [InlineData(12345.6, "$12,346")]
    public void Usd_ForPeople(double usd, string expected) => Assert.Equal(expected, HumanNumbers.Usd(usd));
}
