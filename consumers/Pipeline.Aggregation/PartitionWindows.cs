using System.ComponentModel.DataAnnotations;
using Pipeline.Schemas;

namespace Pipeline.Aggregation;

/// <summary>Windowing settings. Section <c>Aggregator:Windowing</c>.</summary>
public sealed class WindowingOptions : IValidatableObject
{
    /// <summary>Tumbling window length, 1 s to 1 hour and dividing one hour. Default 1 minute.</summary>
    [DurationRange("1s", "1h")]
    public TimeSpan WindowSize { get; set; } = TimeSpan.FromMinutes(1);
    /// <summary>
    /// How far behind the newest event time the watermark trails, 0 to 1 day. Zero is allowed: windows then
    /// close as soon as a newer event passes their end, and late events still produce revisions. Default 60 s.
    /// </summary>
    [DurationRange("0", "1d")]
    public TimeSpan AllowedLateness { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>
    /// A partition with no events for this long (processing time) lets its watermark follow the clock,
    /// so an idle partition does not hold its windows open forever; 1 ms to 1 day. Default 30 s.
    /// </summary>
    [DurationRange("1ms", "1d")]
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// How long (event time, after close) a closed window's state stays in memory for late events, 0 to 7 days.
    /// Zero is allowed: a late event then reloads its window's stored revision. Default 10 minutes.
    /// </summary>
    [DurationRange("0", "7d")]
    public TimeSpan LateRetention { get; set; } = TimeSpan.FromMinutes(10);
    /// <summary>
    /// At most this many written windows per partition stay in memory for late events, whatever
    /// <see cref="LateRetention"/> says: a busy partition with many series would otherwise hold every series'
    /// last minutes. The oldest go first; a late event for one is then rebuilt from storage, exactly as past
    /// retention. 0 to 1,000,000 (0: none retained). Default 20,000.
    /// </summary>
    [Range(0, 1_000_000)]
    public int MaxRetainedWindows { get; set; } = 20_000;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        // Windows align to the hour, so rollups and every partition agree on where a window starts.
        if (WindowSize > TimeSpan.Zero && TimeSpan.FromHours(1).Ticks % WindowSize.Ticks != 0)
        {
            yield return new ValidationResult($"{Durations.Format(WindowSize)} must divide one hour", [nameof(WindowSize)]);
        }
    }
}

/// <summary>What happened to one event offered to <see cref="PartitionWindows.Add"/>.</summary>
public enum AddOutcome
{
    /// <summary>Folded into an open window.</summary>
    OnTime,
    /// <summary>Its window had closed: folded in, and a new revision will be emitted.</summary>
    Late,
    /// <summary>Already included in a stored revision (a replay): ignored.</summary>
    Duplicate,
}

/// <summary>
/// Event-time tumbling windows of the series of one Kafka partition, with that partition's watermark.
/// Pure: time comes from <see cref="TimeProvider"/>, storage from the caller. Nothing is dropped for
/// lateness: a late event reopens its window's state and produces a new revision.
/// </summary>
public sealed class PartitionWindows
{
    private readonly WindowingOptions _options;
    private readonly TimeProvider _time;
    private readonly PriceTable _prices;
    private readonly Dictionary<WindowKey, WindowState> _windows = [];
    private DateTimeOffset _maxEventTime = DateTimeOffset.MinValue;
    private DateTimeOffset _clockWatermark = DateTimeOffset.MinValue;
    private long _lastEventTicks;

    public PartitionWindows(int partition, WindowingOptions options, PriceTable prices, TimeProvider time)
    {
        Partition = partition;
        _options = options;
        _prices = prices;
        _time = time;
        _lastEventTicks = time.GetTimestamp();
    }

    public int Partition { get; }

    /// <summary>Windows that end at or before this are closed.</summary>
    public DateTimeOffset Watermark
    {
        get
        {
            var byEvents = _maxEventTime == DateTimeOffset.MinValue ? DateTimeOffset.MinValue : _maxEventTime - _options.AllowedLateness;
            return byEvents > _clockWatermark ? byEvents : _clockWatermark;
        }
    }

    /// <summary>Windows held in memory (open, or closed and retained for late events).</summary>
    public int WindowCount => _windows.Count;

    /// <summary>The start of the window <paramref name="eventTime"/> falls in.</summary>
    public static DateTimeOffset WindowStartOf(DateTimeOffset eventTime, TimeSpan size)
    {
        var ticks = eventTime.UtcTicks - (eventTime.UtcTicks % size.Ticks);
        return new DateTimeOffset(ticks, TimeSpan.Zero);
    }

    /// <summary>True when the window is neither in memory nor still open: it was written, and is rebuilt from storage instead of added to.</summary>
    public bool NeedsStoredState(LlmCall call)
    {
        ArgumentNullException.ThrowIfNull(call);
        var key = new WindowKey(SeriesKey.Of(call), WindowStartOf(call.OccurredAt, _options.WindowSize));
        return !_windows.ContainsKey(key) && key.WindowStart + _options.WindowSize <= Watermark;
    }

    /// <summary>
    /// Raises the watermark to what an earlier owner of the partition had reached (the end of the latest
    /// stored window), so a window it already wrote is recognised as closed, not started afresh.
    /// </summary>
    public void RestoreWatermark(DateTimeOffset watermark)
    {
        if (watermark > _clockWatermark) _clockWatermark = watermark;
    }

    /// <summary>Seeds a window from its stored revision (after a restart or for a very late event).</summary>
    public void Seed(WindowState stored)
    {
        ArgumentNullException.ThrowIfNull(stored);
        if (!_windows.TryGetValue(stored.Key, out var state))
        {
            state = new WindowState(stored.Key, _options.WindowSize, Partition);
            _windows[stored.Key] = state;
        }
        state.SeedFromStored(stored);
    }

    /// <summary>Folds one event into its window.</summary>
    public AddOutcome Add(LlmCall call, long offset)
    {
        ArgumentNullException.ThrowIfNull(call);
        _lastEventTicks = _time.GetTimestamp();
        var key = new WindowKey(SeriesKey.Of(call), WindowStartOf(call.OccurredAt, _options.WindowSize));
        var closed = key.WindowStart + _options.WindowSize <= Watermark;
        if (!_windows.TryGetValue(key, out var state))
        {
            state = new WindowState(key, _options.WindowSize, Partition);
            _windows[key] = state;
        }
        if (call.OccurredAt > _maxEventTime) _maxEventTime = call.OccurredAt;
        if (!state.Add(call, offset, _prices)) return AddOutcome.Duplicate;
        return closed || state.Revision > 0 ? AddOutcome.Late : AddOutcome.OnTime;
    }

    /// <summary>
    /// Advances the idle-partition clock and returns the windows to emit now: every closed window holding
    /// events no revision contains. The caller writes them, then calls <see cref="MarkEmitted"/>.
    /// </summary>
    /// <param name="caughtUp">
    /// False while the partition still has records to read: a backlog is not idleness, and letting the
    /// watermark follow the clock then would make the whole backlog late.
    /// </param>
    public IReadOnlyList<WindowState> DueWindows(bool caughtUp = true)
    {
        if (caughtUp && _time.GetElapsedTime(_lastEventTicks) >= _options.IdleTimeout)
        {
            var byClock = _time.GetUtcNow() - _options.AllowedLateness;
            if (byClock > _clockWatermark) _clockWatermark = byClock;
        }
        var watermark = Watermark;
        return _windows.Values.Where(w => w.Dirty && w.WindowEnd <= watermark).OrderBy(w => w.Key.WindowStart).ToList();
    }

    /// <summary>
    /// Records that these windows were durably written, and forgets written windows past retention or beyond
    /// <see cref="WindowingOptions.MaxRetainedWindows"/> (oldest first). Returns how many the size bound evicted.
    /// </summary>
    public int MarkEmitted(IEnumerable<WindowState> written)
    {
        ArgumentNullException.ThrowIfNull(written);
        foreach (var w in written)
        {
            w.MarkEmitted();
        }
        var forgetBefore = Watermark - _options.LateRetention;
        foreach (var key in _windows.Where(kv => !kv.Value.Dirty && kv.Value.WindowEnd <= forgetBefore).Select(kv => kv.Key).ToList())
        {
            _windows.Remove(key);
        }
        if (_windows.Count <= _options.MaxRetainedWindows) return 0;
        // Only written, closed windows may go: open or unwritten ones hold events nothing else has.
        var watermark = Watermark;
        var retained = _windows.Values.Where(w => !w.Dirty && w.WindowEnd <= watermark).ToList();
        var excess = retained.Count - _options.MaxRetainedWindows;
        if (excess <= 0) return 0;
        foreach (var w in retained.OrderBy(w => w.WindowEnd).Take(excess))
        {
            _windows.Remove(w.Key);
        }
        return excess;
    }

    /// <summary>
    /// The lowest offset a restart must replay from so no unwritten window loses events; null when every
    /// folded-in event is written.
    /// </summary>
    public long? LowestOffsetNeeded()
    {
        long? lowest = null;
        foreach (var w in _windows.Values)
        {
            if (w.Dirty && (lowest is null || w.MinUnwrittenOffset < lowest)) lowest = w.MinUnwrittenOffset;
        }
        return lowest;
    }

    /// <summary>Every window with unwritten events, open or closed (for a clean hand-over on shutdown).</summary>
    public IReadOnlyList<WindowState> DirtyWindows() => _windows.Values.Where(w => w.Dirty).ToList();
}
