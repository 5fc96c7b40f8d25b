using Pipeline.Aggregation;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.UnitTests.Aggregation;

public sealed class WindowStateTests
{
    private static readonly WindowKey Key = new(SeriesKey.Of(Samples.FullCall()), new DateTimeOffset(2026, 11, 23, 10, 15, 0, TimeSpan.Zero));

    [Fact]
    public void Add_CountsSumsErrorsStagesAndCustom()
    {
        var s = new WindowState(Key, TimeSpan.FromMinutes(1), 3);
        var full = Samples.FullCall() with { SampleRate = 1 };
        s.Add(full, 0, PriceTable.Default);
        s.Add(full with { EventId = Guid.NewGuid(), Outcome = Outcome.Success, ErrorType = null, CostUsd = null, QualityScore = null, CachedInputTokens = null }, 1, PriceTable.Default);
        Assert.Equal(2, s.Calls);
        Assert.Equal(1, s.Successes);
        Assert.Equal(1, s.Errors);
        Assert.Equal(1, s.ErrorsByType[(int)ErrorType.RateLimited]);
        Assert.Equal(3000, s.InputTokens);
        Assert.Equal(640, s.OutputTokens);
        // Second call priced: gpt-4o at 2.50 in / 10.00 out per 1M.
        Assert.Equal(0.0123 + (1500 * 2.50 + 320 * 10.00) / 1e6, s.CostUsd, 12);
        Assert.Equal(1, s.PricedCalls);
        Assert.Equal(0.75, s.QualityMean);
        Assert.Equal("generation", s.BottleneckStage);
        Assert.Equal(2020, s.StageDurations["generation"]);
        Assert.Equal((2.0, 2L), s.Custom["user_feedback"]);
    }

    [Fact]
    public void Add_SumsBeyondTheBound_SaturateAndFlag_NeverWrap()
    {
        var s = new WindowState(Key, TimeSpan.FromMinutes(1), 0);
        var heavy = Samples.FullCall() with { SampleRate = FieldBounds.MinSampleRate, InputTokens = FieldBounds.MaxTokens, OutputTokens = 1 };
        var needed = FieldBounds.MaxWindowSum / (FieldBounds.MaxTokens * FieldBounds.MaxWeight) + 2;
        for (var i = 0; i < needed; i++)
        {
            s.Add(heavy with { EventId = Guid.NewGuid() }, i, PriceTable.Default);
        }
        Assert.True(s.Saturated);
        Assert.Equal(FieldBounds.MaxWindowSum, s.InputTokens);
        Assert.Equal(needed * FieldBounds.MaxWeight, s.Calls); // still exact below the bound
        Assert.Equal(needed * FieldBounds.MaxWeight, s.OutputTokens);
        var merged = new WindowState(Key, TimeSpan.FromMinutes(1), 0);
        merged.Merge(s);
        merged.Merge(s);
        Assert.Equal(FieldBounds.MaxWindowSum, merged.InputTokens);
        Assert.True(merged.Saturated);
    }

    [Fact]
    public void Add_MoreDistinctNamesThanTheBound_KeepsTheFirstAndCountsTheRest()
    {
        var s = new WindowState(Key, TimeSpan.FromMinutes(1), 0);
        for (var i = 0; i < FieldBounds.MaxWindowNames + 10; i++)
        {
            s.Add(Samples.FullCall() with { EventId = Guid.NewGuid(), Custom = new Dictionary<string, double> { ["m" + i] = 1 }, Stages = [] }, i, PriceTable.Default);
        }
        Assert.Equal(FieldBounds.MaxWindowNames, s.Custom.Count);
        Assert.Equal(10, s.DroppedNames);
    }

    [Fact]
    public void Add_SampledEvent_IsWeightedByInverseRate()
    {
        var s = new WindowState(Key, TimeSpan.FromMinutes(1), 0);
        s.Add(Samples.FullCall() with { SampleRate = 0.1 }, 0, PriceTable.Default);
        Assert.Equal(10, s.Calls);
        Assert.Equal(1, s.Events);
        Assert.Equal(15000, s.InputTokens);
        Assert.Equal(10, s.Latency.Count);
    }

    [Fact]
    public void Add_UnknownModelWithoutCost_IsCountedUnpriced()
    {
        var s = new WindowState(Key, TimeSpan.FromMinutes(1), 0);
        s.Add(Samples.FullCall() with { SampleRate = 1, CostUsd = null, RequestModel = "in-house-llm" }, 0, PriceTable.Default);
        Assert.Equal(0, s.CostUsd);
        Assert.Equal(1, s.UnpricedCalls);
    }

    [Fact]
    public void Merge_OfSplitStates_EqualsOneState()
    {
        var calls = Enumerable.Range(0, 100).Select(i => Samples.FullCall() with
        {
            EventId = Guid.NewGuid(), LatencyMs = 50 + i * 7, Outcome = i % 9 == 0 ? Outcome.Error : Outcome.Success, SampleRate = 1,
        }).ToList();
        var whole = new WindowState(Key, TimeSpan.FromMinutes(1), 0);
        var a = new WindowState(Key, TimeSpan.FromMinutes(1), 0);
        var b = new WindowState(Key, TimeSpan.FromMinutes(1), 0);
        for (var i = 0; i < calls.Count; i++)
        {
            whole.Add(calls[i], i, PriceTable.Default);
            (i % 3 == 0 ? a : b).Add(calls[i], i, PriceTable.Default);
        }
        a.Merge(b);
        Assert.Equal(whole.Calls, a.Calls);
        Assert.Equal(whole.Errors, a.Errors);
        Assert.Equal(whole.CostUsd, a.CostUsd, 12);
        Assert.Equal(whole.Latency.Quantile(0.95), a.Latency.Quantile(0.95));
        Assert.Equal(whole.StageDurations["retrieval"], a.StageDurations["retrieval"], 9);
    }

    [Fact]
    public void Add_SameEventIdTwice_CountsOnce()
    {
        var s = new WindowState(Key, TimeSpan.FromMinutes(1), 0);
        Assert.True(s.Add(Samples.FullCall(), 0, PriceTable.Default));
        Assert.False(s.Add(Samples.FullCall(), 1, PriceTable.Default));
        Assert.Equal(1, s.Events);

    }

    [Fact]
    public void Merge_DifferentKey_Throws()
    {
        var s = new WindowState(Key, TimeSpan.FromMinutes(1), 0);
        var other = new WindowState(Key with { WindowStart = Key.WindowStart.AddMinutes(1) }, TimeSpan.FromMinutes(1), 0);
        Assert.Throws<ArgumentException>(() => s.Merge(other));
    }
}

public sealed class AnomalyScorerTests
{
    private static WindowState Window(int minute, double latency, int calls = 100, int errors = 0)
    {
        var key = new WindowKey(SeriesKey.Of(Samples.MinimalCall()), new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero).AddMinutes(minute));
        var s = new WindowState(key, TimeSpan.FromMinutes(1), 0);
        for (var i = 0; i < calls; i++)
        {
            s.Add(Samples.MinimalCall() with { EventId = Guid.NewGuid(), LatencyMs = latency, Outcome = i < errors ? Outcome.Error : Outcome.Success, CostUsd = 0.001 }, -1, PriceTable.Default);
        }
        return s;
    }

    [Fact]
    public void Score_NotEnoughHistory_GivesNoScore()
    {
        var scorer = new AnomalyScorer(new AnomalyOptions { MinSamples = 5 });
        for (var m = 0; m < 5; m++)
        {
            Assert.Empty(scorer.Score(Window(m, 100)));
        }
        Assert.NotEmpty(scorer.Score(Window(5, 100)));
    }

    [Fact]
    public void Score_LatencyDoubling_IsAnomaly_NoiseIsNot()
    {
        var scorer = new AnomalyScorer(new AnomalyOptions { MinSamples = 10 });
        var noise = new[] { 100, 104, 97, 101, 99, 103, 96, 102, 98, 100, 105, 95 };
        for (var m = 0; m < noise.Length; m++) scorer.Score(Window(m, noise[m]));
        var normal = scorer.Score(Window(20, 103)).Single(s => s.Metric == AnomalyMetric.LatencyP95);
        Assert.False(normal.IsAnomaly);
        var spike = scorer.Score(Window(21, 200)).Single(s => s.Metric == AnomalyMetric.LatencyP95);
        Assert.True(spike.IsAnomaly);
        Assert.InRange(spike.BaselineMedian, 98, 102);
        Assert.True(spike.Score > 10);
    }

    [Fact]
    public void Score_FlatHistory_ErrorBurst_IsAnomaly_WithFiniteScore()
    {
        var scorer = new AnomalyScorer(new AnomalyOptions { MinSamples = 10 });
        for (var m = 0; m < 12; m++) scorer.Score(Window(m, 100, errors: 1));
        var burst = scorer.Score(Window(12, 100, errors: 30)).Single(s => s.Metric == AnomalyMetric.ErrorRate);
        Assert.True(burst.IsAnomaly);
        Assert.True(double.IsFinite(burst.Score));
    }

    [Fact]
    public void Remember_SameWindowsTwice_CountsEachOnce_AndScoresOnlyAgainstEarlierWindows()
    {
        var scorer = new AnomalyScorer(new AnomalyOptions { MinSamples = 5 });
        // History reloaded twice (a partition reassigned), plus a window after the one to score.
        for (var pass = 0; pass < 2; pass++)
        {
            for (var m = 0; m < 12; m++) scorer.Remember(Window(m, 100 + m % 3));
        }
        scorer.Remember(Window(13, 5000));
        var spike = scorer.Score(Window(12, 400)).Single(s => s.Metric == AnomalyMetric.LatencyP95);
        Assert.Equal(12, spike.BaselineSamples);
        Assert.True(spike.IsAnomaly);
    }

    [Fact]
    public void MedianAndMad_OfKnownSeries()
    {
        var (median, mad) = AnomalyScorer.MedianAndMad([1, 1, 2, 2, 4, 6, 9]);
        Assert.Equal(2, median);
        Assert.Equal(1, mad);
    }
}
