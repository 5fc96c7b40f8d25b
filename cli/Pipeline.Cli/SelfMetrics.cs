using System.Globalization;
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
        var value = config.Root["Metrics:PrometheusPort"];
        if (value is null or "0") return null;
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new ConfigException($"Metrics:PrometheusPort: '{value}' is not a port number");
        }
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
