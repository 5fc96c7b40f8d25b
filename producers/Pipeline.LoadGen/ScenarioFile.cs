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
            if (!streams.TryAdd(s.Id, s.Apply(new TrafficProfile { PromptName = s.PromptName ?? "", PromptVersion = s.PromptVersion ?? "" }, source, $"streams[{s.Id}]")))
            {
                throw new ScenarioFileException(source, 0, $"streams: id '{s.Id}' appears twice");
            }
        }
        foreach (var i in doc.Incidents)
        {
            if (i.Stream is null || !streams.TryGetValue(i.Stream, out var stream)) throw new ScenarioFileException(source, 0, $"incidents: stream '{i.Stream}' is not one of the streams ({string.Join(", ", streams.Keys)})");
            if (i.From < 0 || i.To <= i.From || i.To > doc.Minutes) throw new ScenarioFileException(source, 0, $"incidents[{i.Stream}]: from {i.From} to {i.To} must satisfy 0 <= from < to <= minutes ({doc.Minutes})");
            i.Set.Apply(stream, source, $"incidents[{i.Stream}].set"); // checks the values
        }
        // Phases start and end wherever an incident does.
        var cuts = doc.Incidents.SelectMany(i => new[] { i.From, i.To }).Append(0).Append(doc.Minutes).Distinct().Order().ToList();
        var phases = new List<Phase>();
        for (var k = 0; k + 1 < cuts.Count; k++)
        {
            var (from, to) = (cuts[k], cuts[k + 1]);
            var active = doc.Incidents.Where(i => i.From <= from && i.To >= to).ToList();
            var profiles = streams.Select(p => active.Where(i => i.Stream == p.Key).Aggregate(p.Value, (profile, i) => i.Set.Apply(profile, source, "set"))).ToList();
            var description = active.Count == 0 ? "normal" : string.Join("; ", active.Select(i => i.Description ?? $"incident on {i.Stream}"));
            phases.Add(new Phase(from, to, profiles, description));
        }
        return new Scenario(doc.Name, doc.Description ?? "", doc.Minutes, phases) { Diurnal = doc.Diurnal };
    }

    private sealed class ScenarioDocument
    {
        public string Name { get; set; } = "";
        public string? Description { get; set; }
        public int Minutes { get; set; } = 90;
        public bool Diurnal { get; set; }
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

        public TrafficProfile Apply(TrafficProfile p, string source, string where)
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
            };
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
                : null;
            return problem is null ? r : throw new ScenarioFileException(source, 0, $"{where}.{problem}");
        }

        private static ErrorType ParseErrorType(string value, string source, string where) =>
            Enum.TryParse<ErrorType>(value.Replace("_", "", StringComparison.Ordinal), ignoreCase: true, out var t)
                ? t
                : throw new ScenarioFileException(source, 0, $"{where}.error_type: '{value}' is not one of {string.Join(", ", Enum.GetNames<ErrorType>())}");
    }
}
