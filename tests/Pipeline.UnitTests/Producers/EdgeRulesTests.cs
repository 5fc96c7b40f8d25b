using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Pipeline.Producers;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.UnitTests.Producers;

public sealed class EdgeRulesTests
{
    private static readonly ProducerOptions Options = new() { BootstrapServers = "x:9092", DefaultEnvironment = "staging", DefaultService = "checkout" };

    [Fact]
    public void ValidCall_PassesUnchanged()
    {
        var call = Samples.FullCall();
        var result = EdgeRules.Apply(call, Options);
        Assert.Equal(0, result.Clamped);
        Assert.Same(call.Tags, result.Call!.Tags);
        Assert.Equal(call, result.Call);
    }

    [Theory]
    [InlineData("prompt_name")]
    [InlineData("latency_nan")]
    [InlineData("latency_negative")]
    [InlineData("tokens_negative")]
    public void InvalidCall_IsRejectedNamingTheField(string what)
    {
        var call = Samples.FullCall();
        var (bad, field) = what switch
        {
            "prompt_name" => (call with { PromptName = " " }, "prompt_name"),
            "latency_nan" => (call with { LatencyMs = double.NaN }, "latency_ms"),
            "latency_negative" => (call with { LatencyMs = -1 }, "latency_ms"),
            _ => (call with { OutputTokens = -5 }, "output_tokens"),
        };
        var result = EdgeRules.Apply(bad, Options);
        Assert.Null(result.Call);
        Assert.StartsWith(field, result.RejectReason, StringComparison.Ordinal);
    }

    [Fact]
    public void OutOfRangeFields_AreClampedByTheDocumentedRules()
    {
        var call = Samples.FullCall() with
        {
            Environment = "",
            Service = "",
            EventId = Guid.Empty,
            PromptName = new string('p', 300) + "\u001b[31m",
            CostUsd = double.PositiveInfinity,
            TimeToFirstTokenMs = -3,
            QualityScore = 1.7,
            SampleRate = 0,
            ErrorMessage = new string('e', 5000),
            Tags = Enumerable.Range(0, 100).ToDictionary(i => $"k{i:D3}", i => "v\n" + i),
            Custom = new Dictionary<string, double> { ["ok"] = 1, ["bad"] = double.NaN },
            Stages = [new Stage("retrieval", 10), new Stage("broken", double.NaN)],
        };
        var result = EdgeRules.Apply(call, Options);
        var c = result.Call!;
        Assert.Equal("staging", c.Environment);
        Assert.Equal("checkout", c.Service);
        Assert.NotEqual(Guid.Empty, c.EventId);
        Assert.Equal(LlmCallValidator.MaxNameLength, c.PromptName.Length);
        Assert.Null(c.CostUsd);
        Assert.Null(c.TimeToFirstTokenMs);
        Assert.Equal(1.0, c.QualityScore);
        Assert.Equal(1.0, c.SampleRate);
        Assert.Equal(LlmCallValidator.MaxErrorMessageLength, c.ErrorMessage!.Length);
        Assert.Equal(LlmCallValidator.MaxMapEntries, c.Tags.Count);
        Assert.Equal("v\uFFFD0", c.Tags["k000"]);
        Assert.Equal(["ok"], c.Custom.Keys);
        Assert.Equal(["retrieval"], c.Stages.Select(s => s.Name));
        Assert.True(result.Clamped >= 8);
        Assert.Equal(3, result.Filled); // environment, service and event id took defaults: not a clamp
        Assert.Null(LlmCallValidator.Validate(c, c.OccurredAt, TimeSpan.FromDays(1), TimeSpan.FromDays(1)));
    }

    [Property(MaxTest = 300)]
    public bool AnyCall_IsEitherRejectedOrAcceptedByTheConsumersValidator(string? prompt, string? env, double latency, long tokens, double? quality, double? cost, string? tagKey, string? tagValue)
    {
        var call = Samples.FullCall() with
        {
            PromptName = prompt ?? "",
            Environment = env ?? "",
            LatencyMs = latency,
            InputTokens = tokens,
            QualityScore = quality,
            CostUsd = cost,
            Tags = tagKey is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [tagKey] = tagValue! },
        };
        var result = EdgeRules.Apply(call, Options);
        if (result.Call is null) return result.RejectReason is { Length: > 0 };
        return LlmCallValidator.Validate(result.Call, result.Call.OccurredAt, TimeSpan.FromDays(1), TimeSpan.FromDays(1)) is null;
    }
}
