using System.CommandLine;
using Pipeline.Cli;

namespace Pipeline.UnitTests.Cli;

public sealed class DurationFlagTests
{
    private static (ParseResult Parse, Option<TimeSpan?> Option) Parse(params string[] args)
    {
        var option = DurationFlag.CreateOptional("--duration", "test");
        var command = new RootCommand { option };
        return (command.Parse(args), option);
    }

    [Theory]
    [InlineData("48h", 48 * 60)]
    [InlineData("30m", 30)]
    [InlineData("2.00:00:00", 48 * 60)]
    [InlineData("00:30:00", 30)]
    public void Parse_Durations_GiveTheSpan(string text, int minutes)
    {
        var (parse, option) = Parse("--duration", text);
        Assert.Empty(parse.Errors);
        Assert.Equal(TimeSpan.FromMinutes(minutes), parse.GetValue(option));
    }

    [Theory]
    [InlineData("48:00:00", "48h")]
    [InlineData("soon", "not a duration")]
    [InlineData("-5m", "negative")]
    public void Parse_BadDuration_ErrorNamesTheFlag(string text, string reason)
    {
        var error = Assert.Single(Parse("--duration", text).Parse.Errors);
        Assert.StartsWith("--duration:", error.Message, StringComparison.Ordinal);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_Absent_GivesTheDefault()
    {
        var option = DurationFlag.Create("--timeout", "test", TimeSpan.FromSeconds(60));
        Assert.Equal(TimeSpan.FromSeconds(60), new RootCommand { option }.Parse([]).GetValue(option));
    }
}
