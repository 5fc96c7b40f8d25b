using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Pipeline.ClickHouse;

namespace Pipeline.Reports;

/// <summary>One row of <c>report_runs</c> (migration 010): a claim on a schedule's occurrence and, later, its outcome.</summary>
/// <param name="State"><c>claimed</c>, <c>sent</c> or <c>failed</c> (delivery gave up: the dead letter).</param>
public sealed record ReportRun(string Schedule, DateTimeOffset Occurrence, uint Round, ulong Token, string Worker, string Kind,
    DateTimeOffset PeriodFrom, DateTimeOffset PeriodTo, string Environment, string Service, string Prompt, string Recipients,
    string State, uint Attempts, string Error, string MessageId, DateTimeOffset ClaimedAt, DateTimeOffset UpdatedAt)
{
    /// <summary>How <c>reports show</c> and <c>reports resend</c> name a run: <c>schedule@yyyyMMddTHHmmZ</c>.</summary>
    public string Id => IdOf(Schedule, Occurrence);

    /// <summary>True once the run has an outcome (sent or failed).</summary>
    public bool IsFinished => State is ReportRunStore.Sent or ReportRunStore.Failed;

    /// <summary>The scope its report covered.</summary>
    public SeriesScope Scope => new(Environment, Service) { Prompt = Prompt.Length == 0 ? null : Prompt };

    public static string IdOf(string schedule, DateTimeOffset occurrence) =>
        schedule + "@" + occurrence.UtcDateTime.ToString("yyyyMMdd'T'HHmm'Z'", CultureInfo.InvariantCulture);

    /// <summary>Splits an id from <see cref="Id"/>; false when it is not one.</summary>
    public static bool TryParseId(string id, out string schedule, out DateTimeOffset occurrence)
    {
        ArgumentNullException.ThrowIfNull(id);
        var at = id.LastIndexOf('@');
        schedule = at > 0 ? id[..at] : "";
        occurrence = default;
        return at > 0 && DateTimeOffset.TryParseExact(id[(at + 1)..], "yyyyMMdd'T'HHmm'Z'", CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out occurrence);
    }
}

/// <summary>Reads and writes <c>report_runs</c>. Rows are replaced by key (schedule, occurrence, round, token), the highest version (milliseconds) winning.</summary>
public sealed class ReportRunStore(ClickHouseHttp clickHouse, TimeProvider time)
{
    public const string Claimed = "claimed";
    public const string Sent = "sent";
    public const string Failed = "failed";

    private static readonly IReadOnlyList<KeyValuePair<string, string>> Columns =
    [
        new("schedule", "String"), new("occurrence", "DateTime"), new("round", "UInt32"), new("token", "UInt64"), new("worker", "String"),
        new("kind", "String"), new("period_from", "DateTime"), new("period_to", "DateTime"), new("environment", "String"),
        new("service", "String"), new("prompt", "String"), new("recipients", "String"), new("state", "String"), new("attempts", "UInt32"),
        new("error", "String"), new("message_id", "String"), new("claimed_at", "DateTime"), new("updated_at", "DateTime"), new("version", "UInt64"),
    ];

    private const string Select = """
        SELECT schedule, toUInt32(occurrence) AS occurrence, round, toString(token) AS token, worker, kind, toUInt32(period_from) AS period_from,
            toUInt32(period_to) AS period_to, environment, service, prompt, recipients, state, attempts, error, message_id,
            toUInt32(claimed_at) AS claimed_at, toUInt32(updated_at) AS updated_at
        FROM report_runs FINAL
        """;

    // Versions are milliseconds, and never repeat within this process, so a write always replaces the one before it.
    private long _lastVersion;

    /// <summary>Writes <paramref name="run"/> (a new claim, or a new state of an existing one).</summary>
    public Task WriteAsync(ReportRun run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        var version = Math.Max(time.GetUtcNow().ToUnixTimeMilliseconds(), Interlocked.Read(ref _lastVersion) + 1);
        Interlocked.Exchange(ref _lastVersion, version);
        object?[] row =
        [
            run.Schedule, run.Occurrence.UtcDateTime, run.Round, run.Token, run.Worker, run.Kind, run.PeriodFrom.UtcDateTime, run.PeriodTo.UtcDateTime,
            run.Environment, run.Service, run.Prompt, run.Recipients, run.State, run.Attempts, Trim(run.Error), run.MessageId,
            run.ClaimedAt.UtcDateTime, run.UpdatedAt.UtcDateTime, (ulong)version,
        ];
        return clickHouse.InsertAsync("report_runs", Columns, [row], cancellationToken);
    }

    /// <summary>Every claim row of one occurrence, deduplicated.</summary>
    public async Task<IReadOnlyList<ReportRun>> OfOccurrenceAsync(string schedule, DateTimeOffset occurrence, CancellationToken cancellationToken) =>
        (await clickHouse.QueryAsync($"{Select} WHERE schedule = {ClickHouseHttp.Quote(schedule)} AND occurrence = {occurrence.ToUnixTimeSeconds()} ORDER BY round, token", cancellationToken))
        .Select(FromRow).ToList();

    /// <summary>
    /// The runs, newest occurrence first, one line each: the outcome when there is one (sent before failed, so a
    /// resent dead letter shows as sent), else the newest claim.
    /// </summary>
    public async Task<IReadOnlyList<ReportRun>> ListAsync(int limit, string? state, CancellationToken cancellationToken)
    {
        var rows = (await clickHouse.QueryAsync($"{Select} ORDER BY occurrence DESC, schedule", cancellationToken)).Select(FromRow);
        var runs = rows.GroupBy(r => (r.Schedule, r.Occurrence)).Select(Summary);
        if (state is { Length: > 0 }) runs = runs.Where(r => r.State == state);
        return runs.Take(limit).ToList();
    }

    /// <summary>The run named by <paramref name="id"/> (see <see cref="ReportRun.Id"/>), or null.</summary>
    public async Task<ReportRun?> FindAsync(string id, CancellationToken cancellationToken)
    {
        if (!ReportRun.TryParseId(id, out var schedule, out var occurrence)) return null;
        var rows = await OfOccurrenceAsync(schedule, occurrence, cancellationToken);
        return rows.Count == 0 ? null : Summary(rows);
    }

    private static ReportRun Summary(IEnumerable<ReportRun> claims)
    {
        var list = claims.ToList();
        return list.Where(r => r.State == Sent).MaxBy(r => r.UpdatedAt)
            ?? list.Where(r => r.State == Failed).MaxBy(r => r.UpdatedAt)
            ?? list.MaxBy(r => (r.Round, r.ClaimedAt))!;
    }

    /// <summary>A random claim token (never 0).</summary>
    public static ulong NewToken()
    {
        Span<byte> bytes = stackalloc byte[8];
        RandomNumberGenerator.Fill(bytes);
        return Math.Max(1, BitConverter.ToUInt64(bytes));
    }

    private static ReportRun FromRow(JsonElement r)
    {
        static DateTimeOffset T(JsonElement e, string name) => DateTimeOffset.FromUnixTimeSeconds(StoredValues.Count(e, name));
        static string S(JsonElement e, string name) => e.GetProperty(name).GetString() ?? "";
        return new ReportRun(S(r, "schedule"), T(r, "occurrence"), (uint)StoredValues.Count(r, "round"),
            ulong.Parse(S(r, "token"), CultureInfo.InvariantCulture), S(r, "worker"), S(r, "kind"), T(r, "period_from"), T(r, "period_to"),
            S(r, "environment"), S(r, "service"), S(r, "prompt"), S(r, "recipients"), S(r, "state"), (uint)StoredValues.Count(r, "attempts"),
            S(r, "error"), S(r, "message_id"), T(r, "claimed_at"), T(r, "updated_at"));
    }

    private static string Trim(string s) => s.Length <= 2000 ? s : s[..2000];
}
