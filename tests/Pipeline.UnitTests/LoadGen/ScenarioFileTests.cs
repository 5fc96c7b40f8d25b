using Pipeline.LoadGen;
using Pipeline.Schemas;

namespace Pipeline.UnitTests.LoadGen;

public sealed class ScenarioFileTests
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "scenarios");
    private static readonly DateTimeOffset End = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void EveryShippedScenarioFile_Loads()
    {
        var files = Directory.GetFiles(Folder, "*.yaml");
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var scenario = ScenarioFile.Load(file);
            Assert.False(string.IsNullOrWhiteSpace(scenario.Name));
            Assert.Equal(0, scenario.Phases[0].From);
            Assert.Equal(scenario.Minutes, scenario.Phases[^1].To);
        }
    }

    [Fact]
    public void Incidents_CutPhasesAndOverrideOnlyTheirStream()
    {
        var scenario = ScenarioFile.Load(Path.Combine(Folder, "busy-day.yaml"));
        Assert.True(scenario.Diurnal);
        Assert.Equal([0, 600, 660, 900, 930], scenario.Phases.Select(p => p.From));
        var release = scenario.Phases[1];
        Assert.Equal("4.3", release.Profiles.Single(p => p.PromptName == "support_answer").PromptVersion);
        Assert.Equal(1100, release.Profiles.Single(p => p.PromptName == "support_answer").MedianLatencyMs);
        Assert.Equal("1.7", release.Profiles.Single(p => p.PromptName == "rag_search").PromptVersion);
        var outage = scenario.Phases[3].Profiles.Single(p => p.PromptName == "rag_search");
        Assert.Equal(0.3, outage.ErrorRate);
        Assert.Equal(ErrorType.ProviderError, outage.ErrorType);
        Assert.Equal("4.2", scenario.Phases[3].Profiles.Single(p => p.PromptName == "support_answer").PromptVersion);
    }

    [Theory]
    [InlineData("name: x\nminutes: 10\nstreams:\n  - id: a\n    prompt_name: p\n    prompt_version: '1'\n    calls_per_minutes: 5\n", 7, "calls_per_minutes")]
    [InlineData("name: x\nminutes: 10\nstreams:\n  - id: a\n    prompt_name: p\n    prompt_version: '1'\n    error_rate: 2\n", 0, "error_rate")]
    [InlineData("name: x\nminutes: 10\nstreams:\n  - id: a\n    prompt_name: p\n    prompt_version: '1'\nincidents:\n  - stream: b\n    from: 1\n    to: 2\n", 0, "stream 'b'")]
    [InlineData("name: x\nminutes: 10\nstreams:\n  - id: a\n    prompt_name: p\n    prompt_version: '1'\nincidents:\n  - stream: a\n    from: 5\n    to: 50\n", 0, "from 5 to 50")]
    [InlineData("name: x\nminutes: 10\nstreams:\n  - id: a\n    prompt_version: '1'\n", 0, "prompt_name: required")]
    [InlineData("name: x\nminutes: 10\nstreams:\n  - id: a\n    prompt_name: p\n    prompt_version: '1'\n    error_type: meltdown\n", 0, "error_type: 'meltdown'")]
    public void BadFile_FailsNamingTheProblem(string text, long line, string expected)
    {
        var ex = Assert.Throws<ScenarioFileException>(() => ScenarioFile.Parse(text, "test.yaml"));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.StartsWith("test.yaml", ex.Message, StringComparison.Ordinal);
        if (line > 0) Assert.Equal(line, ex.Line);
    }

    [Fact]
    public void Generate_IsDeterministicPerSeed()
    {
        var scenario = Scenario.All["steady"].WithMinutes(5);
        var a = scenario.Generate(End, seed: 9).Select(c => (c.PromptName, c.LatencyMs, c.InputTokens)).ToList();
        var b = scenario.Generate(End, seed: 9).Select(c => (c.PromptName, c.LatencyMs, c.InputTokens)).ToList();
        var c = scenario.Generate(End, seed: 10).Select(c => (c.PromptName, c.LatencyMs, c.InputTokens)).ToList();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void WithMinutes_CutsOrExtendsTheTimeline()
    {
        var cut = Scenario.All["release-regression"].WithMinutes(65);
        Assert.Equal([(0, 60), (60, 65)], cut.Phases.Select(p => (p.From, p.To)));
        var longer = Scenario.All["steady"].WithMinutes(300);
        Assert.Equal(300, longer.Phases[^1].To);
        Assert.InRange(longer.Generate(End).Count(), 300 * 180 * 0.95, 300 * 180 * 1.05);
    }

    [Fact]
    public void Latencies_HaveAHeavyTail_AndStagesAddUp()
    {
        var calls = Scenario.All["steady"].WithMinutes(600).Generate(End, seed: 1).Where(c => c.PromptName == "support_answer").ToList();
        var sorted = calls.Select(c => c.LatencyMs).Order().ToList();
        var p50 = sorted[sorted.Count / 2];
        var p999 = sorted[(int)(sorted.Count * 0.999)];
        // A plain log-normal with sigma 0.45 has p99.9 ≈ 4 × median; the 1% tail at 3x pushes it well past that.
        Assert.True(p999 > 5 * p50, $"p99.9 {p999} is not heavy-tailed against p50 {p50}");
        Assert.All(calls, c => Assert.InRange(c.Stages.Sum(s => s.DurationMs) - c.LatencyMs, -0.02, 0.02));
    }

    [Fact]
    public void DayCurve_PeaksInTheAfternoonAndDipsAtNight()
    {
        Assert.Equal(1.5, Scenario.DayCurve(new DateTimeOffset(2026, 11, 23, 15, 0, 0, TimeSpan.Zero)), 3);
        Assert.Equal(0.5, Scenario.DayCurve(new DateTimeOffset(2026, 11, 23, 3, 0, 0, TimeSpan.Zero)), 3);
        var day = ScenarioFile.Parse("name: d\nminutes: 1440\ndiurnal: true\nstreams:\n  - id: a\n    prompt_name: p\n    prompt_version: '1'\n    calls_per_minute: 60\n", "d");
        var perHour = day.Generate(new DateTimeOffset(2026, 11, 24, 0, 0, 0, TimeSpan.Zero)).GroupBy(c => c.OccurredAt.Hour).ToDictionary(g => g.Key, g => g.Count());
        Assert.True(perHour[15] > 2.5 * perHour[3], $"15:00 has {perHour[15]} calls, 03:00 has {perHour[3]}");
    }
}
