using Pipeline.Reports;
using Pipeline.Schemas;

namespace Pipeline.UnitTests.Reports;

public sealed class ReportScheduleTests
{
    private static readonly TimeZoneInfo Berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");

    [Fact]
    public void Period_Monthly_IsTheCalendarMonthBeforeInTheScheduleZone()
    {
        // 1 December 08:00 Berlin (07:00 UTC): November in Berlin, 31 October 23:00 UTC to 30 November 23:00 UTC.
        var (from, to) = ReportDelivery.Period("monthly", new DateTimeOffset(2026, 12, 1, 7, 0, 0, TimeSpan.Zero), Berlin);
        Assert.Equal(new DateTimeOffset(2026, 10, 31, 23, 0, 0, TimeSpan.Zero), from);
        Assert.Equal(new DateTimeOffset(2026, 11, 30, 23, 0, 0, TimeSpan.Zero), to);
        var (utcFrom, utcTo) = ReportDelivery.Period("monthly", new DateTimeOffset(2026, 1, 15, 0, 0, 0, TimeSpan.Zero), TimeZoneInfo.Utc);
        Assert.Equal((new DateTimeOffset(2025, 12, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)), (utcFrom, utcTo));
    }

    [Fact]
    public void Period_DailyAndWeekly_EndAtTheOccurrence()
    {
        var at = new DateTimeOffset(2026, 12, 2, 7, 0, 0, TimeSpan.Zero);
        Assert.Equal((at.AddDays(-1), at), ReportDelivery.Period("daily", at, TimeZoneInfo.Utc));
        Assert.Equal((at.AddDays(-7), at), ReportDelivery.Period("weekly", at, TimeZoneInfo.Utc));
        Assert.Throws<ArgumentException>(() => ReportDelivery.Period("hourly", at, TimeZoneInfo.Utc));
    }

    [Fact]
    public void LatestOccurrence_MissedSeveral_OnlyTheLatestWithinCatchUp()
    {
        var options = new ReportsOptions { CatchUp = TimeSpan.FromDays(2) };
        var scheduler = new ReportScheduler(options, null!, null!, "", TimeProvider.System);
        var schedule = new ReportScheduleOptions { Name = "m", Cron = "0 7 * * *", TimeZone = "Europe/Berlin", To = ["a@example.com"] };
        // Down since the 28th: the 07:00 Berlin of the 2nd (06:00 UTC) is the one made, once.
        Assert.Equal(new DateTimeOffset(2026, 12, 2, 6, 0, 0, TimeSpan.Zero), scheduler.LatestOccurrence(schedule, new DateTimeOffset(2026, 12, 2, 9, 0, 0, TimeSpan.Zero)));
        // Exactly at the occurrence it is due; a minute before, yesterday's.
        Assert.Equal(new DateTimeOffset(2026, 12, 2, 6, 0, 0, TimeSpan.Zero), scheduler.LatestOccurrence(schedule, new DateTimeOffset(2026, 12, 2, 6, 0, 0, TimeSpan.Zero)));
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 6, 0, 0, TimeSpan.Zero), scheduler.LatestOccurrence(schedule, new DateTimeOffset(2026, 12, 2, 5, 59, 0, TimeSpan.Zero)));
        // A monthly schedule last due 20 days ago is past a 2-day catch-up.
        var monthly = new ReportScheduleOptions { Name = "x", Cron = "0 8 1 * *", Kind = "monthly", To = ["a@example.com"] };
        Assert.Null(scheduler.LatestOccurrence(monthly, new DateTimeOffset(2026, 12, 21, 0, 0, 0, TimeSpan.Zero)));
    }

    [Fact]
    public void Validate_BadSchedule_NamesEveryKey()
    {
        var options = new ReportsOptions
        {
            Schedules =
            [
                new ReportScheduleOptions { Name = "a b", Cron = "* * *", TimeZone = "Nowhere/Else", Kind = "yearly", To = ["x", "ok@example.com"] },
                new ReportScheduleOptions { Name = "dup", Cron = "0 7 * * *", To = ["a@example.com"] },
                new ReportScheduleOptions { Name = "dup", Cron = "0 8 * * *", To = [] },
            ],
        };
        var problems = string.Join("\n", SettingsValidator.Validate(options, "Reports"));
        foreach (var key in new[] { "Reports:Schedules:0:Name", "Reports:Schedules:0:Cron", "Reports:Schedules:0:TimeZone", "Reports:Schedules:0:Kind",
            "Reports:Schedules:0:To:0", "Reports:Schedules:2:To", "Reports:Schedules: schedule name 'dup'", "Reports:Smtp:Host" })
        {
            Assert.Contains(key, problems, StringComparison.Ordinal);
        }
        Assert.DoesNotContain("Reports:Schedules:0:To:1", problems, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a@example.com", true)]
    [InlineData("Pipeline <reports@example.com>", true)]
    [InlineData("not-an-address", false)]
    [InlineData("a@", false)]
    [InlineData("", false)]
    public void EmailAddress_IsValid(string value, bool valid) => Assert.Equal(valid, EmailAddress.IsValid(value));

    [Fact]
    public void RunId_RoundTrips()
    {
        var at = new DateTimeOffset(2026, 12, 2, 6, 0, 0, TimeSpan.Zero);
        Assert.Equal("morning@20261202T0600Z", ReportRun.IdOf("morning", at));
        Assert.True(ReportRun.TryParseId("my@team@20261202T0600Z", out var schedule, out var occurrence));
        Assert.Equal(("my@team", at), (schedule, occurrence));
        Assert.False(ReportRun.TryParseId("morning", out _, out _));
    }
}
