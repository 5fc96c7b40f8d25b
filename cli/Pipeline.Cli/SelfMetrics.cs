using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Pipeline.Cli;

/// <summary>
/// The workers' own metrics (events in, dead letters, windows, late events, flush latency, alert evaluations)
/// in Prometheus text format on a loopback port: <c>Metrics:PrometheusPort</c> (0, the default, turns it off).
/// </summary>
internal static class SelfMetrics
{
    public static IDisposable? Start(PipelineConfig config)
    {
        var port = config.Metrics.PrometheusPort;
        if (port == 0) return null;
        var provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter("Pipeline.Aggregator", "Pipeline.Alerting")
            .AddPrometheusHttpListener(o =>
            {
                o.Host = "127.0.0.1";
                o.Port = port;
            })
            .Build();
        Console.Error.WriteLine($"metrics: http://127.0.0.1:{port}/metrics (Prometheus text format)");
        return provider;
    }
}
