using Pipeline.Schemas;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Pipeline.LoadGen;

/// <summary>A scenario file that cannot be used; <see cref="Line"/> is 0 when the problem has no line.</summary>
public sealed class ScenarioFileException(string source, long line, string message)
    : Exception(line > 0 ? $"{source}:{line}: {message}" : $"{source}: {message}")
{
    public long Line { get; } = line;
}

/// <summary>
/// Scenario files (YAML; JSON is valid YAML too): named traffic streams and incidents that change a
/// stream between two minutes. See <c>producers/Pipeline.LoadGen/scenarios/</c> for examples.
/// <code>
/// name: slow-retrieval
/// minutes: 90
/// streams:
///   - id: support
///     prompt_name: support_answer
///     prompt_version: "1.0"
///     calls_per_minute: 120
/// incidents:
///   - stream: support
///     from: 60
///     to: 70
///     description: retrieval index degraded
///     set: { extra_retrieval_ms: 1500 }
/// </code>
/// Also: per stream or incident <c>latency_multiplier</c>, <c>latency_drift_to</c> (a factor rising linearly
/// over the incident), <c>cost_multiplier</c> (scales tokens), <c>quality_multiplier</c>, <c>stopped: true</c>;
/// per scenario <c>late_fraction</c>, <c>late_minutes</c>, <c>duplicate_fraction</c> (arrival faults).
/// </summary>
public static class ScenarioFile
{
    private static readonly IDeserializer Yaml = new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .WithEnforceRequiredMembers()
        .Build();

    /// <summary>Loads and checks a scenario file.</summary>
    public static Scenario Load(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>Parses and checks scenario text; <paramref name="source"/> names it in errors.</summary>
    public static Scenario Parse(string text, string source)
    {
        ScenarioDocument doc;
        try
        {
            doc = Yaml.Deserialize<ScenarioDocument>(text) ?? throw new ScenarioFileException(source, 0, "empty file");
        }
        catch (YamlException ex)
        {
            var reason = ex.InnerException?.Message ?? ex.Message;
            throw new ScenarioFileException(source, ex.Start.Line, reason.Replace(Environment.NewLine, " ", StringComparison.Ordinal));
        }
        if (string.IsNullOrWhiteSpace(doc.Name)) throw new ScenarioFileException(source, 0, "name: required");
        if (doc.Minutes is < 1 or > 60 * 24 * 31) throw new ScenarioFileException(source, 0, $"minutes: {doc.Minutes} must be between 1 and {60 * 24 * 31}");
        if (doc.Streams.Count == 0) throw new ScenarioFileException(source, 0, "streams: at least one stream is required");
        var streams = new Dictionary<string, TrafficProfile>(StringComparer.Ordinal);
        foreach (var s in doc.Streams)
        {
            if (string.IsNullOrWhiteSpace(s.Id)) throw new ScenarioFileException(source, 0, "streams: every stream needs an id");
            if (!streams.TryAdd(s.Id, s.Apply(new TrafficProfile { PromptName = s.PromptName ?? "", PromptVersion = s.PromptVersion ?? "" }, source, $"streams[{s.Id}]", (0, doc.Minutes))))
            {
                throw new ScenarioFileException(source, 0, $"streams: id '{s.Id}' appears twice");
            }
        }
        var ids = streams.Keys.ToList();
        var changes = new List<StreamChange>();
        foreach (var i in doc.Incidents)
        {
            if (i.Stream is null || !streams.TryGetValue(i.Stream, out var stream)) throw new ScenarioFileException(source, 0, $"incidents: stream '{i.Stream}' is not one of the streams ({string.Join(", ", streams.Keys)})");
            if (i.From < 0 || i.To <= i.From || i.To > doc.Minutes) throw new ScenarioFileException(source, 0, $"incidents[{i.Stream}]: from {i.From} to {i.To} must satisfy 0 <= from < to <= minutes ({doc.Minutes})");
            var where = $"incidents[{i.Stream}].set";
            i.Set.Apply(stream, source, where, (i.From, i.To)); // checks the values
            var (from, to, set) = (i.From, i.To, i.Set);
            changes.Add(new StreamChange(ids.IndexOf(i.Stream), i.From, i.To, p => set.Apply(p, source, where, (from, to)), i.Description ?? $"incident on {i.Stream}"));
        }
        if (doc.LateFraction is < 0 or > 1) throw new ScenarioFileException(source, 0, $"late_fraction: {doc.LateFraction} must be between 0 and 1");
        if (doc.DuplicateFraction is < 0 or > 1) throw new ScenarioFileException(source, 0, $"duplicate_fraction: {doc.DuplicateFraction} must be between 0 and 1");
        if (doc.LateMinutes is < 2 or > 60) throw new ScenarioFileException(source, 0, $"late_minutes: {doc.LateMinutes} must be between 2 and 60");
        // Phases start and end wherever an incident does.
        var scenario = Scenario.FromStreams(doc.Name, doc.Description ?? "", doc.Minutes, streams.Values.ToList(), changes);
        return scenario with { Diurnal = doc.Diurnal, LateFraction = doc.LateFraction, LateMinutes = doc.LateMinutes, DuplicateFraction = doc.DuplicateFraction };
    }

    private sealed class ScenarioDocument
    {
        public string Name { get; set; } = "";
        public string? Description { get; set; }
        public int Minutes { get; set; } = 90;
        public bool Diurnal { get; set; }
        public double LateFraction { get; set; }
        public int LateMinutes { get; set; } = 5;
        public double DuplicateFraction { get; set; }
        public List<StreamSpec> Streams { get; set; } = [];
        public List<IncidentSpec> Incidents { get; set; } = [];
    }

    private sealed class IncidentSpec
    {
        public string? Stream { get; set; }
        public int From { get; set; }
        public int To { get; set; }
        public string? Description { get; set; }
        public StreamSpec Set { get; set; } = new();
    }

    /// <summary>Every field optional: a stream fills the defaults, an incident's <c>set</c> overrides some.</summary>
    private sealed class StreamSpec
    {
        public string? Id { get; set; }
        public string? PromptName { get; set; }
        public string? PromptVersion { get; set; }
        public string? Service { get; set; }
        public string? Environment { get; set; }
        public string? Provider { get; set; }
        public string? Model { get; set; }
        public double? CallsPerMinute { get; set; }
        public double? MedianLatencyMs { get; set; }
        public double? ErrorRate { get; set; }
        public string? ErrorType { get; set; }
        public double? MeanInputTokens { get; set; }
        public double? MeanOutputTokens { get; set; }
        public double? MeanQuality { get; set; }
        public double? TailProbability { get; set; }
        public double? TailMultiplier { get; set; }
        public double? RetrievalShare { get; set; }
        public double? ExtraRetrievalMs { get; set; }
        public double? LatencyMultiplier { get; set; }
        /// <summary>The latency factor reached at the end of the stream or incident, rising linearly from 1 at its start.</summary>
        public double? LatencyDriftTo { get; set; }
        public double? CostMultiplier { get; set; }
        public double? QualityMultiplier { get; set; }
        /// <summary>True: the stream sends nothing (calls_per_minute 0), as a series that stopped.</summary>
        public bool? Stopped { get; set; }

        /// <param name="span">Scenario minutes the spec applies over (the stream's, or its incident's): where a drift rises.</param>
        public TrafficProfile Apply(TrafficProfile p, string source, string where, (int From, int To) span)
        {
            var r = p with
            {
                PromptName = PromptName ?? p.PromptName,
                PromptVersion = PromptVersion ?? p.PromptVersion,
                Service = Service ?? p.Service,
                Environment = Environment ?? p.Environment,
                Provider = Provider ?? p.Provider,
                Model = Model ?? p.Model,
                CallsPerMinute = CallsPerMinute ?? p.CallsPerMinute,
                MedianLatencyMs = MedianLatencyMs ?? p.MedianLatencyMs,
                ErrorRate = ErrorRate ?? p.ErrorRate,
                ErrorType = ErrorType is null ? p.ErrorType : ParseErrorType(ErrorType, source, where),
                MeanInputTokens = MeanInputTokens ?? p.MeanInputTokens,
                MeanOutputTokens = MeanOutputTokens ?? p.MeanOutputTokens,
                MeanQuality = MeanQuality ?? p.MeanQuality,
                TailProbability = TailProbability ?? p.TailProbability,
                TailMultiplier = TailMultiplier ?? p.TailMultiplier,
                RetrievalShare = RetrievalShare ?? p.RetrievalShare,
                ExtraRetrievalMs = ExtraRetrievalMs ?? p.ExtraRetrievalMs,
                LatencyMultiplier = LatencyMultiplier ?? p.LatencyMultiplier,
                LatencyDrift = LatencyDriftTo is { } drift ? new LatencyDrift(drift, span.From, span.To) : p.LatencyDrift,
                CostMultiplier = CostMultiplier ?? p.CostMultiplier,
                QualityMultiplier = QualityMultiplier ?? p.QualityMultiplier,
            };
            if (Stopped == true) r = r with { CallsPerMinute = 0 };
            string? problem =
                string.IsNullOrWhiteSpace(r.PromptName) ? "prompt_name: required"
                : string.IsNullOrWhiteSpace(r.PromptVersion) ? "prompt_version: required"
                : r.CallsPerMinute is < 0 or > 1_000_000 ? $"calls_per_minute: {r.CallsPerMinute} must be between 0 and 1000000"
                : r.MedianLatencyMs <= 0 ? $"median_latency_ms: {r.MedianLatencyMs} must be positive"
                : r.ErrorRate is < 0 or > 1 ? $"error_rate: {r.ErrorRate} must be between 0 and 1"
                : r.MeanQuality is < 0 or > 1 ? $"mean_quality: {r.MeanQuality} must be between 0 and 1"
                : r.TailProbability is < 0 or > 1 ? $"tail_probability: {r.TailProbability} must be between 0 and 1"
                : r.TailMultiplier < 1 ? $"tail_multiplier: {r.TailMultiplier} must be at least 1"
                : r.RetrievalShare is < 0 or > 0.8 ? $"retrieval_share: {r.RetrievalShare} must be between 0 and 0.8"
                : r.ExtraRetrievalMs < 0 ? $"extra_retrieval_ms: {r.ExtraRetrievalMs} must not be negative"
                : r.MeanInputTokens < 0 || r.MeanOutputTokens < 0 ? "mean_input_tokens and mean_output_tokens must not be negative"
                : r.LatencyMultiplier is < 0.01 or > 100 ? $"latency_multiplier: {r.LatencyMultiplier} must be between 0.01 and 100"
                : r.LatencyDrift is { To: < 0.01 or > 100 } d ? $"latency_drift_to: {d.To} must be between 0.01 and 100"
                : r.CostMultiplier is < 0 or > 100 ? $"cost_multiplier: {r.CostMultiplier} must be between 0 and 100"
                : r.QualityMultiplier < 0 || r.MeanQuality * r.QualityMultiplier > 1 ? $"quality_multiplier: {r.QualityMultiplier} must keep mean_quality x quality_multiplier between 0 and 1"
                : null;
            return problem is null ? r : throw new ScenarioFileException(source, 0, $"{where}.{problem}");
        }

        private static ErrorType ParseErrorType(string value, string source, string where) =>
            Enum.TryParse<ErrorType>(value.Replace("_", "", StringComparison.Ordinal), ignoreCase: true, out var t)
                ? t
                : throw new ScenarioFileException(source, 0, $"{where}.error_type: '{value}' is not one of {string.Join(", ", Enum.GetNames<ErrorType>())}");
    }
}
