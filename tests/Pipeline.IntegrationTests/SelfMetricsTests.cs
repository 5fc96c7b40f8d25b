using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Pipeline.IntegrationTests;

/// <summary>`pipeline aggregate` exports its own metrics in Prometheus text format on a loopback port.</summary>
public sealed partial class SelfMetricsTests(ServersFixture servers)
{
    [Fact]
    public async Task Aggregate_WithPrometheusPort_ExportsEventCounters()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 2, ct);
        var scenario = AggregationScenario.Create(300, TimeProvider.System.GetUtcNow().AddMinutes(-3), minutes: 2, seed: 9);
        await AggregationScenario.ProduceAsync(servers, topic, scenario.Events, ct);
        var port = FreePort();
        var healthPort = FreePort();
        var home = Directory.CreateTempSubdirectory("pipeline-metrics-").FullName;
        using var worker = PipelineProcess.Start(
        [
            "aggregate",
            "--set", $"ClickHouse:Url={servers.ClickHouse.Url}", "--set", $"ClickHouse:User={servers.ClickHouse.User}",
            "--set", $"ClickHouse:Password={servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={clickHouse.Options.Database}",
            "--set", $"Kafka:bootstrap.servers={servers.Bootstrap}", "--set", $"Aggregator:Topic={topic}", "--set", $"Aggregator:GroupId=g-{topic}",
            "--set", $"Aggregator:MetricsTopic={await servers.NewTopicAsync("metrics", 1, ct)}", "--set", $"Metrics:PrometheusPort={port}", "--set", $"Metrics:HealthPort={healthPort}",
            "--set", "Metrics:Instance=prom-agg-1",
        ], home);
        using var http = new HttpClient();
        double events = 0;
        var scraped = "";
        string[] names = ["pipeline_aggregator_consumer_lag", "pipeline_aggregator_watermark_delay", "pipeline_aggregator_batch_size", "pipeline_aggregator_flush_duration"];
        for (var i = 0; i < 150 && (events < scenario.Events.Count || !names.All(n => scraped.Contains(n, StringComparison.Ordinal))); i++)
        {
            await Task.Delay(200, ct);
            try
            {
                var text = await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics"), ct);
                scraped = text;
                var match = EventsLine().Match(text);
                if (match.Success) events = double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
        }
        using var ready = await http.GetAsync(new Uri($"http://127.0.0.1:{healthPort}/readyz"), ct);
        var readyBody = await ready.Content.ReadAsStringAsync(ct);
        using var alive = await http.GetAsync(new Uri($"http://127.0.0.1:{healthPort}/healthz"), ct);
        PipelineProcess.Kill9(worker);
        Directory.Delete(home, recursive: true);
        Assert.Equal(scenario.Events.Count, events);
        foreach (var name in names)
        {
            Assert.Contains(name, scraped, StringComparison.Ordinal);
        }
        Assert.Contains("pipeline_instance=\"prom-agg-1\"", scraped, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains("\"clickhouse\":\"ok\"", readyBody, StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    [GeneratedRegex(@"^pipeline_aggregator_events\S*(?:\{[^}]*\})? ([0-9.e+]+)", RegexOptions.Multiline)]
    private static partial Regex EventsLine();
}
