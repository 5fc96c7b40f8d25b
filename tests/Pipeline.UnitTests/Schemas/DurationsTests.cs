using System.ComponentModel;
using Pipeline.Schemas;

namespace Pipeline.UnitTests.Schemas;

public sealed class DurationsTests
{
    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("30s", 30_000)]
    [InlineData("5m", 300_000)]
    [InlineData("48h", 172_800_000)]
    [InlineData("7d", 604_800_000)]
    [InlineData("0", 0)]
    [InlineData("-1s", -1000)]
    [InlineData("23:00:00", 82_800_000)]
    [InlineData("2.00:00:00", 172_800_000)]
    [InlineData("00:00:00.2", 200)]
    [InlineData("00:30", 1_800_000)]
    [InlineData("-1.00:00:00", -86_400_000)]
    [InlineData(" 5m ", 300_000)]
    public void TryParse_AcceptedForms_GiveTheDuration(string text, long milliseconds)
    {
        Assert.True(Durations.TryParse(text, out var value, out var error), error);
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Fact]
    public void TryParse_HoursOver23_RefusedSuggestingUnitAndDayForms()
    {
        Assert.False(Durations.TryParse("48:00:00", out _, out var error));
        Assert.Contains("ambiguous", error, StringComparison.Ordinal);
        Assert.Contains("48h", error, StringComparison.Ordinal);
        Assert.Contains("2.00:00:00", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("soon")]
    [InlineData("5")]
    [InlineData("5 minutes")]
    [InlineData("1.5h")]
    [InlineData("")]
    [InlineData("24:00:00")]
    [InlineData("1.24:00:00")]
    [InlineData("00:61:00")]
    [InlineData("99999999999999999d")]
    public void TryParse_Malformed_Refused(string text)
    {
        Assert.False(Durations.TryParse(text, out _, out var error));
        Assert.Contains(text.Trim(), error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, "0")]
    [InlineData(1000, "1s")]
    [InlineData(90_000, "90s")]
    [InlineData(5_400_000, "90m")]
    [InlineData(2_592_000_000, "30d")]
    [InlineData(250, "250ms")]
    [InlineData(-60_000, "-1m")]
    public void Format_ExactUnits_RoundTrips(long milliseconds, string text)
    {
        var value = TimeSpan.FromMilliseconds(milliseconds);
        Assert.Equal(text, Durations.Format(value));
        Assert.Equal(value, Durations.Parse(text));
    }

    [Fact]
    public void RegisterConverter_TypeDescriptorReadsTheSyntax()
    {
        Durations.RegisterConverter();
        var converter = TypeDescriptor.GetConverter(typeof(TimeSpan));
        Assert.Equal(TimeSpan.FromHours(48), converter.ConvertFromInvariantString("48h"));
        Assert.Throws<FormatException>(() => converter.ConvertFromInvariantString("48:00:00"));
    }
}
