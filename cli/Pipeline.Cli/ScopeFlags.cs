using System.CommandLine;
using Pipeline.Reports;

namespace Pipeline.Cli;

/// <summary>
/// <c>--environment</c> and <c>--service</c> of <c>top</c>, <c>report</c> and <c>export</c>: only one team's series,
/// matched exactly as the events name them (the API parameters <c>environment</c> and <c>service</c>).
/// </summary>
internal static class ScopeFlags
{
    public static readonly Option<string?> Environment = new("--environment") { Description = "Only this environment, as the events name it (such as prod)" };
    public static readonly Option<string?> Service = new("--service") { Description = "Only this service, as the events name it" };

    /// <summary>Adds both flags to <paramref name="command"/>.</summary>
    public static Command AddTo(Command command)
    {
        command.Options.Add(Environment);
        command.Options.Add(Service);
        return command;
    }

    /// <summary>The scope the flags give; all when neither is set.</summary>
    public static SeriesScope Read(ParseResult parse) => new(parse.GetValue(Environment), parse.GetValue(Service));
}
