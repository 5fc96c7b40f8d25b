using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Pipeline.Schemas;

namespace Pipeline.Aggregation;

/// <summary>USD per million tokens for one provider and model.</summary>
/// <param name="InputPerMillion">Price of uncached input tokens.</param>
/// <param name="OutputPerMillion">Price of output tokens.</param>
/// <param name="CachedInputPerMillion">Price of cached input tokens; null charges them as input.</param>
public sealed record ModelPrice(double InputPerMillion, double OutputPerMillion, double? CachedInputPerMillion = null);

/// <summary>
/// The price of one provider's model for calls that occurred at or after <paramref name="EffectiveFrom"/>
/// (null: for every call, however old).
/// </summary>
/// <param name="Source">Where the entry came from, for <c>config show</c>: <c>built-in</c>, a configuration key, a file and line.</param>
public sealed record PriceEntry(string Provider, string Model, ModelPrice Price, DateTimeOffset? EffectiveFrom = null, string Source = "built-in");

/// <summary>
/// Versioned prices used when an event carries no <c>cost_usd</c>. A provider and model may have several
/// entries with different effective dates: a call is priced by the latest entry in force when it occurred
/// (its <c>occurred_at</c>), so a price change applies to calls from its date on, replays and late events
/// included. The version is written with every rollup, so a cost can always be traced to the prices that made it.
/// </summary>
public sealed class PriceTable
{
    // Per provider and model (upper-cased), entries by effective date, oldest first (MinValue: always in force).
    private readonly Dictionary<(string Provider, string Model), (DateTimeOffset From, PriceEntry Entry)[]> _prices;

    /// <summary>
    /// Creates a table from dated entries; provider and model are matched case-insensitively. A later entry with
    /// the same provider, model and effective date replaces an earlier one.
    /// </summary>
    public PriceTable(string version, IEnumerable<PriceEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        Version = version;
        var byKey = new Dictionary<(string, string, DateTimeOffset), PriceEntry>();
        foreach (var e in entries)
        {
            byKey[(e.Provider.ToUpperInvariant(), e.Model.ToUpperInvariant(), e.EffectiveFrom ?? DateTimeOffset.MinValue)] = e;
        }
        _prices = byKey.GroupBy(kv => (kv.Key.Item1, kv.Key.Item2))
            .ToDictionary(g => g.Key, g => g.Select(kv => (From: kv.Key.Item3, Entry: kv.Value)).OrderBy(x => x.From).ToArray());
        Entries = _prices.Values.SelectMany(v => v.Select(x => x.Entry))
            .OrderBy(e => e.Provider, StringComparer.OrdinalIgnoreCase).ThenBy(e => e.Model, StringComparer.OrdinalIgnoreCase)
            .ThenBy(e => e.EffectiveFrom ?? DateTimeOffset.MinValue).ToList();
    }

    /// <summary>
    /// The table's version, written to <c>metrics_1m.price_version</c>: <c>2026-11-01</c> for the built-in
    /// prices, <c>2026-11-01+config-1a2b3c4d</c> once configured entries (whose content the hash names) apply.
    /// </summary>
    public string Version { get; }

    /// <summary>Every entry in force at some time, by provider, model and effective date.</summary>
    public IReadOnlyList<PriceEntry> Entries { get; }

    /// <summary>
    /// Built-in list prices (USD per 1M tokens) as of version 2026-11-01; deployments add and override them
    /// through configuration (<c>Aggregator:Prices</c>, <c>Aggregator:PricesFile</c>).
    /// </summary>
    public static PriceTable Default { get; } = new("2026-11-01",
    [
        new("openai", "gpt-4o", new ModelPrice(2.50, 10.00, 1.25)),
        new("openai", "gpt-4o-mini", new ModelPrice(0.15, 0.60, 0.075)),
        new("openai", "gpt-4.1", new ModelPrice(2.00, 8.00, 0.50)),
        new("openai", "gpt-4.1-mini", new ModelPrice(0.40, 1.60, 0.10)),
        new("openai", "text-embedding-3-small", new ModelPrice(0.02, 0)),
        new("anthropic", "claude-sonnet-4", new ModelPrice(3.00, 15.00, 0.30)),
        new("anthropic", "claude-haiku-3.5", new ModelPrice(0.80, 4.00, 0.08)),
        new("gcp.gemini", "gemini-2.0-flash", new ModelPrice(0.10, 0.40, 0.025)),
    ]);

    /// <summary>
    /// This table with <paramref name="overrides"/> applied: an entry with the same provider, model and effective
    /// date as one of this table replaces it (an undated entry replaces the built-in price for every call), any
    /// other adds to it. With no overrides, this table itself.
    /// </summary>
    public PriceTable With(IReadOnlyCollection<PriceEntry> overrides)
    {
        ArgumentNullException.ThrowIfNull(overrides);
        if (overrides.Count == 0) return this;
        return new PriceTable($"{Version}+config-{Fingerprint(overrides)}", Entries.Concat(overrides));
    }

    /// <summary>The price in force for a call of <paramref name="provider"/>'s <paramref name="model"/> at <paramref name="at"/>, or null (unpriced).</summary>
    public PriceEntry? PriceAt(string provider, string model, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(model);
        if (!_prices.TryGetValue((provider.ToUpperInvariant(), model.ToUpperInvariant()), out var entries)) return null;
        PriceEntry? found = null;
        foreach (var (from, entry) in entries)
        {
            if (from > at) break;
            found = entry;
        }
        return found;
    }

    /// <summary>The event's cost: its own <c>cost_usd</c>, else priced from the entry in force when it occurred, else null (unpriced).</summary>
    public double? CostOf(LlmCall call)
    {
        ArgumentNullException.ThrowIfNull(call);
        if (call.CostUsd is { } reported) return reported;
        if (PriceAt(call.Provider, call.RequestModel, call.OccurredAt)?.Price is not { } price) return null;
        var cached = Math.Min(call.CachedInputTokens ?? 0, call.InputTokens);
        var uncached = call.InputTokens - cached;
        return (uncached * price.InputPerMillion
                + cached * (price.CachedInputPerMillion ?? price.InputPerMillion)
                + call.OutputTokens * price.OutputPerMillion) / 1_000_000;
    }

    /// <summary>One line per entry for <c>config show</c>: input, cached input and output USD per 1M tokens, from when, and where it came from.</summary>
    public static string Describe(PriceEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var p = entry.Price;
        var cached = p.CachedInputPerMillion is { } c ? Number(c) : "as input";
        var from = entry.EffectiveFrom is { } f ? "from " + FormatDate(f) : "always";
        return $"input {Number(p.InputPerMillion)}, cached input {cached}, output {Number(p.OutputPerMillion)} USD per 1M tokens; {from} ({entry.Source})";
    }

    /// <summary><c>yyyy-MM-dd</c> for a UTC midnight, else the ISO 8601 UTC time.</summary>
    public static string FormatDate(DateTimeOffset at)
    {
        var utc = at.ToUniversalTime();
        return utc.TimeOfDay == TimeSpan.Zero
            ? utc.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)
            : utc.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
    }

    private static string Number(double d) => d.ToString("0.######", CultureInfo.InvariantCulture);

    // Order-independent: the same entries, listed in any order, give the same version.
    private static string Fingerprint(IEnumerable<PriceEntry> entries)
    {
        var canonical = string.Join("\n", entries
            .Select(e => string.Join("|", e.Provider.ToUpperInvariant(), e.Model.ToUpperInvariant(),
                e.EffectiveFrom is { } f ? f.UtcTicks.ToString(CultureInfo.InvariantCulture) : "-",
                e.Price.InputPerMillion.ToString("R", CultureInfo.InvariantCulture), e.Price.OutputPerMillion.ToString("R", CultureInfo.InvariantCulture),
                e.Price.CachedInputPerMillion?.ToString("R", CultureInfo.InvariantCulture) ?? "-"))
            .Order(StringComparer.Ordinal));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))[..8];
    }
}
