using Pipeline.Cli;

namespace Pipeline.UnitTests.Cli;

public sealed class DlqCommandsTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("90s", 0, 1, 30)]
    [InlineData("30m", 0, 30, 0)]
    [InlineData("2h", 2, 0, 0)]
    [InlineData("1.5h", 1, 30, 0)]
    [InlineData("7d", 168, 0, 0)]
    public void ParseTime_SpanAgo_CountsBackFromNow(string text, int hours, int minutes, int seconds) =>
        Assert.Equal(Now - new TimeSpan(hours, minutes, seconds), DlqCommands.ParseTime(text, Now, "--since"));

    [Theory]
    [InlineData("2026-11-23T09:00Z", 9)]
    [InlineData("2026-11-23T09:00:00", 9)]
    [InlineData("2026-11-23T10:00:00+01:00", 9)]
    public void ParseTime_Iso8601_UtcUnlessItSaysOtherwise(string text, int hourUtc) =>
        Assert.Equal(new DateTimeOffset(2026, 11, 23, hourUtc, 0, 0, TimeSpan.Zero), DlqCommands.ParseTime(text, Now, "--from"));

    [Theory]
    [InlineData("yesterday")]
    [InlineData("2w")]
    [InlineData("h")]
    public void ParseTime_Neither_ErrorNamesTheOption(string text)
    {
        var ex = Assert.ThrowsAny<Exception>(() => DlqCommands.ParseTime(text, Now, "--from"));
        Assert.Contains("--from", ex.Message, StringComparison.Ordinal);
    }
}
