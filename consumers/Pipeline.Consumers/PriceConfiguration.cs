using Pipeline.Aggregation;
using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>
/// The price table the aggregator uses: the built-in table (<see cref="PriceTable.Default"/>) with the entries of
/// <see cref="AggregatorOptions.PricesFile"/> and then of <see cref="AggregatorOptions.Prices"/> applied. Two
/// configured entries for the same provider, model and effective date are refused (which one was meant?).
/// </summary>
public static class PriceConfiguration
{
    /// <summary>
    /// The effective table; every problem is added to <paramref name="problems"/> as <c>Section:Key: reason</c>
    /// (<c>Aggregator:Prices:1: ...</c>, <c>Aggregator:PricesFile: prices.yaml:7: prices[0] 'model' is required</c>),
    /// and while there is one the built-in table is returned. A relative file path is read from the working directory.
    /// An entry's own problems are the ones <see cref="SettingsValidator"/> reports for the options, word for word.
    /// </summary>
    public static PriceTable Build(AggregatorOptions options, ICollection<string> problems, string section = "Aggregator")
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(problems);
        var before = problems.Count;
        var entries = new List<(PriceOptions Price, string Source, string Key)>();
        if (!string.IsNullOrWhiteSpace(options.PricesFile))
        {
            var fileProblems = new List<string>();
            foreach (var (price, source) in PriceFile.Load(Path.GetFullPath(options.PricesFile), fileProblems))
            {
                entries.Add((price, source, $"{section}:{nameof(AggregatorOptions.PricesFile)}: {source}"));
            }
            foreach (var p in fileProblems) problems.Add($"{section}:{nameof(AggregatorOptions.PricesFile)}: {p}");
        }
        for (var i = 0; i < options.Prices.Count; i++)
        {
            var key = $"{section}:{nameof(AggregatorOptions.Prices)}:{i}";
            var price = options.Prices[i];
            // The same messages SettingsValidator gives when it walks the options (Aggregator:Prices:N:Key).
            var own = SettingsValidator.Validate(price, key);
            if (own.Count > 0)
            {
                foreach (var p in own) problems.Add(p);
                continue;
            }
            entries.Add((price, key, key));
        }
        var seen = new Dictionary<(string, string, DateTimeOffset), string>();
        foreach (var (price, source, key) in entries)
        {
            if (price.Identity is not { } identity) continue;
            if (seen.TryGetValue(identity, out var first)) problems.Add($"{key}: same provider, model and effective date as {first}; keep one");
            else seen[identity] = source;
        }
        return problems.Count > before
            ? PriceTable.Default
            : PriceTable.Default.With(entries.Select(e => e.Price.ToEntry(e.Source)).ToList());
    }

    /// <summary>The effective table, or an <see cref="ArgumentException"/> listing every problem (for code that builds a worker without the CLI's checks).</summary>
    public static PriceTable Build(AggregatorOptions options)
    {
        var problems = new List<string>();
        var table = Build(options, problems);
        return problems.Count == 0 ? table : throw new ArgumentException(string.Join("; ", problems), nameof(options));
    }
}
