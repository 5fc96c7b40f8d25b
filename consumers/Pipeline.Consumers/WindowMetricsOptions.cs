using System.ComponentModel.DataAnnotations;
using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>
/// The closed windows exported for Grafana and Prometheus users by the alert worker (<c>pipeline alert</c>), which
/// already reads every window from <c>llm.metrics.1m.v1</c>: a Prometheus scrape endpoint of per-series gauges for
/// the latest window of each series, and OpenTelemetry GenAI histograms pushed over OTLP/HTTP. Both off by default.
/// Section <c>WindowMetrics</c>; see docs/metrics-export.md for names, buckets and the cardinality budget.
/// </summary>
public sealed class WindowMetricsOptions : IValidatableObject
{
    /// <summary>Port of the Prometheus text endpoint <c>http://Host:Port/metrics</c>, 0 to 65535; 0, the default, turns it off.</summary>
    [Range(0, 65535)]
    public int PrometheusPort { get; set; }

    /// <summary>Address the Prometheus endpoint listens on. Default <c>127.0.0.1</c>; <c>+</c> listens on every interface.</summary>
    [Required]
    public string PrometheusHost { get; set; } = "127.0.0.1";

    /// <summary>
    /// Where to push the windows as OTLP metrics, an absolute http(s) URL (OTLP/HTTP protobuf); a URL without a path
    /// gets <c>/v1/metrics</c>. Unset, the default, pushes nothing.
    /// </summary>
    public Uri? OtlpEndpoint { get; set; }

    /// <summary>How often windows received are pushed to <see cref="OtlpEndpoint"/>, 100 ms to 1 h. Default 10 s.</summary>
    [DurationRange("100ms", "1h")]
    public TimeSpan OtlpExportInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Timeout of one OTLP request, 100 ms to 5 minutes. Default 10 s.</summary>
    [DurationRange("100ms", "5m")]
    public TimeSpan OtlpTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Windows kept for the OTLP endpoint while it is away, 1 to 10,000,000; past that the oldest are dropped and
    /// counted (<c>pipeline_window_otlp_dropped_total</c>). Default 100,000 (about 25 MB).
    /// </summary>
    [Range(1, 10_000_000)]
    public int OtlpMaxPending { get; set; } = 100_000;

    /// <summary>
    /// The cardinality cap: series (environment, service, prompt name and version, model) exported at once, on both
    /// outputs, 1 to 1,000,000. A window of a series beyond it is not exported and is counted
    /// (<c>pipeline_window_series_dropped_total</c>, and a log line a minute). Default 1,000.
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxSeries { get; set; } = 1_000;

    /// <summary>
    /// A series with no window for this long leaves the export (its gauges disappear, its place under
    /// <see cref="MaxSeries"/> frees up), 1 minute to 7 days. Default 15 minutes.
    /// </summary>
    [DurationRange("1m", "7d")]
    public TimeSpan SeriesTtl { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>True when either output is configured.</summary>
    public bool Enabled => PrometheusPort > 0 || OtlpEndpoint is not null;

    /// <summary>The URL posted to: <see cref="OtlpEndpoint"/>, with <c>/v1/metrics</c> when it has no path.</summary>
    public Uri? OtlpMetricsUrl => OtlpEndpoint is not { IsAbsoluteUri: true } ? null
        : OtlpEndpoint.AbsolutePath == "/" ? new Uri(OtlpEndpoint, "v1/metrics") : OtlpEndpoint;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (OtlpEndpoint is not null && (!OtlpEndpoint.IsAbsoluteUri || OtlpEndpoint.Scheme is not ("http" or "https")))
        {
            yield return new ValidationResult("must be an absolute http:// or https:// URL, such as http://127.0.0.1:4318/", [nameof(OtlpEndpoint)]);
        }
        if (string.IsNullOrWhiteSpace(PrometheusHost) || PrometheusHost.Any(c => c is '/' or ':' && PrometheusHost[0] != '['))
        {
            yield return new ValidationResult("must be a host name or address without scheme or port, such as 127.0.0.1, or + for every interface", [nameof(PrometheusHost)]);
        }
    }
}
