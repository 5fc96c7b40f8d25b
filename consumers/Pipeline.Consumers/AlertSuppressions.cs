using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>
/// Which alerts a silence applies to: exact matches on series fields and the rule id, all of them. Written
/// <c>prompt=answer,version=2.0[,environment=prod,service=api,model=gpt-4o,rule=latency_p95_regression]</c>:
/// a silence is for a series (a prompt version), narrowed further by the optional keys.
/// </summary>
public sealed class SilenceMatcher
{
    /// <summary>The keys a matcher may name, in the order they are printed.</summary>
    public static IReadOnlyList<string> Keys { get; } = ["environment", "service", "prompt", "version", "model", "rule"];

    /// <summary>Keys every matcher must name: a silence is for one prompt version, never for everything.</summary>
    public static IReadOnlyList<string> RequiredKeys { get; } = ["prompt", "version"];

    private readonly SortedDictionary<string, string> _fields;

    private SilenceMatcher(SortedDictionary<string, string> fields) => _fields = fields;

    /// <summary>The matched keys and values, ordered as <see cref="Keys"/>.</summary>
    public IEnumerable<KeyValuePair<string, string>> Fields => Keys.Where(_fields.ContainsKey).Select(k => new KeyValuePair<string, string>(k, _fields[k]));

    /// <summary>Parses <c>key=value,key=value</c>; on failure <paramref name="error"/> says why, listing the known keys.</summary>
    public static bool TryParse(string? text, out SilenceMatcher? matcher, out string? error)
    {
        matcher = null;
        var fields = new List<KeyValuePair<string, string>>();
        foreach (var part in (text ?? "").Split(',', StringSplitOptions.TrimEntries))
        {
            if (part.Length == 0) continue;
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                error = $"'{part}' is not key=value (keys: {string.Join(", ", Keys)})";
                return false;
            }
            var (key, value) = (part[..eq].Trim(), part[(eq + 1)..].Trim());
            if (MalformedValue(key, value) is { } problem)
            {
                error = problem;
                return false;
            }
            fields.Add(new(key, value));
        }
        return TryCreate(fields, out matcher, out error);
    }

    // Typed input only (stored rows are read as they are): values that show the matcher was meant as something else.
    private static string? MalformedValue(string key, string value)
    {
        if (value.Contains('=', StringComparison.Ordinal))
        {
            return $"'{key}={value}' holds a second '=': separate matchers with commas (prompt=NAME,version=VERSION)";
        }
        if (value.Length > 0 && (value[0] is '~' or '!' || key.EndsWith('!')))
        {
            return $"'{key}={value}': matchers are exact (key=value); regular expressions and negations are not supported";
        }
        if (value.Contains('*', StringComparison.Ordinal))
        {
            return $"'{key}={value}': matchers are exact; '*' is not a wildcard (leave the key out to match every {key})";
        }
        if (value.Length > 1 && value[0] is '"' or '\'' && value[^1] == value[0])
        {
            return $"'{key}={value}': leave out the quotes (the value is matched exactly, quotes included)";
        }
        return null;
    }

    /// <summary>A matcher from key/value pairs (as stored), checked as <see cref="TryParse"/> checks them.</summary>
    public static bool TryCreate(IEnumerable<KeyValuePair<string, string>> pairs, out SilenceMatcher? matcher, out string? error)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        matcher = null;
        var fields = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in pairs)
        {
            if (!Keys.Contains(key))
            {
                error = $"unknown key '{key}' (known keys: {string.Join(", ", Keys)})";
                return false;
            }
            if (value.Length == 0)
            {
                error = $"'{key}' needs a value ({key}=...)";
                return false;
            }
            if (!fields.TryAdd(key, value))
            {
                error = $"'{key}' is given twice";
                return false;
            }
        }
        if (RequiredKeys.FirstOrDefault(k => !fields.ContainsKey(k)) is { } missing)
        {
            error = $"'{missing}' is required (a silence names at least prompt=NAME,version=VERSION; optional: environment, service, model, rule)";
            return false;
        }
        matcher = new SilenceMatcher(fields);
        error = null;
        return true;
    }

    /// <summary>A matcher from stored pairs; throws <see cref="FormatException"/> when they are not valid.</summary>
    public static SilenceMatcher Create(IEnumerable<KeyValuePair<string, string>> pairs) =>
        TryCreate(pairs, out var matcher, out var error) ? matcher! : throw new FormatException(error);

    /// <summary>True when every named key equals the alert's value, exactly (case-sensitive).</summary>
    public bool Matches(Alert alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        return _fields.All(kv => string.Equals(ValueOf(kv.Key, alert.Series, alert.RuleId), kv.Value, StringComparison.Ordinal));
    }

    /// <summary>True when every named series key (all but <c>rule</c>) equals the series' value.</summary>
    public bool MatchesSeries(SeriesKey series) =>
        _fields.Where(kv => kv.Key != "rule").All(kv => string.Equals(ValueOf(kv.Key, series, ""), kv.Value, StringComparison.Ordinal));

    /// <summary>The value of matcher key <paramref name="key"/> for a series (and rule id).</summary>
    public static string ValueOf(string key, SeriesKey series, string ruleId)
    {
        return key switch
        {
            "environment" => series.Environment,
            "service" => series.Service,
            "prompt" => series.PromptName,
            "version" => series.PromptVersion,
            "model" => series.RequestModel,
            _ => ruleId,
        };
    }

    /// <inheritdoc />
    public override string ToString() => string.Join(",", Fields.Select(kv => kv.Key + "=" + kv.Value));
}

/// <summary>A silence: notifications for matching alerts are suppressed in [<see cref="StartsAt"/>, <see cref="EndsAt"/>).</summary>
public sealed record Silence(string Id, SilenceMatcher Matcher, DateTimeOffset StartsAt, DateTimeOffset EndsAt, string CreatedBy, string Reason)
{
    /// <summary>Who ended it early (<c>pipeline alerts unsilence</c>), or empty.</summary>
    public string EndedBy { get; init; } = "";

    /// <summary>True at <paramref name="now"/> when it has started and not yet ended.</summary>
    public bool IsActiveAt(DateTimeOffset now) => StartsAt <= now && now < EndsAt;
}

/// <summary>An acknowledged incident: the alert id, who, when, and a note.</summary>
public sealed record Acknowledgement(string AlertId, string By, DateTimeOffset At, string Note);

/// <summary>What to do with one alert record the engine produced.</summary>
/// <param name="Alert">The record, marked with the silence that matched and the acknowledgement, if any.</param>
/// <param name="Record">False for a re-notify of a silenced or acknowledged incident: it is neither published nor stored.</param>
/// <param name="Notify">False when webhooks must not hear of it (silenced, or not recorded at all).</param>
/// <param name="Why">Why a record is not recorded (a silence, an acknowledgement, a stale re-notify), else null.</param>
public readonly record struct SuppressionDecision(Alert Alert, bool Record, bool Notify, string? Why = null);

/// <summary>
/// The silences and acknowledgements in force, and what they do to an alert record. Pure: the worker
/// reloads them from ClickHouse (<see cref="SuppressionStore"/>) and passes the wall-clock time. A silence
/// suppresses notifications only: the first FIRING and the RESOLVED record of a silenced incident are still
/// recorded (marked with <see cref="Alert.SilenceId"/>), without webhooks; its re-notify records are dropped.
/// An acknowledgement is for one incident (alert id): its records carry who acknowledged it, and its re-notify
/// records are dropped. A new incident of the same rule and series has a new alert id, so it is not acknowledged.
/// </summary>
public sealed class AlertSuppressions
{
    private IReadOnlyList<Silence> _silences = [];
    private Dictionary<string, Acknowledgement> _acks = [];

    /// <summary>Silences known (active, future and recently ended).</summary>
    public IReadOnlyList<Silence> Silences => _silences;

    /// <summary>Acknowledgements known, by alert id.</summary>
    public IReadOnlyDictionary<string, Acknowledgement> Acknowledgements => _acks;

    /// <summary>
    /// A re-notify says "still firing" to people, now: one whose window ended longer ago than this (wall clock) comes
    /// from a worker catching up (a backlog, a replay of history) and is dropped, so a recovery further on in the
    /// backlog is not preceded by a reminder milliseconds before its RESOLVED. Null: never stale.
    /// </summary>
    public TimeSpan? StaleRenotifyAfter { get; init; }

    /// <summary>Replaces what is in force; returns the acknowledgements that were not known before.</summary>
    public IReadOnlyList<Acknowledgement> Replace(IReadOnlyList<Silence> silences, IReadOnlyList<Acknowledgement> acks)
    {
        ArgumentNullException.ThrowIfNull(silences);
        ArgumentNullException.ThrowIfNull(acks);
        var added = acks.Where(a => !_acks.TryGetValue(a.AlertId, out var known) || known != a).ToList();
        _silences = silences;
        _acks = acks.GroupBy(a => a.AlertId).ToDictionary(g => g.Key, g => g.MaxBy(a => a.At)!);
        return added;
    }

    /// <summary>The active silence matching <paramref name="alert"/> at <paramref name="now"/> (the one ending last), or null.</summary>
    public Silence? ActiveSilence(Alert alert, DateTimeOffset now) =>
        _silences.Where(s => s.IsActiveAt(now) && s.Matcher.Matches(alert)).MaxBy(s => s.EndsAt);

    /// <summary>Marks <paramref name="alert"/> and decides whether it is recorded and notified.</summary>
    /// <param name="alert">A record from the engine.</param>
    /// <param name="renotify">True when it is a repeated FIRING of an incident already notified.</param>
    /// <param name="now">Wall-clock time: silences are set by people, for hours of real time.</param>
    public SuppressionDecision Decide(Alert alert, bool renotify, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(alert);
        var silence = ActiveSilence(alert, now);
        var marked = alert with { SilenceId = silence?.Id };
        if (_acks.TryGetValue(alert.AlertId, out var ack))
        {
            marked = marked with { AckedBy = ack.By, AckedAt = ack.At, AckNote = ack.Note.Length > 0 ? ack.Note : null };
        }
        var stale = renotify && StaleRenotifyAfter is { } horizon && now - alert.WindowEnd > horizon;
        var why = !renotify ? null
            : silence is not null ? "silence " + silence.Id
            : marked.AckedBy is not null ? "acknowledged by " + marked.AckedBy
            : stale ? $"stale: its window ended {(now - alert.WindowEnd).TotalMinutes:0} min ago (catching up)"
            : null;
        var record = why is null;
        return new SuppressionDecision(marked, record, record && silence is null, why);
    }
}
