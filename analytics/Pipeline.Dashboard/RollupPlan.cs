using Pipeline.Aggregation;

namespace Pipeline.Dashboard;

/// <summary>
/// Which parts of a long range are read from the hourly rollups (<c>metrics_1h</c>) and which from the minute
/// windows. A 30-day range over 1,000 series is 43 million minute rows; its rolled hours are 720,000, summed in
/// ClickHouse. Only whole buckets of whole hours, of days the rollup job built after they were over (plus
/// <see cref="Settle"/>, for late revisions), are read from rollups; everything else (today, the range's ragged
/// edges) from minutes, so counts stay exact. A day revised after it was rolled shows the rollup's numbers
/// until the next <c>pipeline rollup</c> or <c>pipeline maintain</c> rebuilds it.
/// </summary>
public sealed record RollupPlan(IReadOnlyList<TimeRange> Minutes, IReadOnlyList<TimeRange> Hours)
{
    /// <summary>Ranges shorter than this are read from minutes only (they are at most 2,880 rows a series).</summary>
    public static readonly TimeSpan LongRange = TimeSpan.FromDays(2);

    /// <summary>How long after a day's end its rollup must have been built to be trusted over its minutes.</summary>
    public static readonly TimeSpan Settle = TimeSpan.FromMinutes(15);

    public bool UsesRollups => Hours.Count > 0;

    public static RollupPlan MinutesOnly(TimeRange range) => new([range], []);

    /// <param name="rolledDays">Days (UTC midnight) with the time their rollup was last built.</param>
    /// <param name="bucketSeconds">Rolled spans are whole buckets (a multiple of 3600), so no bucket mixes sources.</param>
    public static RollupPlan For(TimeRange range, IReadOnlyDictionary<DateTimeOffset, DateTimeOffset> rolledDays, int bucketSeconds = 3600)
    {
        ArgumentNullException.ThrowIfNull(rolledDays);
        if (range.Span < LongRange || bucketSeconds < 3600 || bucketSeconds % 3600 != 0) return MinutesOnly(range);
        bool Rolled(long hourStart)
        {
            var at = DateTimeOffset.FromUnixTimeSeconds(hourStart);
            var day = new DateTimeOffset(at.UtcDateTime.Date, TimeSpan.Zero);
            return rolledDays.TryGetValue(day, out var built) && built >= day.AddDays(1) + Settle;
        }
        var from = range.From.ToUnixTimeSeconds();
        var to = range.To.ToUnixTimeSeconds();
        var hours = new List<TimeRange>();
        var minutes = new List<TimeRange>();
        var cursor = from;
        for (var b = (from + bucketSeconds - 1) / bucketSeconds * bucketSeconds; b + bucketSeconds <= to; b += bucketSeconds)
        {
            var whole = true;
            for (var h = b; h < b + bucketSeconds && whole; h += 3600) whole = Rolled(h);
            if (!whole) continue;
            if (cursor < b) minutes.Add(Span(cursor, b));
            if (hours.Count > 0 && hours[^1].To.ToUnixTimeSeconds() == b) hours[^1] = Span(hours[^1].From.ToUnixTimeSeconds(), b + bucketSeconds);
            else hours.Add(Span(b, b + bucketSeconds));
            cursor = b + bucketSeconds;
        }
        if (cursor < to) minutes.Add(Span(cursor, to));
        return new RollupPlan(minutes, hours);
    }

    /// <summary>
    /// The rolled spans as whole UTC days (read from <c>metrics_1d</c>, 24 times fewer rows) and the hours left at
    /// their edges (from <c>metrics_1h</c>), for reads that need no bucket finer than the range.
    /// </summary>
    public (IReadOnlyList<TimeRange> Days, IReadOnlyList<TimeRange> Hours) WholeDays()
    {
        var days = new List<TimeRange>();
        var hours = new List<TimeRange>();
        foreach (var r in Hours)
        {
            var firstDay = r.From.UtcDateTime.Date == r.From.UtcDateTime ? r.From : new DateTimeOffset(r.From.UtcDateTime.Date.AddDays(1), TimeSpan.Zero);
            var lastDay = new DateTimeOffset(r.To.UtcDateTime.Date, TimeSpan.Zero);
            if (firstDay >= lastDay)
            {
                hours.Add(r);
                continue;
            }
            if (r.From < firstDay) hours.Add(new TimeRange(r.From, firstDay));
            days.Add(new TimeRange(firstDay, lastDay));
            if (lastDay < r.To) hours.Add(new TimeRange(lastDay, r.To));
        }
        return (days, hours);
    }

    /// <summary>A SQL condition on a <c>Date</c> column for any of <paramref name="days"/> (<c>0</c> when none).</summary>
    public static string DaySql(string column, IReadOnlyList<TimeRange> days) => days.Count == 0 ? "0" :
        "(" + string.Join(" OR ", days.Select(r => $"({column} >= toDate('{r.From.UtcDateTime:yyyy-MM-dd}') AND {column} < toDate('{r.To.UtcDateTime:yyyy-MM-dd}'))")) + ")";

    /// <summary>A SQL condition on <paramref name="column"/> for any of <paramref name="ranges"/> (<c>0</c> when none).</summary>
    public static string Sql(string column, IReadOnlyList<TimeRange> ranges) => ranges.Count == 0 ? "0" :
        "(" + string.Join(" OR ", ranges.Select(r => $"({column} >= {r.From.ToUnixTimeSeconds()} AND {column} < {r.To.ToUnixTimeSeconds()})")) + ")";

    /// <summary>Ranks at which a rollup's t-digest is read to stand in for its calls in a sketch (<see cref="AddRanks"/>).</summary>
    public static IReadOnlyList<double> Ranks { get; } = Enumerable.Range(0, 200).Select(i => (i + 0.5) / 200).ToArray();

    /// <summary>
    /// Adds <paramref name="calls"/> calls whose latencies are known only through <paramref name="quantiles"/> at
    /// <see cref="Ranks"/> (a rollup's t-digest) to <paramref name="sketch"/>, each rank carrying its share, so the
    /// hours merge with minute sketches into one percentile. Accurate to about half a rank step (0.25%).
    /// </summary>
    public static void AddRanks(QuantileSketch sketch, IReadOnlyList<double> quantiles, long calls)
    {
        ArgumentNullException.ThrowIfNull(sketch);
        ArgumentNullException.ThrowIfNull(quantiles);
        if (calls <= 0 || quantiles.Count == 0) return;
        var n = quantiles.Count;
        for (var i = 0; i < n; i++)
        {
            var weight = (long)Math.Round((double)(i + 1) * calls / n) - (long)Math.Round((double)i * calls / n);
            if (weight > 0 && double.IsFinite(quantiles[i])) sketch.Add(quantiles[i], weight);
        }
    }

    private static TimeRange Span(long from, long to) => new(DateTimeOffset.FromUnixTimeSeconds(from), DateTimeOffset.FromUnixTimeSeconds(to));
}
