using Pipeline.LoadGen;

namespace Pipeline.UnitTests.LoadGen;

/// <summary>The load generator's incident knobs: latency factors and drift, cost and quality, stops, late and duplicate arrivals.</summary>
public sealed class ScenarioBehaviourTests
{
    private static readonly DateTimeOffset End = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private static readonly TrafficProfile Stream = new() { PromptName = "p", PromptVersion = "1", CallsPerMinute = 60 };

    private static Scenario Flat(TrafficProfile profile, int minutes = 60) => new("t", "", minutes, [new Phase(0, minutes, [profile], "x")]);

    [Fact]
    public void Generate_DefaultKnobs_SameEventsAsAPlainProfile()
    {
        // The new knobs at their defaults leave every event as it was (scenario files written before them replay identically).
        var plain = Flat(Stream).Generate(End, seed: 3).ToList();
        var explicitDefaults = Flat(Stream with { LatencyMultiplier = 1, CostMultiplier = 1, QualityMultiplier = 1 }).Generate(End, seed: 3).ToList();
        Assert.Equal(plain.Select(c => (c.EventId, c.OccurredAt, c.LatencyMs, c.InputTokens, c.QualityScore)),
            explicitDefaults.Select(c => (c.EventId, c.OccurredAt, c.LatencyMs, c.InputTokens, c.QualityScore)));
        Assert.Equal(plain.Select(c => c.OccurredAt).Order(), plain.Select(c => c.OccurredAt));
    }

    [Fact]
    public void LatencyMultiplier_ScalesEveryCallOfTheSameSeed()
    {
        var plain = Flat(Stream).Generate(End, seed: 5).ToList();
        var slow = Flat(Stream with { LatencyMultiplier = 2 }).Generate(End, seed: 5).ToList();
        Assert.Equal(plain.Count, slow.Count);
        Assert.All(plain.Zip(slow), pair => Assert.InRange(pair.Second.LatencyMs / pair.First.LatencyMs, 1.99, 2.01));
    }

    [Fact]
    public void LatencyDrift_RisesLinearlyOverItsSpan()
    {
        var drift = new LatencyDrift(1.5, 60, 180);
        Assert.Equal(1, drift.FactorAt(0));
        Assert.Equal(1.25, drift.FactorAt(120), 6);
        Assert.Equal(1.5, drift.FactorAt(500));
        var plain = Flat(Stream, 240).Generate(End, seed: 2).ToList();
        var drifting = Flat(Stream with { LatencyDrift = drift }, 240).Generate(End, seed: 2).ToList();
        var start = End.AddMinutes(-240);
        var ratios = plain.Zip(drifting).Select(p => (Minute: (p.First.OccurredAt - start).TotalMinutes, Ratio: p.Second.LatencyMs / p.First.LatencyMs)).ToList();
        Assert.All(ratios, r => Assert.InRange(r.Ratio, drift.FactorAt(r.Minute) - 0.01, drift.FactorAt(r.Minute) + 0.01));
        Assert.Contains(ratios, r => r.Ratio > 1.49);
    }

    [Fact]
    public void CostMultiplier_ScalesTokens_QualityMultiplierScalesTheMean()
    {
        var plain = Flat(Stream).Generate(End, seed: 4).ToList();
        var changed = Flat(Stream with { CostMultiplier = 1.5, QualityMultiplier = 0.75 }).Generate(End, seed: 4).ToList();
        Assert.InRange((double)changed.Sum(c => c.InputTokens + c.OutputTokens) / plain.Sum(c => c.InputTokens + c.OutputTokens), 1.49, 1.51);
        var q = changed.Where(c => c.QualityScore is not null).Average(c => c.QualityScore!.Value);
        Assert.InRange(q, 0.93 * 0.75 - 0.01, 0.93 * 0.75 + 0.01);
    }

    [Fact]
    public void LateAndDuplicate_SameDistinctEvents_LateOnesFollowALaterMinute()
    {
        var scenario = Flat(Stream, 120);
        var plain = scenario.Generate(End, seed: 8).ToList();
        var faulty = (scenario with { LateFraction = 0.01, DuplicateFraction = 0.005, LateMinutes = 5 }).Generate(End, seed: 8).ToList();
        Assert.Equal(plain.Select(c => c.EventId).Order(), faulty.Select(c => c.EventId).Distinct().Order());
        var duplicates = faulty.Count - plain.Count;
        Assert.InRange(duplicates, plain.Count * 0.002, plain.Count * 0.009);
        // A call is late when it is sent after a call at least 2 minutes younger (its window closed under 60 s lateness).
        var newest = DateTimeOffset.MinValue;
        var late = 0;
        var seen = new HashSet<Guid>();
        foreach (var c in faulty)
        {
            if (!seen.Add(c.EventId)) continue;
            if (newest - c.OccurredAt >= TimeSpan.FromMinutes(1)) late++;
            if (c.OccurredAt > newest) newest = c.OccurredAt;
            Assert.True(newest - c.OccurredAt < TimeSpan.FromMinutes(6), $"{c.OccurredAt} sent after {newest}");
        }
        Assert.InRange(late, plain.Count * 0.006, plain.Count * 0.014);
    }

    [Fact]
    public void FromStreams_CutsPhasesAtEveryChange_AndAppliesOnlyToItsStream()
    {
        var other = Stream with { PromptName = "q" };
        var scenario = Scenario.FromStreams("s", "", 100, [Stream, other],
        [
            new StreamChange(0, 10, 20, p => p with { CallsPerMinute = 0 }, "stop"),
            new StreamChange(1, 15, 40, p => p with { LatencyMultiplier = 2 }, "slow"),
        ]);
        Assert.Equal([(0, 10), (10, 15), (15, 20), (20, 40), (40, 100)], scenario.Phases.Select(p => (p.From, p.To)));
        Assert.Equal("stop; slow", scenario.Phases[2].Description);
        Assert.Equal(0, scenario.Phases[1].Profiles[0].CallsPerMinute);
        Assert.Equal(1, scenario.Phases[1].Profiles[1].LatencyMultiplier);
        Assert.Equal(2, scenario.Phases[3].Profiles[1].LatencyMultiplier);
        Assert.Equal(60, scenario.Phases[3].Profiles[0].CallsPerMinute);
        var start = End.AddMinutes(-100);
        Assert.DoesNotContain(scenario.Generate(End), c => c.PromptName == "p" && c.OccurredAt >= start.AddMinutes(10) && c.OccurredAt < start.AddMinutes(20));
        Assert.Throws<ArgumentException>(() => Scenario.FromStreams("s", "", 10, [Stream], [new StreamChange(1, 0, 5, p => p, "x")]));
    }

    [Fact]
    public void ScenarioFile_NewKnobs_ParseAndDriftSpansTheIncident()
    {
        var scenario = ScenarioFile.Parse("""
            name: knobs
            minutes: 120
            late_fraction: 0.01
            duplicate_fraction: 0.005
            late_minutes: 4
            streams:
              - id: a
                prompt_name: p
                prompt_version: "1"
                cost_multiplier: 1.5
            incidents:
              - stream: a
                from: 30
                to: 90
                set: { latency_drift_to: 1.6, quality_multiplier: 0.95 }
              - stream: a
                from: 100
                to: 110
                set: { stopped: true }
            """, "knobs.yaml");
        Assert.Equal((0.01, 0.005, 4), (scenario.LateFraction, scenario.DuplicateFraction, scenario.LateMinutes));
        var drifting = scenario.Phases.Single(p => p.From == 30).Profiles[0];
        Assert.Equal(new LatencyDrift(1.6, 30, 90), drifting.LatencyDrift);
        Assert.Equal((1.5, 0.95), (drifting.CostMultiplier, drifting.QualityMultiplier));
        Assert.Null(scenario.Phases.Single(p => p.From == 90).Profiles[0].LatencyDrift);
        Assert.Equal(0, scenario.Phases.Single(p => p.From == 100).Profiles[0].CallsPerMinute);
        var ex = Assert.Throws<ScenarioFileException>(() => ScenarioFile.Parse("name: x\nminutes: 10\nlate_fraction: 2\nstreams:\n  - id: a\n    prompt_name: p\n    prompt_version: '1'\n", "x.yaml"));
        Assert.Contains("late_fraction", ex.Message, StringComparison.Ordinal);
    }
}
