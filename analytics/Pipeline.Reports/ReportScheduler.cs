using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.ClickHouse;

namespace Pipeline.Reports;

/// <summary>What a report of a kind covers, and how it is built and sent by email.</summary>
public sealed class ReportDelivery(ClickHouseHttp analyst, ReportsOptions options, ReportMailer mailer)
{
    /// <summary>
    /// The period a report of <paramref name="kind"/> made at <paramref name="at"/> covers: daily the 24 hours
    /// before, weekly the 7 days before, monthly the calendar month before the one <paramref name="at"/> falls in
    /// (in <paramref name="zone"/>).
    /// </summary>
    public static (DateTimeOffset From, DateTimeOffset To) Period(string kind, DateTimeOffset at, TimeZoneInfo zone)
    {
        ArgumentNullException.ThrowIfNull(zone);
        switch (kind)
        {
            case "daily": return (at.AddDays(-1), at);
            case "weekly": return (at.AddDays(-7), at);
            case "monthly":
                var local = TimeZoneInfo.ConvertTime(at, zone);
                var thisMonth = new DateTime(local.Year, local.Month, 1, 0, 0, 0, DateTimeKind.Unspecified);
                var lastMonth = thisMonth.AddMonths(-1);
                return (new DateTimeOffset(lastMonth, zone.GetUtcOffset(lastMonth)).ToUniversalTime(),
                    new DateTimeOffset(thisMonth, zone.GetUtcOffset(thisMonth)).ToUniversalTime());
            default: throw new ArgumentException($"unknown report kind '{kind}' (daily, weekly or monthly)", nameof(kind));
        }
    }

    /// <summary>Builds the report into <paramref name="directory"/> and emails it; returns the message id and the attempts it took.</summary>
    /// <exception cref="NoDataException">The period has no data.</exception>
    /// <exception cref="ReportDeliveryException">The email did not get through.</exception>
    public async Task<(string MessageId, int Attempts)> SendAsync(string title, string kind, DateTimeOffset from, DateTimeOffset to,
        SeriesScope scope, IReadOnlyList<string> recipients, string directory, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var request = new ReportRequest(title, from, to, directory) { Scope = scope, Kind = kind };
        if (kind == "monthly") await new MonthlyReportBuilder(analyst).BuildAsync(request, cancellationToken);
        else await new ReportBuilder(analyst).BuildAsync(request, progress, cancellationToken);
        var message = ReportMailer.Compose(options.Smtp, $"{title}: {from:yyyy-MM-dd HH:mm} to {to:yyyy-MM-dd HH:mm} UTC", recipients, directory);
        progress?.Report($"sending to {string.Join(", ", recipients)}");
        var attempts = await mailer.SendAsync(message, cancellationToken);
        return (message.MessageId ?? "", attempts);
    }
}

/// <summary>What one look at a schedule did.</summary>
public enum ScheduledRunOutcome
{
    /// <summary>No occurrence within <see cref="ReportsOptions.CatchUp"/>, or the schedule is disabled.</summary>
    NotDue,
    /// <summary>The occurrence already has an outcome (sent or failed).</summary>
    AlreadyDone,
    /// <summary>Another worker holds a live claim on it, or won the claim.</summary>
    ClaimedElsewhere,
    /// <summary>This worker made it and the email got through.</summary>
    Sent,
    /// <summary>This worker made it and delivery gave up (or there was no data): recorded as failed.</summary>
    Failed,
}

/// <summary>
/// Makes scheduled reports: for each schedule, the latest occurrence of its cron expression at or before now
/// (within <see cref="ReportsOptions.CatchUp"/>), unless <c>report_runs</c> has it already. So a worker that was
/// down makes the run it missed once when it starts (not once per missed occurrence), and two workers make it
/// once between them (the claim protocol of <see cref="ReportRunStore"/>, docs/reports.md).
/// </summary>
public sealed partial class ReportScheduler(ReportsOptions options, ReportRunStore runs, ReportDelivery delivery, string outputDirectory,
    TimeProvider time, ILogger? log = null)
{
    private readonly ILogger _log = log ?? NullLogger.Instance;

    /// <summary>This worker's name in its claims: host, process and a random part, so two workers on one host differ.</summary>
    public string WorkerId { get; } = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>The latest occurrence of <paramref name="schedule"/> in (now - CatchUp, now], or null.</summary>
    public DateTimeOffset? LatestOccurrence(ReportScheduleOptions schedule, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        DateTimeOffset? latest = null;
        foreach (var at in schedule.ParseCron().GetOccurrences(now - options.CatchUp, now, schedule.ParseTimeZone(), fromInclusive: false, toInclusive: true))
        {
            latest = at;
        }
        return latest?.ToUniversalTime();
    }

    /// <summary>Looks at every enabled schedule once and makes what is due.</summary>
    public async Task<IReadOnlyList<(string Schedule, ScheduledRunOutcome Outcome)>> RunDueAsync(IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var results = new List<(string, ScheduledRunOutcome)>();
        foreach (var schedule in options.Schedules.Where(s => s.Enabled))
        {
            results.Add((schedule.Name, await RunIfDueAsync(schedule, progress, cancellationToken)));
        }
        return results;
    }

    /// <summary>Makes the latest occurrence of <paramref name="schedule"/> if no worker has made or is making it.</summary>
    public async Task<ScheduledRunOutcome> RunIfDueAsync(ReportScheduleOptions schedule, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        var now = time.GetUtcNow();
        if (!schedule.Enabled || LatestOccurrence(schedule, now) is not { } occurrence) return ScheduledRunOutcome.NotDue;
        var claims = await runs.OfOccurrenceAsync(schedule.Name, occurrence, cancellationToken);
        if (claims.Any(c => c.IsFinished)) return ScheduledRunOutcome.AlreadyDone;
        var round = 0u;
        if (claims.Count > 0)
        {
            var newest = claims.Max(c => c.Round);
            // A round is live while its newest claim is younger than the timeout; after that its worker is taken as dead.
            if (now - claims.Where(c => c.Round == newest).Max(c => c.ClaimedAt) < options.ClaimTimeout) return ScheduledRunOutcome.ClaimedElsewhere;
            round = newest + 1;
        }
        var (from, to) = ReportDelivery.Period(schedule.Kind, occurrence, schedule.ParseTimeZone());
        var claim = new ReportRun(schedule.Name, occurrence, round, ReportRunStore.NewToken(), WorkerId, schedule.Kind, from, to,
            schedule.Environment, schedule.Service, schedule.Prompt, string.Join(", ", schedule.To), ReportRunStore.Claimed, 0, "", "",
            Second(now), Second(now));
        await runs.WriteAsync(claim, cancellationToken);
        // Any worker that read "no claim" before ours was stored has stored its own by now; all of us read the same set.
        await Task.Delay(options.ClaimSettle, time, cancellationToken);
        claims = await runs.OfOccurrenceAsync(schedule.Name, occurrence, cancellationToken);
        if (claims.Any(c => c.IsFinished || c.Round > round)
            || claims.Where(c => c.Round == round).MinBy(c => c.Token) is not { } winner || winner.Token != claim.Token)
        {
            LogLostClaim(_log, claim.Id);
            return ScheduledRunOutcome.ClaimedElsewhere;
        }
        var directory = Path.Combine(outputDirectory, $"{schedule.Name}-{occurrence.UtcDateTime.ToString("yyyyMMdd-HHmm", CultureInfo.InvariantCulture)}");
        progress?.Report($"reports: {claim.Id} ({schedule.Kind}, {from:yyyy-MM-dd HH:mm} to {to:yyyy-MM-dd HH:mm} UTC, {schedule.ToScope()})");
        return await DeliverAsync(claim, schedule.To, directory, progress, cancellationToken);
    }

    /// <summary>Builds and sends the report of <paramref name="run"/> and records the outcome on its row; used by runs and by <c>reports resend</c>.</summary>
    public async Task<ScheduledRunOutcome> DeliverAsync(ReportRun run, IReadOnlyList<string> recipients, string directory, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        var title = $"Pipeline {run.Kind} report ({run.Schedule})";
        try
        {
            var (messageId, attempts) = await delivery.SendAsync(title, run.Kind, run.PeriodFrom, run.PeriodTo, run.Scope, recipients, directory, progress, cancellationToken);
            await runs.WriteAsync(run with { State = ReportRunStore.Sent, Attempts = run.Attempts + (uint)attempts, Error = "", MessageId = messageId, Recipients = string.Join(", ", recipients), UpdatedAt = Second(time.GetUtcNow()) }, CancellationToken.None);
            LogSent(_log, run.Id, attempts);
            return ScheduledRunOutcome.Sent;
        }
        catch (Exception ex) when (ex is ReportDeliveryException or NoDataException)
        {
            var attempts = ex is ReportDeliveryException d ? d.Attempts : 0;
            await runs.WriteAsync(run with { State = ReportRunStore.Failed, Attempts = run.Attempts + (uint)attempts, Error = ex.Message, Recipients = string.Join(", ", recipients), UpdatedAt = Second(time.GetUtcNow()) }, CancellationToken.None);
            LogFailed(_log, run.Id, ex.Message);
            return ScheduledRunOutcome.Failed;
        }
    }

    private static DateTimeOffset Second(DateTimeOffset t) => DateTimeOffset.FromUnixTimeSeconds(t.ToUnixTimeSeconds());

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "reports: {RunId} is another worker's")]
    private static partial void LogLostClaim(ILogger logger, string runId);

    [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "reports: {RunId} sent ({Attempts} attempts)")]
    private static partial void LogSent(ILogger logger, string runId, int attempts);

    [LoggerMessage(EventId = 12, Level = LogLevel.Error, Message = "reports: {RunId} failed, recorded as a dead letter (pipeline reports list --state failed): {Reason}")]
    private static partial void LogFailed(ILogger logger, string runId, string reason);
}
