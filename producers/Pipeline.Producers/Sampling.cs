using System.ComponentModel.DataAnnotations;
using Pipeline.Schemas;

namespace Pipeline.Producers;

/// <summary>
/// Head sampling for high-volume services, section <c>Pipeline:Producer:Sampling</c>. A successful call that is
/// not slow is kept with its prompt's rate and carries <c>sample_rate</c>, so the pipeline weights it by
/// 1/rate and counts and sums stay unbiased; errors and calls slower than <see cref="AlwaysKeepSlowerThan"/> are
/// always kept, with weight 1. Rates are rounded so that 1/rate is a whole number (0.3 is used as 1/3): the
/// aggregator's weights are whole numbers, and a rounded rate keeps the estimate exact in expectation.
/// A call whose caller already set a sample rate below 1 is left as it is.
/// </summary>
public sealed class SamplingOptions : IValidatableObject
{
    /// <summary>Rate for prompts not in <see cref="Prompts"/>, 1e-6 to 1. Default 1 (keep everything).</summary>
    [Range(FieldBounds.MinSampleRate, 1.0)]
    public double DefaultRate { get; set; } = 1.0;

    /// <summary>Rate per prompt name, 1e-6 to 1 (<c>Sampling:Prompts:support_answer=0.1</c>).</summary>
    public Dictionary<string, double> Prompts { get; set; } = [];

    /// <summary>Calls at least this slow are always kept (the tail is what latency percentiles are about); 0 keeps none by latency. Default 0, up to 1 hour.</summary>
    [DurationRange("0", "1h")]
    public TimeSpan AlwaysKeepSlowerThan { get; set; } = TimeSpan.Zero;

    /// <summary>Seed of the sampling decisions, for tests that reproduce a run (not bound from configuration).</summary>
    internal int? Seed { get; init; }

    /// <summary>True when every rate is 1 (nothing is sampled).</summary>
    public bool IsOff => DefaultRate >= 1 && Prompts.Values.All(r => r >= 1);

    /// <summary>The rate actually used for <paramref name="configured"/>: 1/round(1/rate).</summary>
    public static double Effective(double configured) => configured >= 1 ? 1.0 : 1.0 / Math.Round(1.0 / configured);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (prompt, rate) in Prompts)
        {
            if (!(rate is >= FieldBounds.MinSampleRate and <= 1))
            {
                yield return new ValidationResult($"{rate} is outside {FieldBounds.MinSampleRate}..1", [$"Prompts:{prompt}"]);
            }
        }
    }
}

/// <summary>Decides, per call, whether it is kept and with which sample rate (see <see cref="SamplingOptions"/>). Thread-safe.</summary>
internal sealed class Sampler(SamplingOptions options, Random? random = null)
{
    private readonly Random _random = random ?? Random.Shared;
    private readonly double _default = SamplingOptions.Effective(options.DefaultRate);
    private readonly Dictionary<string, double> _prompts = options.Prompts.ToDictionary(p => p.Key, p => SamplingOptions.Effective(p.Value), StringComparer.Ordinal);
    private readonly double _slowMs = options.AlwaysKeepSlowerThan.TotalMilliseconds;
    private readonly Lock _gate = new();

    /// <summary>The call to send (with its sample rate), or null when it is left out.</summary>
    public LlmCall? Apply(LlmCall call)
    {
        if (call.SampleRate < 1 || call.Outcome != Outcome.Success || _slowMs > 0 && call.LatencyMs >= _slowMs) return call;
        var rate = _prompts.TryGetValue(call.PromptName, out var r) ? r : _default;
        if (rate >= 1) return call;
        double draw;
        if (ReferenceEquals(_random, Random.Shared)) draw = Random.Shared.NextDouble();
        else lock (_gate) draw = _random.NextDouble();
        return draw < rate ? call with { SampleRate = rate } : null;
    }
}
