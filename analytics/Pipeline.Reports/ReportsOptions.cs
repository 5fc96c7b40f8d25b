using System.ComponentModel.DataAnnotations;
using Cronos;
using MimeKit;
using Pipeline.Schemas;

namespace Pipeline.Reports;

/// <summary>How reports are delivered and when they run by themselves. Section <c>Reports</c> (docs/reports.md).</summary>
public sealed class ReportsOptions : IValidatableObject
{
    /// <summary>The mail server reports (and alert emails) are sent through. Section <c>Reports:Smtp</c>.</summary>
    public SmtpOptions Smtp { get; set; } = new();

    /// <summary>Retries of a delivery that fails for a reason that may pass. Section <c>Reports:Delivery</c>.</summary>
    public ReportDeliveryOptions Delivery { get; set; } = new();

    /// <summary>Reports made and sent on a schedule by <c>pipeline reports run</c> and <c>pipeline maintain</c>. Default none.</summary>
    public List<ReportScheduleOptions> Schedules { get; set; } = [];

    /// <summary>
    /// How long a worker waits between inserting its claim on a run and reading the claims back, 100 ms to 1 minute.
    /// Must exceed the time a worker takes from reading "no claim yet" to its own claim being stored (milliseconds
    /// normally); two workers are safe from sending twice as long as it does. Default 2 s.
    /// </summary>
    [DurationRange("100ms", "1m")]
    public TimeSpan ClaimSettle { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A claimed run with no outcome after this long is taken as its worker's death and claimed again, 1 minute to 1 day. Default 1 hour.</summary>
    [DurationRange("1m", "1d")]
    public TimeSpan ClaimTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How far back a run missed while no worker ran is still made (once, the latest one), 1 minute to 40 days. Default 2 days.</summary>
    [DurationRange("1m", "40d")]
    public TimeSpan CatchUp { get; set; } = TimeSpan.FromDays(2);

    /// <summary>How often <c>pipeline reports run</c> looks for due runs, 1 s to 1 hour. Default 30 s.</summary>
    [DurationRange("1s", "1h")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Where scheduled runs write their files (one folder per run); empty: <c>reports/scheduled</c> under <c>Local:RunDir</c>.</summary>
    public string OutputDirectory { get; set; } = "";

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var names = Schedules.Select(s => s.Name).Where(n => n is { Length: > 0 }).GroupBy(n => n, StringComparer.Ordinal).Where(g => g.Count() > 1);
        foreach (var duplicate in names)
        {
            yield return new ValidationResult($"schedule name '{duplicate.Key}' is used twice; each schedule needs its own", [nameof(Schedules)]);
        }
        if (Schedules.Count > 0 && string.IsNullOrWhiteSpace(Smtp.Host))
        {
            yield return new ValidationResult("is required when Reports:Schedules has entries (they are sent by email)", ["Smtp:Host"]);
        }
    }
}

/// <summary>How the connection to the mail server is secured.</summary>
public enum SmtpSecurity
{
    /// <summary>TLS on connect for port 465, STARTTLS when the server offers it, else plain.</summary>
    Auto,
    /// <summary>Plain SMTP (a relay on the same host).</summary>
    None,
    /// <summary>STARTTLS, required.</summary>
    StartTls,
    /// <summary>TLS from the first byte (SMTPS, port 465).</summary>
    Tls,
}

/// <summary>A mail server. Section <c>Reports:Smtp</c>; <see cref="Password"/> is never printed.</summary>
public sealed class SmtpOptions : IValidatableObject
{
    /// <summary>Host name or address of the SMTP server; empty: no email. Default empty.</summary>
    public string Host { get; set; } = "";

    /// <summary>TCP port, 1 to 65535. Default 25.</summary>
    [Range(1, 65535)]
    public int Port { get; set; } = 25;

    /// <summary>None, StartTls, Tls or Auto. Default Auto.</summary>
    public SmtpSecurity Security { get; set; } = SmtpSecurity.Auto;

    /// <summary>User name for SMTP authentication; empty: no authentication. Default empty.</summary>
    public string User { get; set; } = "";

    /// <summary>Password for <see cref="User"/>; a secret, masked in <c>config show</c> and messages.</summary>
    public string Password { get; set; } = "";

    /// <summary>Sender address (<c>reports@example.com</c> or <c>Pipeline &lt;reports@example.com&gt;</c>); required with <see cref="Host"/>.</summary>
    public string From { get; set; } = "";

    /// <summary>Timeout of each SMTP operation, 1 s to 10 minutes. Default 30 s.</summary>
    [DurationRange("1s", "10m")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>True when a server is configured.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(Host);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (IsConfigured && string.IsNullOrWhiteSpace(From))
        {
            yield return new ValidationResult("is required when Reports:Smtp:Host is set", [nameof(From)]);
        }
        else if (From.Length > 0 && !EmailAddress.IsValid(From))
        {
            yield return new ValidationResult($"'{From}' is not an email address", [nameof(From)]);
        }
        if (Password.Length > 0 && User.Length == 0)
        {
            yield return new ValidationResult("is set but Reports:Smtp:User is empty: set both or neither", [nameof(Password)]);
        }
    }
}

/// <summary>Retries of one delivery. Section <c>Reports:Delivery</c>.</summary>
public sealed class ReportDeliveryOptions : IValidatableObject
{
    /// <summary>Attempts in all before the delivery is recorded as failed (the dead letter), 1 to 50. Default 6.</summary>
    [Range(1, 50)]
    public int Attempts { get; set; } = 6;

    /// <summary>Wait before the first retry, doubled each retry (with jitter) up to <see cref="MaxDelay"/>, 10 ms to 1 hour. Default 30 s.</summary>
    [DurationRange("10ms", "1h")]
    public TimeSpan Delay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest wait between two attempts, 10 ms to 6 hours. Default 10 minutes.</summary>
    [DurationRange("10ms", "6h")]
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromMinutes(10);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (MaxDelay < Delay)
        {
            yield return new ValidationResult($"{Durations.Format(MaxDelay)} must be at least Delay ({Durations.Format(Delay)})", [nameof(MaxDelay)]);
        }
    }
}

/// <summary>One scheduled report. Section <c>Reports:Schedules:N</c>.</summary>
public sealed class ReportScheduleOptions : IValidatableObject
{
    /// <summary>Name, letters, digits, <c>.</c>, <c>_</c>, <c>-</c> (1 to 64): the key of its runs in <c>report_runs</c>. Required.</summary>
    [Required, RegularExpression("^[A-Za-z0-9_.-]{1,64}$", ErrorMessage = "must be 1 to 64 letters, digits, '.', '_' or '-'")]
    public string Name { get; set; } = "";

    /// <summary>When, as a cron expression of 5 fields (minute hour day-of-month month day-of-week), such as <c>0 7 * * *</c>. Required.</summary>
    [Required]
    public string Cron { get; set; } = "";

    /// <summary>The time zone <see cref="Cron"/> is read in (IANA, such as <c>Europe/Berlin</c>). Default UTC.</summary>
    public string TimeZone { get; set; } = "UTC";

    /// <summary>daily (the 24 hours before the run), weekly (7 days) or monthly (the previous calendar month). Default daily.</summary>
    [RegularExpression("^(daily|weekly|monthly)$", ErrorMessage = "must be daily, weekly or monthly")]
    public string Kind { get; set; } = "daily";

    /// <summary>Only this environment; empty: all. Default empty.</summary>
    public string Environment { get; set; } = "";

    /// <summary>Only this service; empty: all. Default empty.</summary>
    public string Service { get; set; } = "";

    /// <summary>Only this prompt name; empty: all. Default empty.</summary>
    public string Prompt { get; set; } = "";

    /// <summary>Recipients' email addresses; at least one.</summary>
    public List<string> To { get; set; } = [];

    /// <summary>False keeps the schedule configured but makes no runs. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The parsed <see cref="Cron"/>; call after validation (a method: the settings walk reads every property).</summary>
    public CronExpression ParseCron() => CronExpression.Parse(Cron, CronFormat.Standard);

    /// <summary>The parsed <see cref="TimeZone"/>; call after validation.</summary>
    public TimeZoneInfo ParseTimeZone() => TimeZoneInfo.FindSystemTimeZoneById(TimeZone);

    /// <summary>What the schedule's reports cover.</summary>
    public SeriesScope ToScope() => new(Environment, Service) { Prompt = Prompt.Length == 0 ? null : Prompt };

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Cron.Length > 0 && !CronExpression.TryParse(Cron, CronFormat.Standard, out _))
        {
            yield return new ValidationResult($"'{Cron}' is not a cron expression of 5 fields (minute hour day-of-month month day-of-week), such as '0 7 * * *'", [nameof(Cron)]);
        }
        if (!TryZone(TimeZone))
        {
            yield return new ValidationResult($"'{TimeZone}' is not a known time zone (IANA names such as UTC or Europe/Berlin)", [nameof(TimeZone)]);
        }
        if (To.Count == 0)
        {
            yield return new ValidationResult("needs at least one recipient (Reports:Schedules:N:To:0)", [nameof(To)]);
        }
        for (var i = 0; i < To.Count; i++)
        {
            if (!EmailAddress.IsValid(To[i]))
            {
                yield return new ValidationResult($"'{To[i]}' is not an email address", [$"To:{i}"]);
            }
        }
    }

    private static bool TryZone(string id)
    {
        try
        {
            TimeZoneInfo.FindSystemTimeZoneById(id);
            return true;
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException or ArgumentException)
        {
            return false;
        }
    }
}

/// <summary>The one check of an email address in settings and flags.</summary>
public static class EmailAddress
{
    /// <summary>True for <c>user@host</c> or <c>Name &lt;user@host&gt;</c>; MimeKit alone also takes a bare local part, which no server delivers.</summary>
    public static bool IsValid(string? value) =>
        value is { Length: > 0 } && MailboxAddress.TryParse(value, out var mailbox) && mailbox.Address.IndexOf('@', StringComparison.Ordinal) is > 0 and var at
        && at < mailbox.Address.Length - 1;
}
