using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Text.Json;
using Pipeline.Schemas;

namespace Pipeline.ClickHouse;

/// <summary>How long each kind of data is kept (configuration section <c>Retention</c>).</summary>
public sealed class RetentionOptions : IValidatableObject
{
    /// <summary>Days of raw calls kept, 2 to 3650; older day partitions of <c>calls</c> are dropped (after their rollups are built). Default 30.</summary>
    [Range(2, 3650)]
    public int CallsDays { get; set; } = 30;

    /// <summary>Days of one-minute windows kept, 2 to 36500 and at least <see cref="CallsDays"/>; month partitions of <c>metrics_1m</c> entirely older are dropped. Default 90.</summary>
    [Range(2, 36500)]
    public int MinuteDays { get; set; } = 90;

    /// <summary>How often <c>pipeline maintain</c> runs the rollups and the retention, 10 s to 1 day. Default 5 minutes.</summary>
    [DurationRange("10s", "1d")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(5);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (MinuteDays < CallsDays)
        {
            yield return new ValidationResult($"{MinuteDays} must be at least CallsDays ({CallsDays}): rollups of a day are built from both", [nameof(MinuteDays)]);
        }
    }
}

/// <summary>What one maintenance pass did.</summary>
public sealed record MaintenanceResult(IReadOnlyList<DateOnly> DaysRolledUp, IReadOnlyList<int> MonthsRolledUp, IReadOnlyList<string> PartitionsDropped);

/// <summary>
/// Builds the hourly and daily rollups (<c>metrics_1h</c>, <c>metrics_1d</c>) and applies retention by
/// dropping whole partitions. Run by <c>pipeline rollup</c>, <c>pipeline retention</c> and on a schedule by
/// <c>pipeline maintain</c>. One runner at a time per database (the staging tables are shared).
/// </summary>
/// <remarks>
/// A day is rebuilt when its minute windows changed since it was last built (their newest
/// <c>emitted_at</c> moved: new windows or late revisions), from the deduplicated tables, into a staging
/// table whose partition then replaces the live one in one step, so readers never see half a day and a
/// rebuild never counts anything twice. Only days whose raw calls are still kept are rebuilt; older ones
/// keep the rollups they have.
/// </remarks>
public sealed class Maintenance(ClickHouseHttp clickHouse, TimeProvider time)
{
    /// <summary>The rollup_log format this job writes (migration 009: rollups carry events and unpriced calls).</summary>
    public const int RollupFormat = 2;

    private static readonly IReadOnlyList<string> HoursOfDay = LoadTemplate("rollups/01_hours_of_day.sql");
    private static readonly IReadOnlyList<string> DaysOfMonth = LoadTemplate("rollups/02_days_of_month.sql");

    /// <summary>Rebuilds every day within raw retention whose windows changed, then the months they are in.</summary>
    public async Task<MaintenanceResult> RollUpAsync(RetentionOptions retention, IProgress<string>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(retention);
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        var oldest = today.AddDays(-(retention.CallsDays - 1));
        var sources = await DayVersionsAsync(
            $"SELECT toString(toDate(window_start)) AS day, toUInt32(max(emitted_at)) AS v FROM metrics_1m WHERE window_start >= toDateTime('{Day(oldest)} 00:00:00') GROUP BY day", ct);
        // A day built by an older rollup format (without events and unpriced calls) counts as never built.
        var built = await DayVersionsAsync(
            $"SELECT toString(day) AS day, if(argMax(format, rolled_at) < {RollupFormat}, 0, toUInt32(max(source_emitted_at))) AS v FROM rollup_log GROUP BY day", ct);
        var days = sources.Where(kv => !built.TryGetValue(kv.Key, out var v) || v < kv.Value).Select(kv => kv.Key).Order().ToList();
        foreach (var day in days)
        {
            progress?.Report($"rollup: {Day(day)}");
            await RebuildDayAsync(day, sources[day], ct);
        }
        var months = days.Select(d => d.Year * 100 + d.Month).Distinct().Order().ToList();
        foreach (var month in months)
        {
            progress?.Report($"rollup: month {month}");
            await RebuildMonthAsync(month, ct);
        }
        return new MaintenanceResult(days, months, []);
    }

    /// <summary>Rebuilds the hourly rollups of one day from <c>metrics_1m</c> and <c>calls</c>.</summary>
    public async Task RebuildDayAsync(DateOnly day, long sourceVersion, CancellationToken ct)
    {
        var partition = day.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        await SwapAsync(HoursOfDay, "metrics_1h", partition, s => s.Replace("{day}", Day(day), StringComparison.Ordinal).Replace("{partition}", partition, StringComparison.Ordinal), ct);
        var now = time.GetUtcNow().ToUnixTimeSeconds();
        await clickHouse.ExecuteAsync($"INSERT INTO rollup_log (day, source_emitted_at, rolled_at, format) VALUES ('{Day(day)}', {sourceVersion}, {now}, {RollupFormat})", ct);
    }

    /// <summary>Rebuilds the daily rollups of one month (<c>YYYYMM</c>) from <c>metrics_1h</c>.</summary>
    public Task RebuildMonthAsync(int month, CancellationToken ct)
    {
        var text = month.ToString(CultureInfo.InvariantCulture);
        return SwapAsync(DaysOfMonth, "metrics_1d", text, s => s.Replace("{month}", text, StringComparison.Ordinal), ct);
    }

    /// <summary>
    /// Drops <c>calls</c> day partitions older than <see cref="RetentionOptions.CallsDays"/> (rolling each up
    /// first if it never was) and <c>metrics_1m</c> month partitions entirely older than
    /// <see cref="RetentionOptions.MinuteDays"/>. With <paramref name="dryRun"/>, only lists them.
    /// </summary>
    public async Task<MaintenanceResult> ApplyRetentionAsync(RetentionOptions retention, bool dryRun, IProgress<string>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(retention);
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        var callsCutoff = today.AddDays(-(retention.CallsDays - 1));
        var minuteCutoff = today.AddDays(-(retention.MinuteDays - 1));
        var dropped = new List<string>();
        var built = await DayVersionsAsync("SELECT toString(day) AS day, toUInt32(max(source_emitted_at)) AS v FROM rollup_log GROUP BY day", ct);
        foreach (var partition in await PartitionsAsync("calls", ct))
        {
            if (!DateOnly.TryParseExact(partition, "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day) || day >= callsCutoff) continue;
            dropped.Add($"calls/{partition}");
            if (dryRun) continue;
            if (!built.ContainsKey(day))
            {
                // Never drop raw calls whose percentiles no rollup holds yet.
                var version = await clickHouse.ScalarAsync($"SELECT toUInt32(max(emitted_at)) FROM metrics_1m WHERE toDate(window_start) = toDate('{Day(day)}')", ct);
                await RebuildDayAsync(day, (long)version, ct);
                await RebuildMonthAsync(day.Year * 100 + day.Month, ct);
            }
            progress?.Report($"retention: dropping calls partition {partition}");
            await clickHouse.ExecuteAsync($"ALTER TABLE calls DROP PARTITION {partition}", ct);
        }
        foreach (var partition in await PartitionsAsync("metrics_1m", ct))
        {
            if (!int.TryParse(partition, NumberStyles.None, CultureInfo.InvariantCulture, out var month)) continue;
            var lastDay = new DateOnly(month / 100, month % 100, 1).AddMonths(1).AddDays(-1);
            if (lastDay >= minuteCutoff) continue;
            dropped.Add($"metrics_1m/{partition}");
            if (dryRun) continue;
            progress?.Report($"retention: dropping metrics_1m partition {partition}");
            await clickHouse.ExecuteAsync($"ALTER TABLE metrics_1m DROP PARTITION {partition}", ct);
        }
        return new MaintenanceResult([], [], dropped);
    }

    private async Task SwapAsync(IReadOnlyList<string> template, string table, string partition, Func<string, string> fill, CancellationToken ct)
    {
        // Template: 1 clear staging, 2 build into staging, 3 swap into the live table, 4 clear staging.
        await clickHouse.ExecuteAsync(fill(template[0]), ct);
        await clickHouse.ExecuteAsync(fill(template[1]), ct);
        var rows = await clickHouse.ScalarAsync($"SELECT count() FROM {table}_staging", ct); // holds only this partition
        // Current ClickHouse refuses to replace a partition from an empty one: nothing left means drop.
        await clickHouse.ExecuteAsync(rows > 0 ? fill(template[2]) : $"ALTER TABLE {table} DROP PARTITION {partition}", ct);
        await clickHouse.ExecuteAsync(fill(template[3]), ct);
    }

    private async Task<List<string>> PartitionsAsync(string table, CancellationToken ct)
    {
        var rows = await clickHouse.QueryAsync(
            $"SELECT DISTINCT partition FROM system.parts WHERE database = {ClickHouseHttp.Quote(clickHouse.Options.Database)} AND table = '{table}' AND active ORDER BY partition", ct);
        return rows.Select(r => r.GetProperty("partition").GetString()!.Trim('\'')).ToList();
    }

    private async Task<Dictionary<DateOnly, long>> DayVersionsAsync(string sql, CancellationToken ct)
    {
        var result = new Dictionary<DateOnly, long>();
        foreach (var row in await clickHouse.QueryAsync(sql, ct))
        {
            var day = DateOnly.ParseExact(row.GetProperty("day").GetString()!, "yyyy-MM-dd", CultureInfo.InvariantCulture);
            result[day] = row.GetProperty("v").ValueKind == JsonValueKind.String ? long.Parse(row.GetProperty("v").GetString()!, CultureInfo.InvariantCulture) : row.GetProperty("v").GetInt64();
        }
        return result;
    }

    private static string Day(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static IReadOnlyList<string> LoadTemplate(string name)
    {
        using var stream = typeof(Maintenance).Assembly.GetManifestResourceStream(name) ?? throw new InvalidOperationException($"embedded {name} missing");
        using var reader = new StreamReader(stream);
        var statements = new Migration(0, name, reader.ReadToEnd()).Statements();
        return statements.Count == 4 ? statements : throw new InvalidOperationException($"{name}: expected 4 statements, found {statements.Count}");
    }
}
