using System.ComponentModel.DataAnnotations;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Pipeline.Aggregation;

namespace Pipeline.Consumers;

/// <summary>
/// One model price the aggregator uses for calls without <c>cost_usd</c>: an entry of
/// <c>Aggregator:Prices:N</c> or of the <c>prices</c> list of <see cref="AggregatorOptions.PricesFile"/>. It adds a
/// model to the built-in table (<see cref="PriceTable.Default"/>) or overrides one: an entry without
/// <see cref="EffectiveFrom"/> replaces the built-in price for every call; a dated one applies to calls that
/// occurred at or after its date, earlier calls keep the price before it.
/// </summary>
public sealed class PriceOptions : IValidatableObject
{
    /// <summary>Highest price per 1M tokens accepted, in USD; a larger one is a typo (per-token price entered per 1M the other way round).</summary>
    public const double MaxPerMillion = 10_000;

    /// <summary>Provider as events carry it (<c>gen_ai.provider.name</c>), such as <c>openai</c>; compared ignoring case. Required.</summary>
    [Required]
    public string Provider { get; set; } = "";
    /// <summary>Request model as events carry it (<c>request_model</c>), such as <c>gpt-4o</c>; compared ignoring case. Required.</summary>
    [Required]
    public string Model { get; set; } = "";
    /// <summary>USD per 1M uncached input tokens, 0 to 10,000. Required.</summary>
    [Required, Range(0.0, MaxPerMillion)]
    public double? InputPerMillion { get; set; }
    /// <summary>USD per 1M output tokens, 0 to 10,000. Required.</summary>
    [Required, Range(0.0, MaxPerMillion)]
    public double? OutputPerMillion { get; set; }
    /// <summary>USD per 1M cached input tokens, 0 to 10,000. Default: none, cached tokens are charged as input.</summary>
    [Range(0.0, MaxPerMillion)]
    public double? CachedInputPerMillion { get; set; }
    /// <summary>
    /// First moment the price applies (by each call's <c>occurred_at</c>): a date <c>yyyy-MM-dd</c> (00:00 UTC) or
    /// an ISO 8601 time <c>yyyy-MM-ddTHH:mm[:ss]</c> with <c>Z</c> or an offset (UTC without one). Default: none,
    /// the price applies to every call.
    /// </summary>
    public string? EffectiveFrom { get; set; }

    /// <summary>The entry for <see cref="PriceTable"/>; call only once <c>SettingsValidator.Validate</c> found nothing wrong.</summary>
    public PriceEntry ToEntry(string source) => new(Provider.Trim(), Model.Trim(),
        new ModelPrice(InputPerMillion ?? 0, OutputPerMillion ?? 0, CachedInputPerMillion),
        TryParseEffectiveFrom(EffectiveFrom, out var from, out _) ? from : null, source);

    /// <summary>The key that makes two entries the same price (provider, model, effective moment), or null while invalid.</summary>
    internal (string, string, DateTimeOffset)? Identity =>
        TryParseEffectiveFrom(EffectiveFrom, out var from, out _) && !string.IsNullOrWhiteSpace(Provider) && !string.IsNullOrWhiteSpace(Model)
            ? (Provider.Trim().ToUpperInvariant(), Model.Trim().ToUpperInvariant(), from ?? DateTimeOffset.MinValue)
            : null;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!TryParseEffectiveFrom(EffectiveFrom, out _, out var error))
        {
            yield return new ValidationResult(error, [nameof(EffectiveFrom)]);
        }
    }

    private static readonly string[] DateFormats = ["yyyy-MM-dd", "yyyy-MM-dd'T'HH:mmK", "yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK"];

    /// <summary>Reads an effective date; blank is none (null, always in force).</summary>
    public static bool TryParseEffectiveFrom(string? text, out DateTimeOffset? at, [NotNullWhen(false)] out string? error)
    {
        at = null;
        error = null;
        if (string.IsNullOrWhiteSpace(text)) return true;
        var s = text.Trim();
        if (DateTimeOffset.TryParseExact(s, DateFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
        {
            at = parsed;
            return true;
        }
        error = $"is not a date (got '{s}'); write yyyy-MM-dd (00:00 UTC) or yyyy-MM-ddTHH:mm:ssZ";
        return false;
    }
}
