using System.Net.Sockets;
using System.Text.RegularExpressions;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using MimeKit.Utils;
using Polly;
using Polly.Retry;

namespace Pipeline.Reports;

/// <summary>A delivery that did not get through: after every attempt, or at once when the server refused for good (5xx).</summary>
public sealed class ReportDeliveryException(string message, int attempts, Exception? inner) : Exception(message, inner)
{
    /// <summary>Attempts made.</summary>
    public int Attempts { get; } = attempts;
}

/// <summary>
/// Sends email through <see cref="SmtpOptions"/> (MailKit) with retries (Polly, exponential backoff with
/// jitter, <see cref="ReportDeliveryOptions"/>): connection failures, timeouts and 4xx answers are retried, a 5xx
/// answer or a failed login ends the delivery at once. A message is never sent twice by a retry: once the server
/// accepted the data, a failure on the way out (QUIT) does not count.
/// </summary>
public sealed partial class ReportMailer
{
    private readonly SmtpOptions _smtp;
    private readonly ResiliencePipeline _retry;
    private readonly ILogger _log;
    private readonly int _attempts;

    public ReportMailer(SmtpOptions smtp, ReportDeliveryOptions delivery, TimeProvider time, ILogger? log = null)
    {
        ArgumentNullException.ThrowIfNull(smtp);
        ArgumentNullException.ThrowIfNull(delivery);
        _smtp = smtp;
        _log = log ?? NullLogger.Instance;
        _attempts = delivery.Attempts;
        var builder = new ResiliencePipelineBuilder { TimeProvider = time, Name = "report-email" };
        if (delivery.Attempts > 1)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
                MaxRetryAttempts = delivery.Attempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = delivery.Delay,
                MaxDelay = delivery.MaxDelay,
                OnRetry = args =>
                {
                    LogRetry(_log, args.AttemptNumber + 1, args.RetryDelay.TotalSeconds, args.Outcome.Exception?.Message ?? "");
                    return ValueTask.CompletedTask;
                },
            });
        }
        _retry = builder.Build();
    }

    /// <summary>
    /// The report in <paramref name="reportDirectory"/> (as <see cref="ReportBuilder"/> wrote it) as one message:
    /// the HTML inline with its PNG charts as embedded images (<c>cid:</c>), the Markdown as the plain-text part,
    /// and the CSV and JSON files attached.
    /// </summary>
    public static MimeMessage Compose(SmtpOptions smtp, string subject, IEnumerable<string> to, string reportDirectory)
    {
        ArgumentNullException.ThrowIfNull(smtp);
        ArgumentNullException.ThrowIfNull(to);
        var message = new MimeMessage { Subject = subject };
        message.From.Add(MailboxAddress.Parse(smtp.From));
        foreach (var address in to) message.To.Add(MailboxAddress.Parse(address));
        message.MessageId = MimeUtils.GenerateMessageId(MailboxAddress.Parse(smtp.From).Domain is { Length: > 0 } d ? d : "pipeline.local");
        var body = new BodyBuilder();
        var markdown = Path.Combine(reportDirectory, "report.md");
        if (File.Exists(markdown)) body.TextBody = File.ReadAllText(markdown);
        var html = File.ReadAllText(Path.Combine(reportDirectory, "report.html"));
        // Each chart the page shows travels in the message; a mail client never fetches anything.
        body.HtmlBody = ImageSource().Replace(html, m =>
        {
            var file = Path.Combine(reportDirectory, Path.GetFileName(m.Groups["src"].Value));
            if (!File.Exists(file)) return m.Value;
            var image = body.LinkedResources.Add(file);
            image.ContentId = MimeUtils.GenerateMessageId();
            return $"src=\"cid:{image.ContentId}\"";
        });
        foreach (var file in Directory.EnumerateFiles(reportDirectory).Where(f => f.EndsWith(".csv", StringComparison.Ordinal) || f.EndsWith(".json", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            body.Attachments.Add(file);
        }
        message.Body = body.ToMessageBody();
        return message;
    }

    /// <summary>Sends <paramref name="message"/>; returns the attempts it took. Throws <see cref="ReportDeliveryException"/> when it did not get through.</summary>
    public async Task<int> SendAsync(MimeMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var attempts = 0;
        try
        {
            await _retry.ExecuteAsync(async ct =>
            {
                attempts++;
                await SendOnceAsync(message, ct);
            }, cancellationToken);
            return attempts;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var why = IsTransient(ex) ? $"gave up after {attempts} attempt{(attempts == 1 ? "" : "s")}" : "refused";
            throw new ReportDeliveryException($"email to {string.Join(", ", message.To.Mailboxes.Select(m => m.Address))} via {_smtp.Host}:{_smtp.Port} {why}: {ex.Message}", attempts, ex);
        }
    }

    private async Task SendOnceAsync(MimeMessage message, CancellationToken ct)
    {
        using var client = new SmtpClient { Timeout = (int)_smtp.Timeout.TotalMilliseconds };
        var security = _smtp.Security switch
        {
            SmtpSecurity.None => SecureSocketOptions.None,
            SmtpSecurity.StartTls => SecureSocketOptions.StartTls,
            SmtpSecurity.Tls => SecureSocketOptions.SslOnConnect,
            _ => SecureSocketOptions.Auto,
        };
        await client.ConnectAsync(_smtp.Host, _smtp.Port, security, ct);
        if (_smtp.User.Length > 0) await client.AuthenticateAsync(_smtp.User, _smtp.Password, ct);
        await client.SendAsync(message, ct);
        try
        {
            await client.DisconnectAsync(quit: true, ct);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ProtocolException or TimeoutException or OperationCanceledException)
        {
            // The server has the message: saying goodbye badly must not make a retry send it again.
            LogQuitFailed(_log, ex.Message);
        }
    }

    /// <summary>Failures that may pass: the server away, slow, or answering 4xx ("try again later").</summary>
    public static bool IsTransient(Exception ex) => ex switch
    {
        SmtpCommandException c => (int)c.StatusCode is >= 400 and < 500,
        System.Security.Authentication.AuthenticationException or MailKit.Security.AuthenticationException => false,
        SocketException or IOException or TimeoutException or ProtocolException or ServiceNotConnectedException => true,
        OperationCanceledException => true,
        _ => false,
    };

    /// <summary>Attempts in all (the configured <see cref="ReportDeliveryOptions.Attempts"/>).</summary>
    public int MaxAttempts => _attempts;

    [GeneratedRegex("src=\"(?<src>[^\"]+\\.png)\"")]
    private static partial Regex ImageSource();

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "email: attempt {Attempt} next in {DelaySeconds:0.0} s after: {Reason}")]
    private static partial void LogRetry(ILogger logger, int attempt, double delaySeconds, string reason);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "email: sent; closing the connection failed ({Reason})")]
    private static partial void LogQuitFailed(ILogger logger, string reason);
}
