using Pipeline.Schemas;

namespace Pipeline.Aggregation;

/// <summary>Identity of one tumbling window of one series.</summary>
public readonly record struct WindowKey(SeriesKey Series, DateTimeOffset WindowStart);

/// <summary>
/// Everything the pipeline keeps about one series in one window. Counts and sums are exact (each event
/// weighted by round(1/sample_rate)); percentiles come from <see cref="QuantileSketch"/> (1% relative).
/// States merge, so partial windows (late data, salted hot series) combine into the same answer.
/// </summary>
public sealed class WindowState
{
    /// <summary>Number of <see cref="ErrorType"/> values.</summary>
    public const int ErrorTypeCount = 9;

    // Ids counted in this window: duplicates of an event (same event_id, another offset) count once.
    private readonly HashSet<Guid> _eventIds = [];

    /// <summary>Creates an empty state.</summary>
    public WindowState(WindowKey key, TimeSpan size, int partition)
    {
        Key = key;
        Size = size;
        Partition = partition;
    }

    public WindowKey Key { get; }
    public TimeSpan Size { get; }
    public DateTimeOffset WindowEnd => Key.WindowStart + Size;
    /// <summary>Kafka partition the series lives in.</summary>
    public int Partition { get; }

    /// <summary>Calls, weighted by 1/sample_rate.</summary>
    public long Calls { get; private set; }
    /// <summary>Events actually received (unweighted).</summary>
    public long Events { get; private set; }
    public long Successes { get; private set; }
    public long Errors { get; private set; }
    /// <summary>Errors by <see cref="ErrorType"/> index; errors without a type count as Other.</summary>
    public long[] ErrorsByType { get; } = new long[ErrorTypeCount];
    public QuantileSketch Latency { get; } = new();
    public QuantileSketch TimeToFirstToken { get; } = new();
    public long InputTokens { get; private set; }
    public long OutputTokens { get; private set; }
    public long CachedInputTokens { get; private set; }
    /// <summary>Reported plus priced cost.</summary>
    public double CostUsd { get; private set; }
    /// <summary>Calls whose cost came from the price table.</summary>
    public long PricedCalls { get; private set; }
    /// <summary>Calls with no reported cost and no price: their cost is missing from <see cref="CostUsd"/>.</summary>
    public long UnpricedCalls { get; private set; }
    public double QualitySum { get; private set; }
    public long QualityCount { get; private set; }
    public long CacheHits { get; private set; }
    /// <summary>Summed duration per stage name.</summary>
    public Dictionary<string, double> StageDurations { get; } = new(StringComparer.Ordinal);
    /// <summary>Sum and count per custom metric.</summary>
    public Dictionary<string, (double Sum, long Count)> Custom { get; } = new(StringComparer.Ordinal);

    /// <summary>True when a count or sum reached <see cref="FieldBounds.MaxWindowSum"/> and stopped there.</summary>
    public bool Saturated { get; private set; }
    /// <summary>Stage or custom metric names not kept because the window already holds <see cref="FieldBounds.MaxWindowNames"/>.</summary>
    public long DroppedNames { get; private set; }

    /// <summary>Lowest and highest Kafka offset folded in (-1 when none).</summary>
    public long MinOffset { get; private set; } = -1;
    public long MaxOffset { get; private set; } = -1;
    /// <summary>Lowest offset folded in since the last emission; -1 when everything is written.</summary>
    public long MinUnwrittenOffset { get; private set; } = -1;
    /// <summary>0 until first emitted; each emission increments it.</summary>
    public int Revision { get; private set; }
    /// <summary>True when it holds events that no emitted revision contains.</summary>
    public bool Dirty => MinUnwrittenOffset >= 0;

    public double? QualityMean => QualityCount == 0 ? null : QualitySum / QualityCount;
    public double ErrorRate => Calls == 0 ? 0 : (double)Errors / Calls;

    /// <summary>The stage with the largest summed duration, or null.</summary>
    public string? BottleneckStage => StageDurations.Count == 0 ? null : StageDurations.MaxBy(kv => kv.Value).Key;

    /// <summary>
    /// Folds one event in and returns true; returns false when its event_id is already counted in this
    /// window: a producer retry, or a replay of an event a stored revision contains. Ids, not offsets,
    /// decide, so a topic whose offsets restarted (a recreated dev broker) cannot hide new events.
    /// </summary>
    public bool Add(LlmCall call, long offset, PriceTable prices)
    {
        ArgumentNullException.ThrowIfNull(call);
        ArgumentNullException.ThrowIfNull(prices);
        if (!_eventIds.Add(call.EventId)) return false;
        // Validated events are bounded (FieldBounds), so each term below is finite and small; sums still
        // saturate at FieldBounds.MaxWindowSum instead of wrapping, and the window says so.
        var w = Math.Clamp((long)Math.Round(1 / call.SampleRate), 1L, FieldBounds.MaxWeight);
        var sat = Saturated;
        Events = FieldBounds.AddSaturating(Events, 1, ref sat);
        Calls = FieldBounds.AddSaturating(Calls, w, ref sat);
        if (call.Outcome == Outcome.Success)
        {
            Successes = FieldBounds.AddSaturating(Successes, w, ref sat);
        }
        else
        {
            Errors = FieldBounds.AddSaturating(Errors, w, ref sat);
            var t = call.ErrorType is { } et && (int)et is >= 0 and < ErrorTypeCount ? (int)et : (int)ErrorType.Other;
            ErrorsByType[t] = FieldBounds.AddSaturating(ErrorsByType[t], w, ref sat);
        }
        Latency.Add(call.LatencyMs, w);
        if (call.TimeToFirstTokenMs is { } ttft) TimeToFirstToken.Add(ttft, w);
        InputTokens = FieldBounds.AddSaturating(InputTokens, FieldBounds.MultiplySaturating(Math.Max(0, call.InputTokens), w, ref sat), ref sat);
        OutputTokens = FieldBounds.AddSaturating(OutputTokens, FieldBounds.MultiplySaturating(Math.Max(0, call.OutputTokens), w, ref sat), ref sat);
        CachedInputTokens = FieldBounds.AddSaturating(CachedInputTokens, FieldBounds.MultiplySaturating(Math.Max(0, call.CachedInputTokens ?? 0), w, ref sat), ref sat);
        if (prices.CostOf(call) is { } cost)
        {
            CostUsd += cost * w;
            if (call.CostUsd is null) PricedCalls = FieldBounds.AddSaturating(PricedCalls, w, ref sat);
        }
        else
        {
            UnpricedCalls = FieldBounds.AddSaturating(UnpricedCalls, w, ref sat);
        }
        if (call.QualityScore is { } q)
        {
            QualitySum += q * w;
            QualityCount = FieldBounds.AddSaturating(QualityCount, w, ref sat);
        }
        if (call.CacheHit) CacheHits = FieldBounds.AddSaturating(CacheHits, w, ref sat);
        foreach (var s in call.Stages)
        {
            if (StageDurations.TryGetValue(s.Name, out var d)) StageDurations[s.Name] = d + s.DurationMs * w;
            else if (StageDurations.Count < FieldBounds.MaxWindowNames) StageDurations[s.Name] = s.DurationMs * w;
            else DroppedNames++;
        }
        foreach (var (name, value) in call.Custom)
        {
            if (Custom.TryGetValue(name, out var c)) Custom[name] = (c.Sum + value * w, FieldBounds.AddSaturating(c.Count, w, ref sat));
            else if (Custom.Count < FieldBounds.MaxWindowNames) Custom[name] = (value * w, w);
            else DroppedNames++;
        }
        Saturated = sat;
        if (offset >= 0)
        {
            if (MinOffset < 0 || offset < MinOffset) MinOffset = offset;
            MaxOffset = Math.Max(MaxOffset, offset);
            if (MinUnwrittenOffset < 0) MinUnwrittenOffset = offset;
        }
        return true;
    }

    /// <summary>Adds another state of the same key (another shard, a stored revision).</summary>
    public void Merge(WindowState other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Key != Key) throw new ArgumentException($"cannot merge window {other.Key} into {Key}", nameof(other));
        var sat = Saturated || other.Saturated;
        Calls = FieldBounds.AddSaturating(Calls, other.Calls, ref sat);
        Events = FieldBounds.AddSaturating(Events, other.Events, ref sat);
        Successes = FieldBounds.AddSaturating(Successes, other.Successes, ref sat);
        Errors = FieldBounds.AddSaturating(Errors, other.Errors, ref sat);
        for (var i = 0; i < ErrorTypeCount; i++) ErrorsByType[i] = FieldBounds.AddSaturating(ErrorsByType[i], other.ErrorsByType[i], ref sat);
        Latency.Merge(other.Latency);
        TimeToFirstToken.Merge(other.TimeToFirstToken);
        InputTokens = FieldBounds.AddSaturating(InputTokens, other.InputTokens, ref sat);
        OutputTokens = FieldBounds.AddSaturating(OutputTokens, other.OutputTokens, ref sat);
        CachedInputTokens = FieldBounds.AddSaturating(CachedInputTokens, other.CachedInputTokens, ref sat);
        CostUsd += other.CostUsd;
        PricedCalls = FieldBounds.AddSaturating(PricedCalls, other.PricedCalls, ref sat);
        UnpricedCalls = FieldBounds.AddSaturating(UnpricedCalls, other.UnpricedCalls, ref sat);
        QualitySum += other.QualitySum;
        QualityCount = FieldBounds.AddSaturating(QualityCount, other.QualityCount, ref sat);
        CacheHits = FieldBounds.AddSaturating(CacheHits, other.CacheHits, ref sat);
        foreach (var (k, v) in other.StageDurations)
        {
            if (StageDurations.TryGetValue(k, out var d)) StageDurations[k] = d + v;
            else if (StageDurations.Count < FieldBounds.MaxWindowNames) StageDurations[k] = v;
            else DroppedNames++;
        }
        foreach (var (k, (s, c)) in other.Custom)
        {
            if (Custom.TryGetValue(k, out var mine)) Custom[k] = (mine.Sum + s, FieldBounds.AddSaturating(mine.Count, c, ref sat));
            else if (Custom.Count < FieldBounds.MaxWindowNames) Custom[k] = (s, c);
            else DroppedNames++;
        }
        DroppedNames += other.DroppedNames;
        Saturated = sat;
        if (other.MinOffset >= 0 && (MinOffset < 0 || other.MinOffset < MinOffset)) MinOffset = other.MinOffset;
        MaxOffset = Math.Max(MaxOffset, other.MaxOffset);
        Revision = Math.Max(Revision, other.Revision);
        _eventIds.UnionWith(other._eventIds);
    }

    /// <summary>Seeds this state from a stored revision: its contents, offsets and revision number.</summary>
    public void SeedFromStored(WindowState stored)
    {
        ArgumentNullException.ThrowIfNull(stored);
        var unwritten = MinUnwrittenOffset;
        Merge(stored);
        MinUnwrittenOffset = unwritten;
    }

    /// <summary>Marks the current contents as written, as revision <see cref="Revision"/>+1.</summary>
    public int MarkEmitted()
    {
        MinUnwrittenOffset = -1;
        return ++Revision;
    }

    /// <summary>Restores fields read back from storage (used by the ClickHouse reader).</summary>
    public void Restore(long calls, long events, long successes, long errors, long[] errorsByType, QuantileSketch latency, QuantileSketch ttft,
        long inputTokens, long outputTokens, long cachedInputTokens, double cost, long priced, long unpriced, double qualitySum, long qualityCount,
        long cacheHits, IEnumerable<KeyValuePair<string, double>> stages, IEnumerable<KeyValuePair<string, (double, long)>> custom,
        long minOffset, long maxOffset, int revision)
    {
        // Rows written by older versions may exceed today's bounds: clamp them so sums stay bounded.
        static long B(long v) => Math.Clamp(v, 0, FieldBounds.MaxWindowSum);
        calls = B(calls); events = B(events); successes = B(successes); errors = B(errors);
        inputTokens = B(inputTokens); outputTokens = B(outputTokens); cachedInputTokens = B(cachedInputTokens);
        priced = B(priced); unpriced = B(unpriced); qualityCount = B(qualityCount); cacheHits = B(cacheHits);
        errorsByType = errorsByType.Select(B).ToArray();
        Calls = calls; Events = events; Successes = successes; Errors = errors;
        Array.Copy(errorsByType, ErrorsByType, Math.Min(errorsByType.Length, ErrorTypeCount));
        Latency.Merge(latency); TimeToFirstToken.Merge(ttft);
        InputTokens = inputTokens; OutputTokens = outputTokens; CachedInputTokens = cachedInputTokens;
        CostUsd = cost; PricedCalls = priced; UnpricedCalls = unpriced; QualitySum = qualitySum; QualityCount = qualityCount; CacheHits = cacheHits;
        foreach (var (k, v) in stages) StageDurations[k] = v;
        foreach (var (k, v) in custom) Custom[k] = v;
        MinOffset = minOffset; MaxOffset = maxOffset; Revision = revision;
    }
}
