using System.ComponentModel.DataAnnotations;
using Pipeline.Schemas;

namespace Pipeline.Cli;

/// <summary>The local dev servers started by <c>pipeline up</c>. Section <c>Local</c>.</summary>
internal sealed class LocalOptions
{
    /// <summary>Folder of the local servers' config, data, logs and published addresses; relative to the pipeline home. Default <c>.run</c>.</summary>
    public string RunDir { get; set; } = "";

    /// <summary>Native (TCP) port of the local ClickHouse, 1 to 65535. Default 19000.</summary>
    [Range(1, 65535)]
    public int ClickHouseTcpPort { get; set; } = 19000;
}

/// <summary>
/// The workers' own metrics and health: endpoints on the loopback interface, OTLP export, the instance tag.
/// Section <c>Metrics</c>.
/// </summary>
internal sealed class MetricsOptions : IValidatableObject
{
    /// <summary>The OTLP protocols <see cref="OtlpProtocol"/> accepts, named as <c>OTEL_EXPORTER_OTLP_PROTOCOL</c> names them.</summary>
    public const string Grpc = "grpc", HttpProtobuf = "http/protobuf";

    /// <summary>Port of the Prometheus text endpoint <c>/metrics</c>, 0 to 65535; 0, the default, turns it off.</summary>
    [Range(0, 65535)]
    public int PrometheusPort { get; set; }

    /// <summary>Port of <c>/healthz</c> and <c>/readyz</c>, 0 to 65535; 0, the default, turns it off.</summary>
    [Range(0, 65535)]
    public int HealthPort { get; set; }

    /// <summary>
    /// The <c>pipeline.instance</c> tag on every worker measurement (and the OTLP resource's
    /// <c>service.instance.id</c>). Default: host name and process id, such as <c>worker-7-4242</c>.
    /// </summary>
    public string? Instance { get; set; }

    /// <summary>
    /// Where to push the workers' metrics over OTLP, an absolute http(s) URL; unset, the default, exports none.
    /// With <c>http/protobuf</c> a URL without a path gets <c>/v1/metrics</c>; with <c>grpc</c> it is the collector's
    /// address as is (usually port 4317).
    /// </summary>
    public Uri? OtlpEndpoint { get; set; }

    /// <summary><c>http/protobuf</c> (the default, usually port 4318) or <c>grpc</c>.</summary>
    [RegularExpression("^(grpc|http/protobuf)$", ErrorMessage = "must be grpc or http/protobuf")]
    public string OtlpProtocol { get; set; } = HttpProtobuf;

    /// <summary>How often metrics are pushed to <see cref="OtlpEndpoint"/>, 100ms to 1h. Default 60s (OpenTelemetry's).</summary>
    [DurationRange("100ms", "1h")]
    public TimeSpan OtlpExportInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The endpoint the exporter posts to: <see cref="OtlpEndpoint"/>, with <c>/v1/metrics</c> for http/protobuf when it has no path.</summary>
    public Uri? OtlpMetricsUrl => OtlpEndpoint is not { IsAbsoluteUri: true } ? null
        : OtlpProtocol == HttpProtobuf && OtlpEndpoint.AbsolutePath == "/" ? new Uri(OtlpEndpoint, "v1/metrics") : OtlpEndpoint;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (OtlpEndpoint is not null && (!OtlpEndpoint.IsAbsoluteUri || OtlpEndpoint.Scheme is not ("http" or "https")))
        {
            yield return new ValidationResult("must be an absolute http:// or https:// URL, such as http://127.0.0.1:4318/", [nameof(OtlpEndpoint)]);
        }
        if (Instance is { } instance && string.IsNullOrWhiteSpace(instance))
        {
            yield return new ValidationResult("must not be blank (leave it unset for host name and process id)", [nameof(Instance)]);
        }
    }
}
