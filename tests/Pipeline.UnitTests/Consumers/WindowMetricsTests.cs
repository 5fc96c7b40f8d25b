using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Aggregation;
using Pipeline.Consumers;
using Pipeline.Schemas;

namespace Pipeline.UnitTests.Consumers;

public sealed class WindowMetricsTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);

    private static WindowAggregate Window(string version, DateTimeOffset start, int revision, params double[] latenciesMs)
    {
        var sketch = new QuantileSketch();
        foreach (var v in latenciesMs) sketch.Add(v);
        return new WindowAggregate
        {
            Series = new SeriesKey("prod", "svc", "answer", version, "gpt-4o"), WindowStart = start, WindowSeconds = 60, Revision = revision,
            Calls = latenciesMs.Length, Successes = latenciesMs.Length, LatencySketch = sketch.Serialize(),
            LatencyP50Ms = sketch.Quantile(0.5), LatencyP95Ms = sketch.Quantile(0.95), LatencyP99Ms = sketch.Quantile(0.99),
            InputTokens = 100L * latenciesMs.Length, OutputTokens = 10L * latenciesMs.Length,
        };
    }

    private static string Scrape(WindowMetrics metrics)
    {
        using var text = new StringWriter();
        metrics.WritePrometheus(text);
        return text.ToString();
    }

    [Fact]
    public void Observe_MoreSeriesThanTheCap_DropsAndCountsTheRest()
    {
        var clock = new FakeTimeProvider(Start.AddMinutes(2));
        var metrics = new WindowMetrics(new WindowMetricsOptions { MaxSeries = 2, PrometheusPort = 9 }, clock, NullLogger.Instance);
        foreach (var v in new[] { "1", "2", "3", "3", "1" }) metrics.Observe(Window(v, Start, 1, 100));
        Assert.Equal(2, metrics.SeriesCount);
        Assert.Equal(2, metrics.SeriesDropped);
        var text = Scrape(metrics);
        Assert.Contains("pipeline_window_series_dropped_total 2\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("prompt_version=\"3\"", text, StringComparison.Ordinal);

        // A quiet series leaves after SeriesTtl (a scrape sees it go even when no window arrives) and frees its place.
        clock.Advance(TimeSpan.FromMinutes(16));
        Assert.DoesNotContain("prompt_version=\"1\"", Scrape(metrics), StringComparison.Ordinal);
        metrics.Observe(Window("3", Start.AddMinutes(16), 1, 100));
        Assert.Equal(1, metrics.SeriesCount);
        Assert.Contains("prompt_version=\"3\"", Scrape(metrics), StringComparison.Ordinal);
    }

    [Fact]
    public void Observe_LateRevision_GaugesShowItAndOtlpSendsOnlyWhatItAdded()
    {
        var clock = new FakeTimeProvider(Start.AddMinutes(2));
        var metrics = new WindowMetrics(new WindowMetricsOptions { OtlpEndpoint = new Uri("http://127.0.0.1:4318/") }, clock, NullLogger.Instance);
        metrics.Observe(Window("1", Start, 1, 5, 50, 500));
        metrics.Observe(Window("1", Start, 1, 5, 50, 500)); // replayed after a restart: not sent twice
        metrics.Observe(Window("1", Start, 2, 5, 50, 500, 5000));
        metrics.Observe(Window("1", Start.AddMinutes(-1), 1, 7)); // an older window: sent, but not the latest
        Assert.Contains("pipeline_window_calls{environment=\"prod\",service=\"svc\",prompt_name=\"answer\",prompt_version=\"1\",model=\"gpt-4o\"} 4\n",
            Scrape(metrics), StringComparison.Ordinal);
        var (request, points) = metrics.TakeOtlpRequest()!.Value;
        Assert.Equal(3, points.Count);
        var duration = request.ResourceMetrics.Single().ScopeMetrics.Single().Metrics.Single(m => m.Name == "gen_ai.client.operation.duration").Histogram.DataPoints;
        Assert.Equal([3UL, 1, 1], duration.Select(p => p.Count));
        Assert.Equal(5.0, duration[1].Sum, 9);
        // 5 s falls in (2.56, 5.12]: the revision's one added call, in that bucket only.
        Assert.Equal(1UL, duration[1].BucketCounts[Array.IndexOf(WindowMetrics.DurationBounds, 5.12)]);
        Assert.Equal(1UL, duration[1].BucketCounts.Aggregate(0UL, (a, c) => a + c));
        Assert.False(duration[1].HasMin);
        Assert.Equal(0.005, duration[0].Min, 9);
        Assert.Null(metrics.TakeOtlpRequest());
    }

    [Fact]
    public void DurationBuckets_CountAndBoundsFromTheSketch()
    {
        var sketch = new QuantileSketch();
        foreach (var ms in new[] { 1.0, 15, 15, 300, 90_000 }) sketch.Add(ms);
        var buckets = WindowMetrics.DurationBuckets(sketch);
        Assert.Equal(WindowMetrics.DurationBounds.Length + 1, buckets.Length);
        Assert.Equal(5, buckets.Sum());
        Assert.Equal(1, buckets[0]);  // 1 ms <= 10 ms
        Assert.Equal(2, buckets[1]);  // 15 ms in (10, 20]
        Assert.Equal(1, buckets[5]);  // 300 ms in (160, 320]
        Assert.Equal(1, buckets[^1]); // 90 s above 81.92 s
    }
}
