using Pipeline.Schemas;

namespace Pipeline.Aggregation;

/// <summary>USD per million tokens for one provider and model.</summary>
/// <param name="InputPerMillion">Price of uncached input tokens.</param>
/// <param name="OutputPerMillion">Price of output tokens.</param>
/// <param name="CachedInputPerMillion">Price of cached input tokens; null charges them as input.</param>
public sealed record ModelPrice(double InputPerMillion, double OutputPerMillion, double? CachedInputPerMillion = null);

/// <summary>
/// Versioned prices used when an event carries no <c>cost_usd</c>. The version is written with every
/// rollup, so a cost can always be traced to the prices that made it.
/// </summary>
public sealed class PriceTable
{
    private readonly Dictionary<(string Provider, string Model), ModelPrice> _prices;

    /// <summary>Creates a table; keys are matched case-insensitively.</summary>
    public PriceTable(string version, IEnumerable<KeyValuePair<(string Provider, string Model), ModelPrice>> prices)
    {
        Version = version;
        _prices = new(prices.Select(kv => new KeyValuePair<(string, string), ModelPrice>(
            (kv.Key.Provider.ToUpperInvariant(), kv.Key.Model.ToUpperInvariant()), kv.Value)));
    }

    /// <summary>The table's version, for example <c>2026-11-01</c>.</summary>
    public string Version { get; }

    /// <summary>
    /// Built-in list prices (USD per 1M tokens) as of version 2026-11-01; deployments override them
    /// through configuration.
    /// </summary>
    public static PriceTable Default { get; } = new("2026-11-01",
    [
        new(("openai", "gpt-4o"), new ModelPrice(2.50, 10.00, 1.25)),
        new(("openai", "gpt-4o-mini"), new ModelPrice(0.15, 0.60, 0.075)),
        new(("openai", "gpt-4.1"), new ModelPrice(2.00, 8.00, 0.50)),
        new(("openai", "gpt-4.1-mini"), new ModelPrice(0.40, 1.60, 0.10)),
        new(("openai", "text-embedding-3-small"), new ModelPrice(0.02, 0)),
        new(("anthropic", "claude-sonnet-4"), new ModelPrice(3.00, 15.00, 0.30)),
        new(("anthropic", "claude-haiku-3.5"), new ModelPrice(0.80, 4.00, 0.08)),
        new(("gcp.gemini", "gemini-2.0-flash"), new ModelPrice(0.10, 0.40, 0.025)),
    ]);

    /// <summary>The event's cost: its own <c>cost_usd</c>, else priced from the table, else null (unpriced).</summary>
    public double? CostOf(LlmCall call)
    {
        ArgumentNullException.ThrowIfNull(call);
        if (call.CostUsd is { } reported) return reported;
        if (!_prices.TryGetValue((call.Provider.ToUpperInvariant(), call.RequestModel.ToUpperInvariant()), out var price)) return null;
        var cached = Math.Min(call.CachedInputTokens ?? 0, call.InputTokens);
        var uncached = call.InputTokens - cached;
        return (uncached * price.InputPerMillion
                + cached * (price.CachedInputPerMillion ?? price.InputPerMillion)
                + call.OutputTokens * price.OutputPerMillion) / 1_000_000;
    }
}
