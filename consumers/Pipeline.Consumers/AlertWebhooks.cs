using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Pipeline.Schemas;
using Polly;
using Polly.Retry;

namespace Pipeline.Consumers;

/// <summary>One webhook: where, and in which shape. Section <c>Alerting:Webhooks:N</c>.</summary>
public sealed class WebhookOptions : IValidatableObject
{
    /// <summary>
    /// Endpoint (Slack incoming webhook, PagerDuty Events API v2, or any JSON receiver), an absolute http(s) URL.
    /// Its path is a credential for Slack, so only the scheme and host are ever printed.
    /// </summary>
    [Required, PasswordPropertyText(true)]
    public Uri? Url { get; set; }
    /// <summary><c>slack</c>, <c>pagerduty</c> or <c>json</c> (the alert record as JSON). Default json.</summary>
    [RegularExpression("^(slack|pagerduty|json)$", ErrorMessage = "must be slack, pagerduty or json")]
    public string Format { get; set; } = "json";
    /// <summary>PagerDuty routing key (format pagerduty only, required there); a secret, never logged.</summary>
    public string RoutingKey { get; set; } = "";

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Url is not null && (!Url.IsAbsoluteUri || Url.Scheme is not ("http" or "https")))
        {
            yield return new ValidationResult("must be an absolute http:// or https:// URL", [nameof(Url)]);
        }
        if (Format == "pagerduty" && string.IsNullOrWhiteSpace(RoutingKey))
        {
            yield return new ValidationResult("is required for format pagerduty", [nameof(RoutingKey)]);
        }
    }
}

/// <summary>
/// Sends alerts to webhooks with retries (Polly, exponential backoff); an alert a webhook keeps refusing is
/// appended to a dead-letter log (JSON lines) instead of being lost or blocking the worker.
/// </summary>
public sealed partial class AlertWebhooks(IReadOnlyList<WebhookOptions> hooks, string deadLetterPath, HttpClient http, TimeProvider time, ILogger log)
{
    private readonly ResiliencePipeline _retry = new ResiliencePipelineBuilder { TimeProvider = time, Name = "alert-webhook" }
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<HttpRequestException>().Handle<TaskCanceledException>(),
            MaxRetryAttempts = 4,
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromMilliseconds(200),
        })
        .Build();

    /// <summary>Deliveries that ended in the dead-letter log.</summary>
    public long DeadLettered { get; private set; }

    public Task SendAsync(Alert alert, CancellationToken cancellationToken) => SendAsync(alert, null, cancellationToken);

    /// <param name="alert">The record as published (acknowledgement, silence and inhibition marks included).</param>
    /// <param name="silenceReason">The reason of the silence in <see cref="Alert.SilenceId"/>, when there is one.</param>
    /// <param name="cancellationToken">Stops retrying.</param>
    public async Task SendAsync(Alert alert, string? silenceReason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(alert);
        foreach (var hook in hooks.Where(h => h.Url is not null))
        {
            var body = Payload(hook, alert, silenceReason);
            try
            {
                await _retry.ExecuteAsync(async ct =>
                {
                    using var response = await http.PostAsJsonAsync(hook.Url, body, ct);
                    if ((int)response.StatusCode >= 500 || (int)response.StatusCode == 429)
                    {
                        throw new HttpRequestException($"webhook answered {(int)response.StatusCode}");
                    }
                    response.EnsureSuccessStatusCode();
                }, cancellationToken);
            }
            catch (HttpRequestException ex)
            {
                DeadLettered++;
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(deadLetterPath))!);
                var line = JsonSerializer.Serialize(new { url = hook.Url!.GetLeftPart(UriPartial.Path), format = hook.Format, error = ex.Message, alert = body });
                await File.AppendAllTextAsync(deadLetterPath, line + "\n", cancellationToken);
                LogDeadLetter(log, hook.Url.Host, ex.Message, deadLetterPath);
            }
        }
    }

    /// <summary>
    /// The JSON a hook receives: Slack text, a PagerDuty Events v2 trigger/resolve, or the plain alert. Every shape
    /// carries the marks the topic and the table carry: the acknowledgement (acknowledged, acked_by, acked_at,
    /// ack_note), the silence (silenced, silence_id, silence_reason) and the inhibiting incident (inhibited_by).
    /// </summary>
    public static object Payload(WebhookOptions hook, Alert a, string? silenceReason = null)
    {
        ArgumentNullException.ThrowIfNull(hook);
        ArgumentNullException.ThrowIfNull(a);
        var firing = a.State == AlertState.Firing;
        var marks = new Marks(a.AckedBy is not null, a.AckedBy, a.AckedAt, a.AckNote, a.SilenceId is not null, a.SilenceId,
            a.SilenceId is null ? null : silenceReason, a.InhibitedBy);
        return hook.Format switch
        {
            "slack" => new
            {
                text = $"{(firing ? ":rotating_light: FIRING" : ":white_check_mark: RESOLVED")} [{a.Severity}] {a.RuleId}: {a.Summary}"
                    + (a.RunbookUrl is { } rb ? $"\nRunbook: {rb}" : "") + SlackMarks(marks),
            },
            "pagerduty" => new
            {
                routing_key = hook.RoutingKey,
                event_action = firing ? "trigger" : "resolve",
                dedup_key = a.AlertId,
                payload = new
                {
                    summary = a.Summary,
                    source = $"{a.Series.Environment}/{a.Series.Service}",
                    severity = a.Severity switch { "CRITICAL" => "critical", "ERROR" => "error", "WARNING" => "warning", _ => "info" },
                    component = $"{a.Series.PromptName}@{a.Series.PromptVersion}",
                    custom_details = new
                    {
                        a.Metric, a.Observed, a.Baseline, a.Threshold, model = a.Series.RequestModel,
                        acknowledged = marks.Acknowledged, acked_by = marks.AckedBy, acked_at = marks.AckedAt, ack_note = marks.AckNote,
                        silenced = marks.Silenced, silence_id = marks.SilenceId, silence_reason = marks.SilenceReason, inhibited_by = marks.InhibitedBy,
                    },
                },
            },
            _ => new
            {
                alert_id = a.AlertId, rule_id = a.RuleId, state = firing ? "FIRING" : "RESOLVED", severity = a.Severity, summary = a.Summary,
                environment = a.Series.Environment, service = a.Series.Service, prompt_name = a.Series.PromptName,
                prompt_version = a.Series.PromptVersion, request_model = a.Series.RequestModel, metric = a.Metric,
                observed = a.Observed, baseline = a.Baseline, threshold = a.Threshold, started_at = a.StartedAt, resolved_at = a.ResolvedAt,
                runbook_url = a.RunbookUrl,
                acknowledged = marks.Acknowledged, acked_by = marks.AckedBy, acked_at = marks.AckedAt, ack_note = marks.AckNote,
                silenced = marks.Silenced, silence_id = marks.SilenceId, silence_reason = marks.SilenceReason, inhibited_by = marks.InhibitedBy,
            },
        };
    }

    private sealed record Marks(bool Acknowledged, string? AckedBy, DateTimeOffset? AckedAt, string? AckNote, bool Silenced, string? SilenceId,
        string? SilenceReason, string? InhibitedBy);

    // Slack has one text: the marks are lines of it, only when set.
    private static string SlackMarks(Marks m) =>
        (m.Acknowledged ? $"\nAcknowledged by {m.AckedBy}{(m.AckedAt is { } at ? $" at {at:yyyy-MM-dd HH:mm} UTC" : "")}{(m.AckNote is { } note ? ": " + note : "")}" : "")
        + (m.Silenced ? $"\nSilenced ({m.SilenceId}){(m.SilenceReason is { Length: > 0 } reason ? ": " + reason : "")}" : "")
        + (m.InhibitedBy is { } by ? $"\nInhibited by incident {by}" : "");

    [LoggerMessage(Level = LogLevel.Error, Message = "webhook {Host} kept failing ({Reason}); alert written to {Path}")]
    private static partial void LogDeadLetter(ILogger log, string host, string reason, string path);
}
