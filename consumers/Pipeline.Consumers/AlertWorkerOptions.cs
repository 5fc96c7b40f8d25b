using System.ComponentModel.DataAnnotations;
using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>Settings of the alert worker (<c>pipeline alert</c>). Section <c>Alerting</c>.</summary>
public sealed class AlertWorkerOptions : IValidatableObject
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
    /// <summary>
    /// How often the worker re-reads silences and acknowledgements from ClickHouse (<c>pipeline alerts
    /// silence|ack</c> take effect within this long); 100 ms to 5 minutes. Default 10 s.
    /// </summary>
    [DurationRange("100ms", "5m")]
    public TimeSpan SuppressionRefreshInterval { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>
    /// Where the runbooks live, an absolute http(s) URL such as <c>https://wiki.example.com/llm-runbooks/</c>. When
    /// set, a rule's runbook link that is relative (<c>runbooks.md#latency</c>) or starts with the project's GitHub
    /// docs (<see cref="RunbookLinks.DefaultBase"/>) is rewritten to start here instead. Default none: relative
    /// links resolve against the project's GitHub docs.
    /// </summary>
    public Uri? RunbookBaseUrl { get; set; }

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (RunbookBaseUrl is not null && (!RunbookBaseUrl.IsAbsoluteUri || RunbookBaseUrl.Scheme is not ("http" or "https")))
        {
            yield return new ValidationResult("must be an absolute http:// or https:// URL", [nameof(RunbookBaseUrl)]);
        }
    }
}

/// <summary>Runbook links of alerts, pointed at the operator's own docs when <see cref="AlertWorkerOptions.RunbookBaseUrl"/> is set.</summary>
public static class RunbookLinks
{
    /// <summary>The project's runbooks on GitHub: what rule files link to, and what relative links resolve against by default.</summary>
    public static readonly Uri DefaultBase = new("https://github.com/pipeline/pipeline/blob/main/docs/");

    /// <summary>
    /// The link an alert carries: a relative <paramref name="runbook"/> resolved against <paramref name="baseUrl"/>
    /// (else <see cref="DefaultBase"/>); one under <see cref="DefaultBase"/> moved under <paramref name="baseUrl"/>
    /// when set; any other absolute link unchanged. Null or blank stays null.
    /// </summary>
    public static string? Resolve(string? runbook, Uri? baseUrl)
    {
        if (string.IsNullOrWhiteSpace(runbook)) return null;
        var target = baseUrl is null ? DefaultBase : WithTrailingSlash(baseUrl);
        if (Uri.TryCreate(runbook, UriKind.Absolute, out var absolute) && absolute.Scheme is "http" or "https" or "mailto")
        {
            var text = absolute.OriginalString;
            var prefix = DefaultBase.OriginalString;
            return baseUrl is not null && text.StartsWith(prefix, StringComparison.Ordinal) ? new Uri(target, text[prefix.Length..]).ToString() : text;
        }
        var relative = runbook.Trim().TrimStart('/');
        if (relative.StartsWith("./", StringComparison.Ordinal)) relative = relative[2..];
        return new Uri(target, relative).ToString();
    }

    private static Uri WithTrailingSlash(Uri u) =>
        u.AbsolutePath.EndsWith('/') ? u : new UriBuilder(u) { Path = u.AbsolutePath + "/" }.Uri;
}
