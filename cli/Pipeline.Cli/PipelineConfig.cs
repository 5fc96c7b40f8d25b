using Microsoft.Extensions.Configuration;
using Pipeline.Aggregation;
using Pipeline.ClickHouse;
using Pipeline.Consumers;
using Pipeline.Dashboard;
using Pipeline.Ingest;
using Pipeline.DevServers;
using Pipeline.Reports;
using Pipeline.Schemas;

namespace Pipeline.Cli;

/// <summary>A configuration problem, reported as one line naming the key, exit code 78.</summary>
internal sealed class ConfigException(string message) : Exception(message);

/// <summary>
/// The effective configuration. Precedence, lowest first: built-in defaults, <c>appsettings.json</c>
/// in the pipeline home, the file given by <c>--config</c>, environment variables <c>PIPELINE__Section__Key</c>,
/// then <c>--set Section:Key=value</c> flags. Kafka's address falls back to the dev broker's published one.
/// Loading refuses unknown sections and keys (see <see cref="ConfigurationSchema"/>), values that do not convert
/// and values out of range, all of them at once in one line, each naming its <c>Section:Key</c>.
/// </summary>
internal sealed class PipelineConfig
{
    /// <summary>The bound sections, in the order <c>config show</c> lists them (Kafka last).</summary>
    private static readonly (string Name, Type Type)[] Sections =
    [
        ("Local", typeof(LocalOptions)),
        (ClickHouseOptions.Section, typeof(ClickHouseOptions)),
        ("Aggregator", typeof(AggregatorOptions)),
        ("Alerting", typeof(AlertWorkerOptions)),
        ("Retention", typeof(RetentionOptions)),
        ("Dashboard", typeof(DashboardOptions)),
        ("Metrics", typeof(MetricsOptions)),
        ("WindowMetrics", typeof(WindowMetricsOptions)),
        (IngestOptions.Section, typeof(IngestOptions)),
        ("Reports", typeof(ReportsOptions)),
    ];

    private PipelineConfig(IConfigurationRoot root, string home)
    {
        Root = root;
        Home = home;
        var problems = ConfigurationSchema.Check(root, Sections);
        // Unknown keys and unconvertible values first: binding would stop at the first of them.
        ThrowIfAny(problems);
        Local = Bind<LocalOptions>("Local", problems);
        ClickHouse = Bind<ClickHouseOptions>(ClickHouseOptions.Section, problems);
        Aggregator = Bind<AggregatorOptions>("Aggregator", problems);
        Alerting = Bind<AlertWorkerOptions>("Alerting", problems);
        Retention = Bind<RetentionOptions>("Retention", problems);
        Dashboard = Bind<DashboardOptions>("Dashboard", problems);
        Metrics = Bind<MetricsOptions>("Metrics", problems);
        WindowMetrics = Bind<WindowMetricsOptions>("WindowMetrics", problems);
        Ingest = Bind<IngestOptions>(IngestOptions.Section, problems);
        Reports = Bind<ReportsOptions>("Reports", problems);
        // The price file is read here, so a bad entry fails every command (config show too) naming its key.
        Prices = PriceConfiguration.Build(Aggregator, problems);
        ThrowIfAny(problems);
        RunDir = Path.GetFullPath(Local.RunDir is { Length: > 0 } r ? r : Path.Combine(home, ".run"), home);
        var kafka = new KafkaSettings(root.GetSection(ConfigurationSchema.KafkaSection).AsEnumerable(makePathsRelative: true)
            .Where(kv => !kv.Key.Contains(':', StringComparison.Ordinal)));
        KafkaFromDevBroker = kafka.BootstrapServers is null && LocalBroker.ReadBootstrap(BrokerRunDir) is not null;
        Kafka = kafka.BootstrapServers is null && LocalBroker.ReadBootstrap(BrokerRunDir) is { } devBootstrap
            ? kafka.WithBootstrap(devBootstrap) : kafka;
    }

    public IConfigurationRoot Root { get; }
    public string Home { get; }
    public string RunDir { get; }
    public string BrokerRunDir => Path.Combine(RunDir, "broker");
    /// <summary>Where scheduled report runs write their folders: <c>Reports:OutputDirectory</c>, else under the run folder.</summary>
    public string ReportsDirectory => Reports.OutputDirectory is { Length: > 0 } d ? Path.GetFullPath(d, Home) : Path.Combine(RunDir, "reports", "scheduled");
    public LocalOptions Local { get; }
    public ClickHouseOptions ClickHouse { get; }
    public AggregatorOptions Aggregator { get; }
    /// <summary>The prices the aggregator uses: built-in, with <c>Aggregator:PricesFile</c> and <c>Aggregator:Prices</c> applied.</summary>
    public PriceTable Prices { get; }
    public AlertWorkerOptions Alerting { get; }
    public RetentionOptions Retention { get; }
    public DashboardOptions Dashboard { get; }
    public MetricsOptions Metrics { get; }
    public WindowMetricsOptions WindowMetrics { get; }
    public IngestOptions Ingest { get; }
    public ReportsOptions Reports { get; }
    public KafkaSettings Kafka { get; }
    public bool KafkaFromDevBroker { get; }

    /// <summary>Settings of the local dev ClickHouse, derived from the ClickHouse options.</summary>
    public LocalClickHouseSettings LocalClickHouse => new()
    {
        RunDir = Path.Combine(RunDir, "clickhouse"),
        HttpPort = ClickHouse.Url.Port,
        TcpPort = Local.ClickHouseTcpPort,
        WriterUser = ClickHouse.User,
        WriterPassword = ClickHouse.Password,
        AnalystUser = ClickHouse.AnalystUser,
        AnalystPassword = ClickHouse.AnalystPassword,
    };

    public static PipelineConfig Load(string? configFile, IReadOnlyList<string> sets)
    {
        // The binder converts through TypeDescriptor: from here on every TimeSpan setting reads 30s, 5m, 48h, 7d.
        Durations.RegisterConverter();
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

    /// <summary>
    /// The effective settings as key/value lines, generated from the bound options (every setting, nested ones
    /// included), secrets masked by <see cref="SecretMask"/>.
    /// </summary>
    public IEnumerable<KeyValuePair<string, string>> Describe()
    {
        var options = new object[] { Local, ClickHouse, Aggregator, Alerting, Retention, Dashboard, Metrics, WindowMetrics, Ingest, Reports };
        for (var i = 0; i < Sections.Length; i++)
        {
            foreach (var (key, value) in ConfigurationSchema.Describe(options[i], Sections[i].Name))
            {
                yield return key switch
                {
                    "Local:RunDir" => new(key, RunDir),
                    "Alerting:RulesFile" when value.Length == 0 => new(key, "(built-in defaults)"),
                    "Aggregator:PricesFile" when value.Length == 0 => new(key, "(none)"),
                    "Reports:OutputDirectory" when value.Length == 0 => new(key, ReportsDirectory),
                    _ => new(key, value),
                };
            }
            if (Sections[i].Name == "Aggregator")
            {
                foreach (var line in DescribePrices()) yield return line;
            }
        }
        foreach (var (k, v) in Kafka.Masked.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            yield return new($"Kafka:{k}", v + (k == "bootstrap.servers" && KafkaFromDevBroker ? "  (from the dev broker)" : ""));
        }
    }

    /// <summary>
    /// The prices in force, read-only lines after the Aggregator settings: <c>Aggregator:PriceVersion</c> (what
    /// <c>metrics_1m.price_version</c> will say) and one <c>Aggregator:PriceTable:provider/model[@date]</c> per entry,
    /// with where it came from (built-in, <c>Aggregator:Prices:N</c>, or the price file and line).
    /// </summary>
    private IEnumerable<KeyValuePair<string, string>> DescribePrices()
    {
        yield return new("Aggregator:PriceVersion", Prices.Version);
        foreach (var e in Prices.Entries)
        {
            var at = e.EffectiveFrom is { } from ? "@" + PriceTable.FormatDate(from) : "";
            yield return new($"Aggregator:PriceTable:{Terminal.Plain(e.Provider)}/{Terminal.Plain(e.Model)}{at}", PriceTable.Describe(e));
        }
    }

    private static void ThrowIfAny(List<string> problems)
    {
        // Price entries are checked by the options walk and again when the table is built: each problem once.
        if (problems.Count > 0) throw new ConfigException(SecretMask.MaskText(string.Join("; ", problems.Distinct(StringComparer.Ordinal))));
    }

    private T Bind<T>(string section, List<string> problems) where T : new()
    {
        var options = new T();
        try
        {
            Root.GetSection(section).Bind(options, o => o.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException ex)
        {
            // Not expected after ConfigurationSchema.Check; kept so a binder rule it misses still names the section.
            problems.Add($"{section}: {ex.Message}{(ex.InnerException is { } inner ? " " + inner.Message : "")}");
            return options;
        }
        problems.AddRange(SettingsValidator.Validate(options, section));
        return options;
    }
}
