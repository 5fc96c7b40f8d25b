using System.Collections;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;

namespace Pipeline.Schemas;

/// <summary>
/// Start-up checks of an options object and every object nested in it (properties, list elements):
/// DataAnnotations attributes of each property, then <see cref="IValidatableObject"/> of each object.
/// Every problem is reported, not the first, each as <c>Section:Key: reason</c>.
/// </summary>
public static class SettingsValidator
{
    /// <summary>Every problem of <paramref name="options"/>, named under <paramref name="section"/>; empty when valid.</summary>
    public static IReadOnlyList<string> Validate(object options, string section)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>();
        Walk(options, section, problems);
        return problems;
    }

    /// <summary>The value as it appears in settings and messages (durations in the short syntax, numbers invariant).</summary>
    public static string Display(object? value) => value switch
    {
        null => "",
        TimeSpan t => Durations.Format(t),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        Uri u => SecretMask.MaskUrl(u),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>True for types whose properties are settings of their own (nested sections), not values.</summary>
    public static bool IsSection(Type type)
    {
        ArgumentNullException.ThrowIfNull(type);
        return type.IsClass && type != typeof(string) && type != typeof(Uri) && !typeof(IEnumerable).IsAssignableFrom(type)
            && !typeof(Delegate).IsAssignableFrom(type);
    }

    private static void Walk(object options, string path, List<string> problems)
    {
        var context = new ValidationContext(options);
        foreach (var property in options.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0 || property.GetMethod is null) continue;
            var value = property.GetValue(options);
            var key = Join(path, property.Name);
            context.MemberName = property.Name;
            context.DisplayName = property.Name;
            foreach (var attribute in property.GetCustomAttributes<ValidationAttribute>())
            {
                if (attribute.GetValidationResult(value, context) is { } failed)
                {
                    problems.Add($"{key}: {Reason(attribute, failed)}{Got(property.Name, value)}");
                }
            }
            if (value is null) continue;
            if (IsSection(property.PropertyType))
            {
                Walk(value, key, problems);
            }
            else if (value is IList list && property.PropertyType.IsGenericType && IsSection(property.PropertyType.GetGenericArguments()[0]))
            {
                for (var i = 0; i < list.Count; i++)
                {
                    if (list[i] is { } item) Walk(item, Join(key, i.ToString(CultureInfo.InvariantCulture)), problems);
                }
            }
        }
        if (options is IValidatableObject validatable)
        {
            foreach (var result in validatable.Validate(new ValidationContext(options)))
            {
                var names = result.MemberNames.Any() ? string.Join(", ", result.MemberNames.Select(m => Join(path, m))) : path;
                problems.Add($"{names}: {result.ErrorMessage}");
            }
        }
    }

    private static string Reason(ValidationAttribute attribute, ValidationResult failed) => attribute switch
    {
        _ when attribute.ErrorMessage is not null => failed.ErrorMessage ?? "is not valid",
        RangeAttribute r => $"must be between {Display(r.Minimum)} and {Display(r.Maximum)}",
        RequiredAttribute => "is required",
        _ => failed.ErrorMessage ?? "is not valid",
    };

    // The offending value helps, except where it is a secret.
    private static string Got(string name, object? value) =>
        value is null || SecretMask.IsSecretKey(name) || (value is string s && string.IsNullOrWhiteSpace(s)) ? "" : $" (got {Display(value)})";

    private static string Join(string path, string key) => path.Length == 0 ? key : path + ":" + key;
}
