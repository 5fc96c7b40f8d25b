using System.Globalization;
using Pipeline.Schemas;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Pipeline.Consumers;

/// <summary>
/// Reads a price file (<see cref="AggregatorOptions.PricesFile"/>): YAML, or JSON (which YAML reads too), a
/// mapping with one key, <c>prices</c>, a list of entries with the fields of <see cref="PriceOptions"/>:
/// <code>
/// prices:
///   - provider: openai
///     model: gpt-4o
///     input_per_million: 2.50
///     cached_input_per_million: 1.25
///     output_per_million: 10.00
///     effective_from: 2026-12-01
/// </code>
/// Field names compare ignoring case and underscores (<c>input_per_million</c>, <c>InputPerMillion</c>). Every problem
/// is reported, each as <c>file:line: prices[i] 'field': reason</c>, with the same rules as <c>Aggregator:Prices</c>.
/// </summary>
public static class PriceFile
{
    private static readonly string[] Fields =
        [nameof(PriceOptions.Provider), nameof(PriceOptions.Model), nameof(PriceOptions.InputPerMillion), nameof(PriceOptions.OutputPerMillion),
         nameof(PriceOptions.CachedInputPerMillion), nameof(PriceOptions.EffectiveFrom)];

    /// <summary>Reads the file at <paramref name="path"/>; a missing or unreadable file is a problem, not an exception.</summary>
    public static IReadOnlyList<(PriceOptions Price, string Source)> Load(string path, ICollection<string> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            problems.Add(ex is FileNotFoundException or DirectoryNotFoundException ? $"{path}: file does not exist" : $"{path}: cannot be read: {ex.Message}");
            return [];
        }
        return Parse(text, path, problems);
    }

    /// <summary>
    /// The entries of a price file, each with its source (<c>file:line</c>); entries with a problem are left out and
    /// the problem added to <paramref name="problems"/>.
    /// </summary>
    public static IReadOnlyList<(PriceOptions Price, string Source)> Parse(string text, string source, ICollection<string> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        var yaml = new YamlStream();
        try
        {
            yaml.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            problems.Add($"{source}:{ex.Start.Line}: not valid YAML or JSON: {ex.Message}");
            return [];
        }
        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is not YamlMappingNode root)
        {
            problems.Add($"{source}:1: expected a mapping with a 'prices' list");
            return [];
        }
        YamlSequenceNode? list = null;
        foreach (var (k, v) in root.Children)
        {
            var key = (k as YamlScalarNode)?.Value ?? "";
            if (key != "prices") problems.Add($"{source}:{k.Start.Line}: '{key}' is an unknown key (known: prices)");
            else if (v is YamlSequenceNode sequence) list = sequence;
            else problems.Add($"{source}:{v.Start.Line}: 'prices' must be a list of entries");
        }
        if (list is null)
        {
            if (!root.Children.ContainsKey(new YamlScalarNode("prices"))) problems.Add($"{source}:{root.Start.Line}: expected a 'prices' list");
            return [];
        }
        var entries = new List<(PriceOptions, string)>();
        var index = 0;
        foreach (var node in list)
        {
            var name = $"prices[{index++}]";
            if (node is not YamlMappingNode map)
            {
                problems.Add($"{source}:{node.Start.Line}: {name} must be a mapping (provider, model, input_per_million, ...)");
                continue;
            }
            if (ParseEntry(map, source, name, problems) is { } price) entries.Add((price, $"{source}:{map.Start.Line}"));
        }
        return entries;
    }

    private static PriceOptions? ParseEntry(YamlMappingNode map, string source, string name, ICollection<string> problems)
    {
        var price = new PriceOptions();
        // Where each field was written, for the messages: the key as written and its line.
        var written = new Dictionary<string, (string Key, long Line)>(StringComparer.Ordinal);
        var failed = new HashSet<string>(StringComparer.Ordinal);
        void Fail(long line, string key, string reason)
        {
            problems.Add($"{source}:{line}: {name} '{key}' {reason}");
            failed.Add(key);
        }
        foreach (var (k, v) in map.Children)
        {
            var key = (k as YamlScalarNode)?.Value ?? "";
            var field = Fields.FirstOrDefault(f => Same(f, key));
            if (field is null)
            {
                Fail(k.Start.Line, key, $"is an unknown field (known: {string.Join(", ", Fields.Select(Snake))})");
                continue;
            }
            written[field] = (key, v.Start.Line);
            if (v is not YamlScalarNode { Value: var raw })
            {
                Fail(v.Start.Line, key, "must be a single value");
                continue;
            }
            // YAML's null: the field is absent.
            var value = raw is null or "" or "~" or "null" ? null : raw;
            switch (field)
            {
                case nameof(PriceOptions.Provider): price.Provider = value ?? ""; break;
                case nameof(PriceOptions.Model): price.Model = value ?? ""; break;
                case nameof(PriceOptions.EffectiveFrom): price.EffectiveFrom = value; break;
                default:
                    double? number = null;
                    if (value is not null)
                    {
                        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) number = d;
                        else Fail(v.Start.Line, key, $"must be a number (got '{value}')");
                    }
                    if (field == nameof(PriceOptions.InputPerMillion)) price.InputPerMillion = number;
                    else if (field == nameof(PriceOptions.OutputPerMillion)) price.OutputPerMillion = number;
                    else price.CachedInputPerMillion = number;
                    break;
            }
        }
        // The same rules as Aggregator:Prices:N, named the way the file names the field.
        foreach (var problem in SettingsValidator.Validate(price, ""))
        {
            var colon = problem.IndexOf(": ", StringComparison.Ordinal);
            var member = colon > 0 ? problem[..colon] : "";
            var reason = colon > 0 ? problem[(colon + 2)..] : problem;
            var (key, line) = written.TryGetValue(member, out var w) ? w : (Snake(member), map.Start.Line);
            // A value already refused (not a number) is not also "required".
            if (!failed.Contains(key)) Fail(line, key, reason);
        }
        return failed.Count == 0 ? price : null;
    }

    private static bool Same(string field, string key) =>
        string.Equals(field, key.Replace("_", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);

    /// <summary><c>InputPerMillion</c> as the file writes it: <c>input_per_million</c>.</summary>
    internal static string Snake(string field) =>
        string.Concat(field.Select((c, i) => char.IsUpper(c) ? (i > 0 ? "_" : "") + char.ToLowerInvariant(c) : c.ToString()));
}
