using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Pipeline.Schemas;

namespace Pipeline.Cli;

/// <summary>
/// What the configuration may contain, derived from the options types the CLI binds (nested objects and lists
/// included), plus <c>Kafka</c> (flat librdkafka keys, passed through) and <c>Logging</c> (read by the dashboard's
/// web host). Checked before binding, so a misspelt key is refused instead of silently ignored, and listed by
/// <c>pipeline config show</c>. Keys compare ignoring case, as configuration does, so
/// <c>PIPELINE__AGGREGATOR__GROUPID</c> is as good as <c>Aggregator:GroupId</c>.
/// </summary>
internal static class ConfigurationSchema
{
    public const string KafkaSection = "Kafka";
    public const string LoggingSection = "Logging";

    /// <summary>
    /// Every unknown key and every value that does not convert to its setting's type, as <c>Section:Key: reason</c>;
    /// an unknown key comes with the closest known name.
    /// </summary>
    public static List<string> Check(IConfiguration root, IReadOnlyList<(string Name, Type Type)> sections)
    {
        var problems = new List<string>();
        var known = sections.Select(s => s.Name).Append(KafkaSection).Append(LoggingSection).Order(StringComparer.Ordinal).ToList();
        foreach (var section in root.GetChildren())
        {
            var bound = sections.FirstOrDefault(s => Same(s.Name, section.Key));
            if (bound.Type is not null) CheckValue(section, bound.Type, problems);
            else if (Same(section.Key, KafkaSection)) CheckKafka(section, problems);
            else if (!Same(section.Key, LoggingSection)) problems.Add(Unknown(section, "", known));
        }
        return problems;
    }

    /// <summary>Every setting of <paramref name="options"/> as <c>Section:Key</c> and printable value, secrets masked.</summary>
    public static IEnumerable<KeyValuePair<string, string>> Describe(object options, string path)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var property in Settings(options.GetType()))
        {
            var key = path + ":" + property.Name;
            var value = property.GetValue(options);
            var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (value is not null && SettingsValidator.IsSection(type))
            {
                foreach (var line in Describe(value, key)) yield return line;
            }
            else if (value is IList list && ElementType(type) is { } element && SettingsValidator.IsSection(element))
            {
                if (list.Count == 0) yield return new(key, "(none)");
                for (var i = 0; i < list.Count; i++)
                {
                    if (list[i] is not { } item) continue;
                    foreach (var line in Describe(item, key + ":" + i.ToString(CultureInfo.InvariantCulture))) yield return line;
                }
            }
            else if (value is IList values && value is not string)
            {
                // A list of values (attribute names, services): one line each, as configuration keys name them.
                if (values.Count == 0) yield return new(key, "(none)");
                for (var i = 0; i < values.Count; i++) yield return new(key + ":" + i.ToString(CultureInfo.InvariantCulture), SettingsValidator.Display(values[i]));
            }
            else if (value is IDictionary map)
            {
                foreach (DictionaryEntry entry in map)
                {
                    var entryKey = Convert.ToString(entry.Key, CultureInfo.InvariantCulture) ?? "";
                    yield return new(key + ":" + entryKey, SecretMask.MaskValue(entryKey, SettingsValidator.Display(entry.Value)));
                }
            }
            else
            {
                yield return new(key, Printable(property, value));
            }
        }
    }

    // A property whose name is secret is masked whole; a [PasswordPropertyText] URL (a webhook, whose path is
    // its credential) keeps only scheme and host; any other value has URL user information masked.
    private static string Printable(PropertyInfo property, object? value)
    {
        if (property.GetCustomAttribute<PasswordPropertyTextAttribute>() is { Password: true })
        {
            return value switch
            {
                null => "",
                Uri { IsAbsoluteUri: true } url => url.GetLeftPart(UriPartial.Authority) + "/" + SecretMask.Masked,
                _ => SecretMask.Masked,
            };
        }
        return SecretMask.MaskValue(property.Name, SettingsValidator.Display(value));
    }

    private static void CheckValue(IConfigurationSection section, Type type, List<string> problems)
    {
        var nullable = Nullable.GetUnderlyingType(type) is not null;
        type = Nullable.GetUnderlyingType(type) ?? type;
        var children = section.GetChildren().ToList();
        if (SettingsValidator.IsSection(type))
        {
            if (section.Value is { Length: > 0 }) problems.Add($"{section.Path}: is a section ({string.Join(", ", Settings(type).Select(p => p.Name))}), not a value");
            var properties = Settings(type).ToList();
            foreach (var child in children)
            {
                var property = properties.FirstOrDefault(p => Same(p.Name, child.Key));
                if (property is null) problems.Add(Unknown(child, section.Path + ":", properties.Select(p => p.Name).ToList()));
                else CheckValue(child, property.PropertyType, problems);
            }
        }
        else if (type != typeof(string) && typeof(IDictionary).IsAssignableFrom(type) && type.IsGenericType)
        {
            foreach (var child in children) CheckValue(child, type.GetGenericArguments()[1], problems);
        }
        else if (type != typeof(string) && ElementType(type) is { } element)
        {
            if (section.Value is { Length: > 0 }) problems.Add($"{section.Path}: is a list (keys {section.Path}:0, :1, ...), not a value");
            foreach (var child in children)
            {
                if (!int.TryParse(child.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _)) problems.Add($"{child.Path}: a list entry needs an index 0, 1, ...");
                else CheckValue(child, element, problems);
            }
        }
        else if (children.Count > 0)
        {
            problems.Add($"{section.Path}: is a value, not a section (found {children[0].Path})");
        }
        // An empty value is null for a reference type (then [Required] speaks) but an error for a number or a duration.
        else if (section.Value is { } value && (value.Length > 0 || (type.IsValueType && !nullable))
            && ConversionError(value, type) is { } reason)
        {
            var shown = SecretMask.IsSecretKey(section.Key) ? "" : $"'{SecretMask.MaskText(value)}' ";
            problems.Add($"{section.Path}: {(type == typeof(TimeSpan) ? reason : $"{shown}is not {TypeName(type)}")}");
        }
    }

    private static void CheckKafka(IConfigurationSection section, List<string> problems)
    {
        if (section.Value is { Length: > 0 }) problems.Add($"{section.Path}: is a section of librdkafka settings (Kafka:bootstrap.servers, ...), not a value");
        foreach (var child in section.GetChildren())
        {
            if (child.GetChildren().FirstOrDefault() is { } nested)
            {
                problems.Add($"{nested.Path}: librdkafka settings are flat; write the key with dots, such as Kafka:ssl.key.location");
            }
        }
    }

    // Returns why the value does not convert, or null when it does.
    private static string? ConversionError(string value, Type type)
    {
        if (type == typeof(TimeSpan)) return Durations.TryParse(value, out _, out var error) ? null : error;
        if (type == typeof(string)) return null;
        try
        {
            TypeDescriptor.GetConverter(type).ConvertFromInvariantString(value);
            return null;
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or NotSupportedException or OverflowException
            || ex.InnerException is FormatException or OverflowException)
        {
            return ex.Message;
        }
    }

    private static string TypeName(Type type) => type switch
    {
        _ when type == typeof(int) || type == typeof(long) => "a whole number",
        _ when type == typeof(double) => "a number",
        _ when type == typeof(bool) => "true or false",
        _ when type.IsEnum => "one of " + string.Join(", ", Enum.GetNames(type)),
        _ => "a " + type.Name,
    };

    private static string Unknown(IConfigurationSection section, string prefix, IReadOnlyList<string> known)
    {
        var closest = known.Select(k => (Name: k, Distance: Pipeline.Consumers.SilenceCoverage.Distance(k, section.Key)))
            .OrderBy(k => k.Distance).ThenBy(k => k.Name, StringComparer.Ordinal).FirstOrDefault();
        var what = prefix.Length == 0 ? "unknown section" : "unknown setting";
        return closest.Name is not null && closest.Distance <= Math.Max(2, section.Key.Length / 3)
            ? $"{section.Path}: {what}; did you mean {prefix}{closest.Name}?"
            : $"{section.Path}: {what} (known: {string.Join(", ", known)})";
    }

    // What the binder sets: public instance properties with a public setter (nested objects are set or filled in).
    private static IEnumerable<PropertyInfo> Settings(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetIndexParameters().Length == 0 && p.GetMethod is { IsPublic: true } && p.SetMethod is { IsPublic: true });

    private static Type? ElementType(Type type) =>
        type.IsArray ? type.GetElementType()
        : type.IsGenericType && typeof(IEnumerable).IsAssignableFrom(type) && type.GetGenericArguments() is [var element] ? element
        : null;

    private static bool Same(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
}
