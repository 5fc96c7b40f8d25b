using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using Pipeline.ClickHouse;
using Pipeline.Consumers;
using Pipeline.DevServers;

namespace Pipeline.Cli;

/// <summary>A configuration problem, reported as one line naming the key, exit code 78.</summary>
internal sealed class ConfigException(string message) : Exception(message);

/// <summary>
/// The effective configuration. Precedence, lowest first: built-in defaults, <c>appsettings.json</c>
/// in the pipeline home, the file given by <c>--config</c>, environment variables <c>PIPELINE__Section__Key</c>,
/// then <c>--set Section:Key=value</c> flags. Kafka's address falls back to the dev broker's published one.
/// </summary>
internal sealed class PipelineConfig
{
    private PipelineConfig(IConfigurationRoot root, string home)
    {
        Root = root;
        Home = home;
        RunDir = Path.GetFullPath(root["Local:RunDir"] is { Length: > 0 } r ? r : Path.Combine(home, ".run"), home);
        ClickHouse = Bind<ClickHouseOptions>(ClickHouseOptions.Section);
        Aggregator = Bind<AggregatorOptions>("Aggregator");
        Alerting = Bind<AlertWorkerOptions>("Alerting");
        Retention = Bind<RetentionOptions>("Retention");
        Dashboard = Bind<Pipeline.Dashboard.DashboardOptions>("Dashboard");
        var kafka = new KafkaSettings(root.GetSection("Kafka").AsEnumerable(makePathsRelative: true)
            .Where(kv => !kv.Key.Contains(':', StringComparison.Ordinal)));
        KafkaFromDevBroker = kafka.BootstrapServers is null && LocalBroker.ReadBootstrap(BrokerRunDir) is not null;
        Kafka = kafka.BootstrapServers is null && LocalBroker.ReadBootstrap(BrokerRunDir) is { } devBootstrap
            ? kafka.WithBootstrap(devBootstrap) : kafka;
    }

    public IConfigurationRoot Root { get; }
    public string Home { get; }
    public string RunDir { get; }
    public string BrokerRunDir => Path.Combine(RunDir, "broker");
    public ClickHouseOptions ClickHouse { get; }
    public AggregatorOptions Aggregator { get; }
    public AlertWorkerOptions Alerting { get; }
    public RetentionOptions Retention { get; }
    public Pipeline.Dashboard.DashboardOptions Dashboard { get; }
    public KafkaSettings Kafka { get; }
    public bool KafkaFromDevBroker { get; }

    /// <summary>Settings of the local dev ClickHouse, derived from the ClickHouse options.</summary>
    public LocalClickHouseSettings LocalClickHouse => new()
    {
        RunDir = Path.Combine(RunDir, "clickhouse"),
        HttpPort = ClickHouse.Url.Port,
        TcpPort = Int("Local:ClickHouseTcpPort", 19000),
        WriterUser = ClickHouse.User,
        WriterPassword = ClickHouse.Password,
        AnalystUser = ClickHouse.AnalystUser,
        AnalystPassword = ClickHouse.AnalystPassword,
    };

    public static PipelineConfig Load(string? configFile, IReadOnlyList<string> sets)
    {
        var home = Environment.GetEnvironmentVariable("PIPELINE_HOME") is { Length: > 0 } h ? Path.GetFullPath(h) : Directory.GetCurrentDirectory();
        var builder = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(home, "appsettings.json"), optional: true);
        if (configFile is not null)
        {
            var path = Path.GetFullPath(configFile);
            if (!File.Exists(path))
            {
                throw new ConfigException($"--config: file '{path}' does not exist");
            }
            builder.AddJsonFile(path, optional: false);
        }
        builder.AddEnvironmentVariables("PIPELINE__");
        var overrides = new Dictionary<string, string?>();
        foreach (var s in sets)
        {
            var eq = s.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new ConfigException($"--set '{s}': expected Section:Key=value");
            }
            overrides[s[..eq]] = s[(eq + 1)..];
        }
        builder.AddInMemoryCollection(overrides);
        try
        {
            return new PipelineConfig(builder.Build(), home);
        }
        catch (InvalidDataException ex)
        {
            throw new ConfigException($"configuration file is not valid JSON: {ex.Message}");
        }
        catch (FormatException ex)
        {
            throw new ConfigException($"configuration: {ex.Message}");
        }
    }

    /// <summary>The effective settings as key/value lines, secrets masked.</summary>
    public IEnumerable<KeyValuePair<string, string>> Describe()
    {
        yield return new("Local:RunDir", RunDir);
        yield return new("ClickHouse:Url", ClickHouse.Url.ToString());
        yield return new("ClickHouse:User", ClickHouse.User);
        yield return new("ClickHouse:Password", Mask(ClickHouse.Password));
        yield return new("ClickHouse:Database", ClickHouse.Database);
        yield return new("ClickHouse:AnalystUser", ClickHouse.AnalystUser);
        yield return new("ClickHouse:AnalystPassword", Mask(ClickHouse.AnalystPassword));
        yield return new("ClickHouse:RequestTimeout", ClickHouse.RequestTimeout.ToString());
        yield return new("Aggregator:Topic", Aggregator.Topic);
        yield return new("Aggregator:GroupId", Aggregator.GroupId);
        yield return new("Aggregator:MetricsTopic", Aggregator.MetricsTopic);
        yield return new("Aggregator:DeadLetterTopic", Aggregator.DeadLetterTopic);
        yield return new("Aggregator:MaxBatchRows", Aggregator.MaxBatchRows.ToString(System.Globalization.CultureInfo.InvariantCulture));
        yield return new("Aggregator:FlushInterval", Aggregator.FlushInterval.ToString());
        yield return new("Aggregator:Windowing:WindowSize", Aggregator.Windowing.WindowSize.ToString());
        yield return new("Aggregator:Windowing:AllowedLateness", Aggregator.Windowing.AllowedLateness.ToString());
        yield return new("Aggregator:Windowing:IdleTimeout", Aggregator.Windowing.IdleTimeout.ToString());
        yield return new("Alerting:MetricsTopic", Alerting.MetricsTopic);
        yield return new("Alerting:AlertsTopic", Alerting.AlertsTopic);
        yield return new("Alerting:GroupId", Alerting.GroupId);
        yield return new("Retention:CallsDays", Retention.CallsDays.ToString(System.Globalization.CultureInfo.InvariantCulture));
        yield return new("Retention:MinuteDays", Retention.MinuteDays.ToString(System.Globalization.CultureInfo.InvariantCulture));
        yield return new("Retention:Interval", Retention.Interval.ToString());
        yield return new("Alerting:RulesFile", Alerting.RulesFile.Length == 0 ? "(built-in defaults)" : Alerting.RulesFile);
        foreach (var (k, v) in Kafka.Masked.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            yield return new($"Kafka:{k}", v + (k == "bootstrap.servers" && KafkaFromDevBroker ? "  (from the dev broker)" : ""));
        }
    }

    private static string Mask(string secret) => secret.Length == 0 ? "" : "***";

    private int Int(string key, int fallback)
    {
        var value = Root[key];
        if (value is null) return fallback;
        return int.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var i) && i is > 0 and < 65536
            ? i : throw new ConfigException($"{key}: '{value}' is not a port number");
    }

    private T Bind<T>(string section) where T : new()
    {
        var options = new T();
        try
        {
            Root.GetSection(section).Bind(options, o => o.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException ex)
        {
            throw new ConfigException($"{section}: {ex.Message}");
        }
        var results = new List<ValidationResult>();
        if (options is AggregatorOptions aggregator)
        {
            results.AddRange(AggregatorOptionsValidation.Validate(aggregator));
        }
        if (options is RetentionOptions retention && retention.Validate() is { } problem)
        {
            throw new ConfigException($"{section}:{problem}");
        }
        if (results.Count > 0 || !Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true))
        {
            var first = results[0];
            throw new ConfigException($"{section}:{string.Join(',', first.MemberNames)}: {first.ErrorMessage}");
        }
        return options;
    }
}
