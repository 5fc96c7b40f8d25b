using Pipeline.Schemas;

namespace Pipeline.LoadGen;

/// <summary>One stream of calls: a prompt version on a model, with its traffic and behaviour.</summary>
public sealed record TrafficProfile
{
    public required string PromptName { get; init; }
    public required string PromptVersion { get; init; }
    public string Service { get; init; } = "support-bot";
    public string Environment { get; init; } = "prod";
    public string Provider { get; init; } = "openai";
    public string Model { get; init; } = "gpt-4o-mini";
    public double CallsPerMinute { get; init; } = 100;
    /// <summary>Median latency; the distribution is log-normal with sigma 0.45 (p95 ≈ 2.1 × median).</summary>
    public double MedianLatencyMs { get; init; } = 400;
    public double ErrorRate { get; init; } = 0.01;
    public ErrorType ErrorType { get; init; } = ErrorType.ServerError;
    public double MeanInputTokens { get; init; } = 900;
    public double MeanOutputTokens { get; init; } = 250;
    public double MeanQuality { get; init; } = 0.93;
    /// <summary>Share of calls in the slow tail (a retry, a cold cache): their latency is multiplied by <see cref="TailMultiplier"/>.</summary>
    public double TailProbability { get; init; } = 0.01;
    /// <summary>Latency factor of the slow tail.</summary>
    public double TailMultiplier { get; init; } = 3;
    /// <summary>Mean share of the latency spent in the retrieval stage (the rest is generation).</summary>
    public double RetrievalShare { get; init; } = 0.2;
    /// <summary>Extra retrieval time added to every call (a degraded index or vector store).</summary>
    public double ExtraRetrievalMs { get; init; }
    /// <summary>Factor on every call's latency (a slower model or provider), at least 0.01. Default 1.</summary>
    public double LatencyMultiplier { get; init; } = 1;
    /// <summary>A latency factor that grows linearly over a span of the scenario (a slow degradation); null: none.</summary>
    public LatencyDrift? LatencyDrift { get; init; }
    /// <summary>
    /// Factor on every call's input and output tokens (a prompt or its answers grew), so the cost per call
    /// scales by the same factor under any price table, at least 0. Default 1.
    /// </summary>
    public double CostMultiplier { get; init; } = 1;
    /// <summary>Factor on <see cref="MeanQuality"/> (a worse prompt or model), 0 to 1/<see cref="MeanQuality"/>. Default 1.</summary>
    public double QualityMultiplier { get; init; } = 1;
}

/// <summary>
/// A latency factor rising linearly from 1 at scenario minute <paramref name="FromMinute"/> to
/// <paramref name="To"/> at minute <paramref name="ToMinute"/> (by event time, to the millisecond), on top of
/// <see cref="TrafficProfile.LatencyMultiplier"/>. Outside the span the nearer end applies.
/// </summary>
public sealed record LatencyDrift(double To, int FromMinute, int ToMinute)
{
    /// <summary>The factor at <paramref name="minute"/> minutes (fractional) into the scenario.</summary>
    public double FactorAt(double minute)
    {
        var span = Math.Max(1, ToMinute - FromMinute);
        var progress = Math.Clamp((minute - FromMinute) / span, 0, 1);
        return 1 + (To - 1) * progress;
    }
}

/// <summary>A change to one stream between two scenario minutes, for <see cref="Scenario.FromStreams"/>.</summary>
/// <param name="Stream">Index of the stream in the list given to <see cref="Scenario.FromStreams"/>.</param>
/// <param name="From">First minute of the change (inclusive).</param>
/// <param name="To">Minute the change ends (exclusive).</param>
/// <param name="Change">The stream's profile during the change, from its profile before it.</param>
/// <param name="Description">What happens, for phase descriptions.</param>
public sealed record StreamChange(int Stream, int From, int To, Func<TrafficProfile, TrafficProfile> Change, string Description);

/// <summary>A phase of a scenario: from minute <c>From</c> (inclusive) to <c>To</c>, these profiles run.</summary>
public sealed record Phase(int From, int To, IReadOnlyList<TrafficProfile> Profiles, string Description);

/// <summary>
/// A scenario is a timeline of phases. <see cref="Generate"/> turns it into events with event times laid
/// out over the scenario's minutes ending at a given time, so a 90-minute day can be replayed in seconds.
/// </summary>
public sealed record Scenario(string Name, string Description, int Minutes, IReadOnlyList<Phase> Phases)
{
    /// <summary>When true, call rates follow a day curve by event time (peak mid-afternoon UTC, trough at night).</summary>
    public bool Diurnal { get; init; }

    /// <summary>
    /// Share of calls, 0 to 1, that arrive late: each is sent among the calls of a minute
    /// <see cref="LateMinutes"/> later (at least 2, so beyond the default 60 s allowed lateness: its window
    /// has closed and gets a revision). Default 0.
    /// </summary>
    public double LateFraction { get; init; }
    /// <summary>Most minutes a late call is delayed, 2 to 60; each late call's delay is uniform in [2, this]. Default 5.</summary>
    public int LateMinutes { get; init; } = 5;
    /// <summary>Share of calls, 0 to 1, sent twice with the same event id (a producer retry), the copy up to 2 minutes later. Default 0.</summary>
    public double DuplicateFraction { get; init; }

    /// <summary>
    /// A scenario of streams and changes to them: phases start and end wherever a change does, and in each
    /// phase a stream runs with every change in force applied in the order given.
    /// </summary>
    public static Scenario FromStreams(string name, string description, int minutes, IReadOnlyList<TrafficProfile> streams, IReadOnlyList<StreamChange> changes)
    {
        ArgumentNullException.ThrowIfNull(streams);
        ArgumentNullException.ThrowIfNull(changes);
        ArgumentOutOfRangeException.ThrowIfLessThan(minutes, 1);
        foreach (var c in changes)
        {
            if (c.Stream < 0 || c.Stream >= streams.Count) throw new ArgumentException($"change '{c.Description}': stream {c.Stream} is not one of the {streams.Count} streams", nameof(changes));
            if (c.From < 0 || c.To <= c.From || c.To > minutes) throw new ArgumentException($"change '{c.Description}': from {c.From} to {c.To} must satisfy 0 <= from < to <= {minutes}", nameof(changes));
        }
        var cuts = changes.SelectMany(c => new[] { c.From, c.To }).Append(0).Append(minutes).Distinct().Order().ToList();
        var phases = new List<Phase>();
        for (var k = 0; k + 1 < cuts.Count; k++)
        {
            var (from, to) = (cuts[k], cuts[k + 1]);
            var active = changes.Where(c => c.From <= from && c.To >= to).ToList();
            var profiles = streams.Select((p, i) => active.Where(c => c.Stream == i).Aggregate(p, (profile, c) => c.Change(profile))).ToList();
            var text = active.Count == 0 ? "normal" : string.Join("; ", active.Select(c => c.Description));
            phases.Add(new Phase(from, to, profiles, text));
        }
        return new Scenario(name, description, minutes, phases);
    }

    private static readonly TrafficProfile Support = new() { PromptName = "support_answer", PromptVersion = "1.0", CallsPerMinute = 120 };
    private static readonly TrafficProfile Summarize = new()
    {
        PromptName = "summarize_ticket", PromptVersion = "3.1", Model = "gpt-4o", CallsPerMinute = 60, MedianLatencyMs = 350, MeanInputTokens = 2500, MeanOutputTokens = 150,
    };

    /// <summary>The scenarios `pipeline loadgen` and the tests know by name.</summary>
    public static IReadOnlyDictionary<string, Scenario> All { get; } = new Dictionary<string, Scenario>
    {
        ["steady"] = new("steady", "two prompts with normal noise, no incident", 90, [new(0, 90, [Support, Summarize], "steady traffic")]),
        ["release-regression"] = new("release-regression", "support_answer 2.0 ships at minute 60 with 2.5x the latency, rolled back at minute 70", 90,
        [
            new(0, 60, [Support, Summarize], "version 1.0 in production"),
            new(60, 70, [Support with { PromptVersion = "2.0", MedianLatencyMs = 1000 }, Summarize], "version 2.0 released: p95 more than doubles"),
            new(70, 90, [Support, Summarize], "rolled back to 1.0"),
        ]),
        ["provider-outage"] = new("provider-outage", "the provider fails 40% of summarize_ticket calls from minute 60 to 70", 90,
        [
            new(0, 60, [Support, Summarize], "normal"),
            new(60, 70, [Support, Summarize with { ErrorRate = 0.4, ErrorType = ErrorType.ProviderError }], "provider outage"),
            new(70, 90, [Support, Summarize], "recovered"),
        ]),
        ["traffic-spike"] = new("traffic-spike", "support_answer traffic triples from minute 60 to 70", 90,
        [
            new(0, 60, [Support, Summarize], "normal"),
            new(60, 70, [Support with { CallsPerMinute = 360 }, Summarize], "traffic spike"),
            new(70, 90, [Support, Summarize], "back to normal"),
        ]),
        ["cost-jump"] = new("cost-jump", "summarize_ticket prompts grow to 2.5x the input tokens from minute 60 to 70", 90,
        [
            new(0, 60, [Support, Summarize], "normal"),
            new(60, 70, [Support, Summarize with { MeanInputTokens = 6250 }], "prompt bloat: cost per call up"),
            new(70, 90, [Support, Summarize], "fixed"),
        ]),
        ["slow-retrieval"] = new("slow-retrieval", "the retrieval stage of support_answer slows by 1.5 s from minute 60 to 70", 90,
        [
            new(0, 60, [Support, Summarize], "normal"),
            new(60, 70, [Support with { ExtraRetrievalMs = 1500 }, Summarize], "retrieval index degraded"),
            new(70, 90, [Support, Summarize], "index recovered"),
        ]),
    };

    /// <summary>A built-in scenario by name, or a scenario file (YAML or JSON) by path.</summary>
    public static Scenario Resolve(string nameOrPath)
    {
        ArgumentNullException.ThrowIfNull(nameOrPath);
        if (All.TryGetValue(nameOrPath, out var builtIn)) return builtIn;
        if (File.Exists(nameOrPath)) return ScenarioFile.Load(nameOrPath);
        throw new ScenarioFileException(nameOrPath, 0, $"no built-in scenario of that name (known: {string.Join(", ", All.Keys)}) and no such file");
    }

    /// <summary>The same scenario over <paramref name="minutes"/>: phases are cut, or the last one runs longer.</summary>
    public Scenario WithMinutes(int minutes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(minutes, 1);
        var phases = Phases.Where(p => p.From < minutes).Select(p => p with { To = Math.Min(p.To, minutes) }).ToList();
        phases[^1] = phases[^1] with { To = minutes };
        return this with { Minutes = minutes, Phases = phases };
    }

    /// <summary>
    /// The events of the scenario, the last minute ending at <paramref name="end"/>, in the order they are
    /// sent: event-time order, except late calls and duplicate copies (<see cref="LateFraction"/>,
    /// <see cref="DuplicateFraction"/>), which follow the calls of a later minute. Without those the events,
    /// their order and ids are the same as before they existed.
    /// </summary>
    public IEnumerable<LlmCall> Generate(DateTimeOffset end, int seed = 42)
    {
        if (LateFraction is < 0 or > 1 || DuplicateFraction is < 0 or > 1) throw new InvalidOperationException($"{Name}: late and duplicate fractions must be between 0 and 1");
        if (LateMinutes is < 2 or > 60) throw new InvalidOperationException($"{Name}: late minutes {LateMinutes} must be between 2 and 60");
        return LateFraction == 0 && DuplicateFraction == 0 ? GenerateInOrder(end, seed) : WithArrivals(GenerateInOrder(end, seed), end, seed);
    }

    /// <summary>Holds back late calls and sends duplicate copies, from a generator of its own (the calls themselves do not change).</summary>
    private IEnumerable<LlmCall> WithArrivals(IEnumerable<LlmCall> calls, DateTimeOffset end, int seed)
    {
        var random = new Random(unchecked(seed * 7919 + 17));
        var start = end.AddMinutes(-Minutes);
        var startMinute = (start.UtcTicks - start.UtcTicks % TimeSpan.TicksPerMinute) / TimeSpan.TicksPerMinute;
        var held = new PriorityQueue<LlmCall, (long Minute, long Order)>();
        long order = 0;
        var current = long.MinValue;
        foreach (var call in calls)
        {
            var minute = call.OccurredAt.UtcTicks / TimeSpan.TicksPerMinute - startMinute;
            if (minute != current)
            {
                current = minute;
                while (held.TryPeek(out _, out var due) && due.Minute < minute) yield return held.Dequeue();
            }
            if (random.NextDouble() < LateFraction)
            {
                held.Enqueue(call, (minute + random.Next(2, LateMinutes + 1), order++));
                continue;
            }
            yield return call;
            if (random.NextDouble() < DuplicateFraction) held.Enqueue(call, (minute + random.Next(0, 3), order++));
        }
        while (held.Count > 0) yield return held.Dequeue();
    }

    private IEnumerable<LlmCall> GenerateInOrder(DateTimeOffset end, int seed)
    {
        var random = new Random(seed);
        var start = end.AddMinutes(-Minutes);
        start = new DateTimeOffset(start.UtcTicks - start.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero);
        // Ids from a generator of their own, seeded by the seed and the first minute: the same seed over the same
        // minutes gives the same events, ids included (a replay), while a later run is new traffic.
        var ids = new Random(unchecked(seed * 1_000_003 + (int)(start.ToUnixTimeSeconds() / 60))); // not HashCode: it differs per process
        for (var minute = 0; minute < Minutes; minute++)
        {
            var phase = Phases.First(p => minute >= p.From && minute < p.To);
            var calls = new List<LlmCall>();
            foreach (var profile in phase.Profiles)
            {
                var rate = profile.CallsPerMinute * (Diurnal ? DayCurve(start.AddMinutes(minute)) : 1);
                var n = Poisson(random, rate);
                for (var i = 0; i < n; i++)
                {
                    var offsetMs = random.Next(60_000);
                    var factor = profile.LatencyMultiplier * (profile.LatencyDrift?.FactorAt(minute + offsetMs / 60_000.0) ?? 1);
                    calls.Add(Call(random, profile, start.AddMinutes(minute).AddMilliseconds(offsetMs), factor) with { EventId = NextId(ids) });
                }
            }
            foreach (var c in calls.OrderBy(c => c.OccurredAt))
            {
                yield return c;
            }
        }
    }

    /// <summary>Rate factor by hour of day: 1.5 at 15:00 UTC, 0.5 at 03:00 UTC.</summary>
    public static double DayCurve(DateTimeOffset at) => 1 + 0.5 * Math.Sin(2 * Math.PI * ((at.UtcDateTime.TimeOfDay.TotalHours - 9) / 24));

    private static LlmCall Call(Random random, TrafficProfile p, DateTimeOffset at, double latencyFactor)
    {
        var tail = random.NextDouble() < p.TailProbability ? p.TailMultiplier : 1;
        var baseLatency = p.MedianLatencyMs * Math.Exp(0.45 * Gaussian(random)) * tail * latencyFactor;
        var error = random.NextDouble() < p.ErrorRate;
        var input = (long)Math.Max(1, p.MeanInputTokens * Math.Exp(0.3 * Gaussian(random)) * p.CostMultiplier);
        var output = error ? 0 : (long)Math.Max(1, p.MeanOutputTokens * Math.Exp(0.3 * Gaussian(random)) * p.CostMultiplier);
        var retrieval = baseLatency * p.RetrievalShare * (0.75 + 0.5 * random.NextDouble()) + p.ExtraRetrievalMs;
        var latency = baseLatency + p.ExtraRetrievalMs;
        return new LlmCall
        {
            EventId = Guid.Empty, // set by Generate from its own seeded generator
            OccurredAt = DateTimeOffset.FromUnixTimeMilliseconds(at.ToUnixTimeMilliseconds()),
            Environment = p.Environment,
            Service = p.Service,
            Operation = "chat",
            Provider = p.Provider,
            RequestModel = p.Model,
            ResponseModel = p.Model,
            PromptName = p.PromptName,
            PromptVersion = p.PromptVersion,
            Tags = new Dictionary<string, string> { ["feature"] = p.PromptName, ["cohort"] = random.NextDouble() < 0.3 ? "enterprise" : "self-serve" },
            LatencyMs = Math.Round(latency, 2),
            TimeToFirstTokenMs = Math.Round(latency * 0.3, 2),
            InputTokens = input,
            OutputTokens = output,
            Outcome = error ? Outcome.Error : Outcome.Success,
            ErrorType = error ? p.ErrorType : null,
            ErrorMessage = error ? "upstream returned 5xx" : null,
            HttpStatus = error ? 502 : 200,
            QualityScore = error ? null : Math.Clamp(p.MeanQuality * p.QualityMultiplier + 0.05 * Gaussian(random), 0, 1),
            Stages = [new Stage("retrieval", Math.Round(retrieval, 2)), new Stage("generation", Math.Round(latency - retrieval, 2))],
        };
    }

    private static Guid NextId(Random r)
    {
        Span<byte> bytes = stackalloc byte[16];
        r.NextBytes(bytes);
        return new Guid(bytes);
    }

    private static double Gaussian(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());

    private static int Poisson(Random r, double mean) => (int)Math.Max(0, Math.Round(mean + Math.Sqrt(mean) * Gaussian(r)));
}
