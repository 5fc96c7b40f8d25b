using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using Pipeline.Consumers;

namespace Pipeline.Cli;

/// <summary>
/// The workers' own metrics (events in, dead letters, windows, late events, flush duration, lag, watermark delay,
/// alert evaluations), each measurement tagged <c>pipeline.instance</c>, exported by the OpenTelemetry SDK:
/// in Prometheus text format on a loopback port when <c>Metrics:PrometheusPort</c> is set (0, the default, turns
/// it off), and pushed over OTLP to <c>Metrics:OtlpEndpoint</c> when that is set (every
/// <c>Metrics:OtlpExportInterval</c>, and once more when the worker stops).
/// </summary>
internal static class SelfMetrics
{
    /// <summary>The meters the workers create through <c>IMeterFactory</c>.</summary>
    public static readonly string[] Meters = [AggregatorMetrics.MeterName, AlertMetrics.MeterName];

    /// <summary>Adds the exporters the configuration asks for (none: no meter provider at all).</summary>
    /// <param name="service">OpenTelemetry's <c>service.name</c>, such as <c>pipeline-aggregate</c>.</param>
    public static void Add(IServiceCollection services, PipelineConfig config, string service)
    {
        var options = config.Metrics;
        if (options.PrometheusPort == 0 && options.OtlpMetricsUrl is null) return;
        var instance = options.Instance ?? WorkerInstance.ProcessDefault;
        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(service, serviceInstanceId: instance, autoGenerateServiceInstanceId: false))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(Meters);
                if (options.PrometheusPort is var port and > 0)
                {
                    metrics.AddPrometheusHttpListener(o =>
                    {
                        o.Host = "127.0.0.1";
                        o.Port = port;
                    });
                    Console.Error.WriteLine($"metrics: http://127.0.0.1:{port}/metrics (Prometheus text format)");
                }
                if (options.OtlpMetricsUrl is { } url)
                {
                    metrics.AddOtlpExporter((exporter, reader) =>
                    {
                        exporter.Endpoint = url;
                        exporter.Protocol = options.OtlpProtocol == MetricsOptions.Grpc ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
                        reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)options.OtlpExportInterval.TotalMilliseconds;
                    });
                    Console.Error.WriteLine($"metrics: OTLP {options.OtlpProtocol} to {Pipeline.Schemas.SecretMask.MaskUrl(url)} every {Pipeline.Schemas.Durations.Format(options.OtlpExportInterval)}");
                }
            });
    }
}
