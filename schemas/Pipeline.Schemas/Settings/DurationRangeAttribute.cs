using System.ComponentModel.DataAnnotations;

namespace Pipeline.Schemas;

/// <summary>
/// A <see cref="TimeSpan"/> setting must lie within <c>[min, max]</c>, both written in the <see cref="Durations"/>
/// syntax (<c>[DurationRange("1ms", "1h")]</c>). Every duration option has an upper bound too, so a value
/// misread by orders of magnitude (days for hours) is refused rather than obeyed.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class DurationRangeAttribute : ValidationAttribute
{
    /// <summary>Creates the range check; both bounds are inclusive.</summary>
    public DurationRangeAttribute(string min, string max)
    {
        Min = Durations.Parse(min);
        Max = Durations.Parse(max);
    }

    /// <summary>Smallest allowed value.</summary>
    public TimeSpan Min { get; }

    /// <summary>Largest allowed value.</summary>
    public TimeSpan Max { get; }

    /// <inheritdoc />
    public override bool IsValid(object? value) => value is not TimeSpan t || (t >= Min && t <= Max);

    /// <inheritdoc />
    public override string FormatErrorMessage(string name) => $"must be between {Durations.Format(Min)} and {Durations.Format(Max)}";
}
