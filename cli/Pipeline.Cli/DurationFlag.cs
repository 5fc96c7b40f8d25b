using System.CommandLine;
using System.CommandLine.Parsing;
using Pipeline.Schemas;

namespace Pipeline.Cli;

/// <summary>Duration flags (<c>--duration 48h</c>) read with the one duration syntax of <see cref="Durations"/>.</summary>
internal static class DurationFlag
{
    /// <summary>A flag with a default value.</summary>
    public static Option<TimeSpan> Create(string name, string description, TimeSpan defaultValue) => new(name)
    {
        Description = $"{description} (30s, 5m, 2h, 1d, or hh:mm:ss; default {Durations.Format(defaultValue)})",
        DefaultValueFactory = _ => defaultValue,
        CustomParser = result => Parse(result) ?? defaultValue,
    };

    /// <summary>A flag that may be absent.</summary>
    public static Option<TimeSpan?> CreateOptional(string name, string description) => new(name)
    {
        Description = $"{description} (30s, 5m, 2h, 1d, or hh:mm:ss)",
        CustomParser = Parse,
    };

    private static TimeSpan? Parse(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (Durations.TryParse(text, out var value, out var error) && value >= TimeSpan.Zero) return value;
        error ??= $"{Durations.Format(value)} is negative";
        var name = (result.Parent as OptionResult)?.Option.Name ?? "duration";
        result.AddError($"{name}: {error}");
        return null;
    }
}
