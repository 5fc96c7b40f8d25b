using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.UnitTests.Schemas;

public sealed class LlmCallValidatorTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 10, 20, 0, TimeSpan.Zero);

    private static string? Validate(LlmCall call) => LlmCallValidator.Validate(call, Now, TimeSpan.FromDays(30), TimeSpan.FromHours(1));

    [Fact]
    public void Validate_GoodEvents_ReturnNull()
    {
        Assert.Null(Validate(Samples.FullCall()));
        Assert.Null(Validate(Samples.MinimalCall()));
    }

    public static TheoryData<string, Func<LlmCall, LlmCall>> BadEvents => new()
    {
        { "latency_ms", c => c with { LatencyMs = double.NaN } },
        { "latency_ms", c => c with { LatencyMs = double.PositiveInfinity } },
        { "latency_ms", c => c with { LatencyMs = -1 } },
        { "cost_usd", c => c with { CostUsd = -0.5 } },
        { "input_tokens", c => c with { InputTokens = -3 } },
        { "quality_score", c => c with { QualityScore = 1.5 } },
        { "sample_rate", c => c with { SampleRate = 0 } },
        { "prompt_name", c => c with { PromptName = "" } },
        { "service", c => c with { Service = new string('x', 300) } },
        { "environment", c => c with { Environment = "prod\u001b[31m" } },
        { "occurred_at", c => c with { OccurredAt = Now.AddDays(2) } },
        { "occurred_at", c => c with { OccurredAt = Now.AddYears(-3) } },
        { "event_id", c => c with { EventId = Guid.Empty } },
        { "tags", c => c with { Tags = Enumerable.Range(0, 5000).ToDictionary(i => $"k{i}", i => "v") } },
        { "custom", c => c with { Custom = new Dictionary<string, double> { ["x"] = double.NaN } } },
        { "stages", c => c with { Stages = [new Stage("retrieval", -5)] } },
    };

    [Theory]
    [MemberData(nameof(BadEvents))]
    public void Validate_BadField_NamesTheField(string field, Func<LlmCall, LlmCall> breakIt)
    {
        var reason = Validate(breakIt(Samples.FullCall()));
        Assert.NotNull(reason);
        Assert.StartsWith(field, reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_UnicodeNames_AreAccepted()
    {
        Assert.Null(Validate(Samples.FullCall() with { PromptName = "résumé_生成'; DROP TABLE calls; --" }));
    }
}
