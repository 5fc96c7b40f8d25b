using System.ComponentModel;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Pipeline.Schemas;

/// <summary>
/// The one duration syntax of settings, CLI flags and alert rule files: a whole number with a unit
/// (<c>250ms</c>, <c>30s</c>, <c>5m</c>, <c>48h</c>, <c>7d</c>), <c>0</c>, or a TimeSpan <c>hh:mm[:ss[.fffffff]]</c> /
/// <c>d.hh:mm:ss[.fffffff]</c>, optionally negative (range checks refuse negatives where they make no sense).
/// </summary>
/// <remarks>
/// An <c>hh:mm:ss</c> whose hours exceed 23 is refused: <see cref="TimeSpan.Parse(string)"/> reads <c>48:00:00</c>
/// as 48 days, which is never what was meant. A bare number other than 0 is refused too (TimeSpan reads
/// <c>5</c> as five days).
/// </remarks>
public static partial class Durations
{
    private static int _converterRegistered;

    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="error"/> says why and what to write instead.</summary>
    public static bool TryParse(string? text, out TimeSpan value, [NotNullWhen(false)] out string? error)
    {
        value = TimeSpan.Zero;
        var s = text?.Trim() ?? "";
        if (s == "0" || s == "-0")
        {
            error = null;
            return true;
        }
        if (UnitPattern().Match(s) is { Success: true } unit)
        {
            var unitTicks = unit.Groups["unit"].Value switch
            {
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                "h" => TimeSpan.TicksPerHour,
                _ => TimeSpan.TicksPerDay,
            };
            if (!long.TryParse(unit.Groups["n"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > TimeSpan.MaxValue.Ticks / unitTicks)
            {
                error = $"'{s}' is longer than any duration can be";
                return false;
            }
            value = new TimeSpan(unit.Groups["neg"].Success ? -n * unitTicks : n * unitTicks);
            error = null;
            return true;
        }
        if (ClockPattern().Match(s) is { Success: true } clock)
        {
            var hours = int.Parse(clock.Groups["h"].Value, CultureInfo.InvariantCulture);
            if (hours > 23)
            {
                error = clock.Groups["d"].Success
                    ? $"'{s}': hours must be 0..23 in d.hh:mm:ss"
                    : $"'{s}' is ambiguous (TimeSpan would read it as {hours} days); write {Suggest(clock, hours)}";
                return false;
            }
            if (TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out value))
            {
                error = null;
                return true;
            }
        }
        error = $"'{s}' is not a duration; use 250ms, 30s, 5m, 48h, 7d, hh:mm:ss or d.hh:mm:ss";
        return false;
    }

    /// <summary>Parses <paramref name="text"/> or throws a <see cref="FormatException"/> saying why.</summary>
    public static TimeSpan Parse(string? text) =>
        TryParse(text, out var value, out var error) ? value : throw new FormatException(error);

    /// <summary>
    /// Shortest exact form in the unit syntax (<c>1s</c>, <c>90m</c>, <c>30d</c>, <c>250ms</c>); TimeSpan's
    /// <c>c</c> form when no unit divides it (sub-millisecond values).
    /// </summary>
    public static string Format(TimeSpan value)
    {
        if (value == TimeSpan.Zero) return "0";
        if (value == TimeSpan.MinValue) return value.ToString("c", CultureInfo.InvariantCulture);
        if (value < TimeSpan.Zero) return "-" + Format(-value);
        foreach (var (ticks, unit) in Units)
        {
            if (value.Ticks % ticks == 0) return (value.Ticks / ticks).ToString(CultureInfo.InvariantCulture) + unit;
        }
        return value.ToString("c", CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Makes configuration binding (which converts through <see cref="TypeDescriptor"/>) read every
    /// <see cref="TimeSpan"/> with this syntax. Process-wide, so only applications call it, never the SDK.
    /// </summary>
    public static void RegisterConverter()
    {
        if (Interlocked.Exchange(ref _converterRegistered, 1) == 0)
        {
            TypeDescriptor.AddAttributes(typeof(TimeSpan), new TypeConverterAttribute(typeof(DurationConverter)));
        }
    }

    private static readonly (long Ticks, string Unit)[] Units =
    [
        (TimeSpan.TicksPerDay, "d"), (TimeSpan.TicksPerHour, "h"), (TimeSpan.TicksPerMinute, "m"),
        (TimeSpan.TicksPerSecond, "s"), (TimeSpan.TicksPerMillisecond, "ms"),
    ];

    private static string Suggest(Match clock, int hours)
    {
        var minutes = clock.Groups["m"].Value;
        var seconds = clock.Groups["s"].Success ? clock.Groups["s"].Value : "00";
        var sign = clock.Groups["neg"].Success ? "-" : "";
        var rest = clock.Groups["f"].Success ? "." + clock.Groups["f"].Value : "";
        var asDays = FormattableString.Invariant($"{sign}{hours / 24}.{hours % 24:00}:{minutes}:{seconds}{rest}");
        // Whole hours read best as hours (48h), as the writer thought of them.
        var exact = minutes == "00" && seconds == "00" && rest.Length == 0 ? FormattableString.Invariant($"{sign}{hours}h")
            : TimeSpan.TryParse(asDays, CultureInfo.InvariantCulture, out var span) && Format(span) is var f && !f.Contains(':', StringComparison.Ordinal) ? f
            : null;
        return exact is null ? asDays : $"{exact} or {asDays}";
    }

    [GeneratedRegex("^(?<neg>-)?(?<n>[0-9]{1,19})(?<unit>ms|s|m|h|d)$")]
    private static partial Regex UnitPattern();

    [GeneratedRegex(@"^(?<neg>-)?(?:(?<d>[0-9]{1,8})\.)?(?<h>[0-9]{1,6}):(?<m>[0-9]{2})(?::(?<s>[0-9]{2})(?:\.(?<f>[0-9]{1,7}))?)?$")]
    private static partial Regex ClockPattern();
}

/// <summary>Converts strings to <see cref="TimeSpan"/> with <see cref="Durations"/> (registered by <see cref="Durations.RegisterConverter"/>).</summary>
public sealed class DurationConverter : TimeSpanConverter
{
    /// <inheritdoc />
    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string s ? Durations.Parse(s) : base.ConvertFrom(context, culture, value);
}
