using System.ComponentModel.DataAnnotations;

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

/// <summary>The workers' own endpoints on the loopback interface. Section <c>Metrics</c>.</summary>
internal sealed class MetricsOptions
{
    /// <summary>Port of the Prometheus text endpoint <c>/metrics</c>, 0 to 65535; 0, the default, turns it off.</summary>
    [Range(0, 65535)]
    public int PrometheusPort { get; set; }

    /// <summary>Port of <c>/healthz</c> and <c>/readyz</c>, 0 to 65535; 0, the default, turns it off.</summary>
    [Range(0, 65535)]
    public int HealthPort { get; set; }
}
