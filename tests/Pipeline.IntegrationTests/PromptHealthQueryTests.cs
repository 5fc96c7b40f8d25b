using Pipeline.Reports;

namespace Pipeline.IntegrationTests;

/// <summary><c>pipeline top</c>'s numbers (<see cref="PromptHealth.QueryAsync"/>) on real metrics_1m rows.</summary>
public sealed class PromptHealthQueryTests(ServersFixture servers)
{
    [Fact]
    public async Task QueryAsync_RangeStillFilling_RatesPerClosedMinute()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var now = TimeProvider.System.GetUtcNow();
        // Three closed minutes of 60 calls, the newest ending two minutes ago (the aggregator's lateness), in a
        // 15-minute range: 60 calls per minute, not 180 / 15 = 12.
        var closedEnd = new DateTimeOffset(now.UtcTicks - now.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero).AddMinutes(-2);
        var values = string.Join(", ", Enumerable.Range(1, 3).Select(m =>
            $"('prod', 'svc', 'answer', '2.0', 'gpt-4o', {closedEnd.AddMinutes(-m).ToUnixTimeSeconds()}, 60, 60, 60, 60, 12000)"));
        await clickHouse.ExecuteAsync("INSERT INTO metrics_1m (environment, service, prompt_name, prompt_version, request_model, window_start, " +
            $"window_seconds, calls, events, successes, latency_sum_ms) VALUES {values}", ct);

        var health = Assert.Single(await PromptHealth.QueryAsync(clickHouse, now.AddMinutes(-15), now, new HealthThresholds(), SeriesScope.All, ct));
        Assert.Equal(180, health.Calls);
        Assert.Equal(60, health.CallsPerMinute, 9);
        Assert.Equal(closedEnd, health.LastWindowEnd);
    }
}
