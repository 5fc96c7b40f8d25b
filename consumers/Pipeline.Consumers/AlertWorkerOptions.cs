using System.ComponentModel.DataAnnotations;
using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>Settings of the alert worker (<c>pipeline alert</c>). Section <c>Alerting</c>.</summary>
public sealed class AlertWorkerOptions
{
    /// <summary>Closed windows to read. Default <c>llm.metrics.1m.v1</c>.</summary>
    [Required]
    public string MetricsTopic { get; set; } = SchemaCatalog.Topics.Metrics1m;
    /// <summary>Where alerts are published. Default <c>llm.alerts.v1</c>.</summary>
    [Required]
    public string AlertsTopic { get; set; } = SchemaCatalog.Topics.Alerts;
    /// <summary>Consumer group. Default <c>alerter</c>.</summary>
    [Required]
    public string GroupId { get; set; } = "alerter";
    /// <summary>A YAML rule file; empty uses the built-in defaults.</summary>
    public string RulesFile { get; set; } = "";
    /// <summary>How often offsets are committed, 10 ms to 1 hour. Default 1 s.</summary>
    [DurationRange("10ms", "1h")]
    public TimeSpan CommitInterval { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>
    /// A window-topic partition silent this long stops holding back event time, so a series that went quiet
    /// (a rolled-back version) can resolve; 1 ms to 1 day. Default 30 s.
    /// </summary>
    [DurationRange("1ms", "1d")]
    public TimeSpan PartitionIdleTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// When every partition of the window topic is quiet (all series stopped, or the aggregator is down),
    /// event time follows the wall clock minus this lag, so a silence is still seen (traffic_stopped);
    /// 0 (off: event time moves only with windows, for replays of old data) to 1 day. Default 3 minutes:
    /// a window is published about two minutes after its end (one window plus the aggregator's lateness).
    /// </summary>
    [DurationRange("0", "1d")]
    public TimeSpan WallClockLag { get; set; } = TimeSpan.FromMinutes(3);
    /// <summary>Optional webhooks (Slack, PagerDuty, JSON), each retried; failures go to <see cref="WebhookDeadLetterFile"/>.</summary>
    public List<WebhookOptions> Webhooks { get; set; } = [];
    /// <summary>JSON-lines file for alerts a webhook kept refusing. Default <c>.run/alerts/webhook-dead-letters.jsonl</c>.</summary>
    [Required]
    public string WebhookDeadLetterFile { get; set; } = Path.Combine(".run", "alerts", "webhook-dead-letters.jsonl");
}
