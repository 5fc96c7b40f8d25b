using Pipeline.Producers;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.UnitTests.Producers;

public sealed class SamplingTests
{
    [Theory]
    [InlineData(1.0, 1.0)]
    [InlineData(0.5, 0.5)]
    [InlineData(0.3, 1.0 / 3)]
    [InlineData(0.07, 1.0 / 14)]
    public void Rates_AreRoundedToWholeWeights(double configured, double effective) =>
        Assert.Equal(effective, SamplingOptions.Effective(configured), 12);

    [Fact]
    public void ErrorsSlowCallsAndPresetRates_AreAlwaysKeptUnchanged()
    {
        var sampler = new Sampler(new SamplingOptions { DefaultRate = 1e-6, AlwaysKeepSlowerThan = TimeSpan.FromSeconds(2) }, new Random(1));
        var error = Samples.MinimalCall() with { Outcome = Outcome.Error, ErrorType = ErrorType.ServerError };
        var slow = Samples.MinimalCall() with { LatencyMs = 2000 };
        var preset = Samples.MinimalCall() with { SampleRate = 0.5 };
        for (var i = 0; i < 1000; i++)
        {
            Assert.Same(error, sampler.Apply(error));
            Assert.Same(slow, sampler.Apply(slow));
            Assert.Same(preset, sampler.Apply(preset));
        }
    }

    [Fact]
    public void KeptCalls_CarryTheirRate_AndAboutThatShareIsKept()
    {
        var sampler = new Sampler(new SamplingOptions { Prompts = { ["embed"] = 0.25 } }, new Random(3));
        var kept = Enumerable.Range(0, 20_000).Select(_ => sampler.Apply(Samples.MinimalCall())).Where(c => c is not null).ToList();
        Assert.All(kept, c => Assert.Equal(0.25, c!.SampleRate));
        Assert.InRange(kept.Count, 4_700, 5_300); // 5,000 expected, sigma about 61
    }

    [Fact]
    public void BadRate_FailsValidationNamingThePrompt()
    {
        var options = new ProducerOptions { BootstrapServers = "k:9092", Sampling = new SamplingOptions { Prompts = { ["support_answer"] = 0 } } };
        var problem = options.Validate();
        Assert.NotNull(problem);
        Assert.Contains("Sampling:Prompts:support_answer", problem, StringComparison.Ordinal);
    }
}
