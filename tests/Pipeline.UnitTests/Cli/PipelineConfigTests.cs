using Pipeline.Cli;
using Pipeline.Consumers;

namespace Pipeline.UnitTests.Cli;

public sealed class PipelineConfigTests : IDisposable
{
    private readonly string _home = Directory.CreateTempSubdirectory("pipeline-config-").FullName;

    public void Dispose() => Directory.Delete(_home, recursive: true);

    [Fact]
    public void Load_SetFlag_OverridesConfigFile()
    {
        var file = Path.Combine(_home, "c.json");
        File.WriteAllText(file, """{ "ClickHouse": { "Database": "from_file", "User": "u1" } }""");
        var config = PipelineConfig.Load(file, ["ClickHouse:Database=from_flag", $"Local:RunDir={_home}"]);
        Assert.Equal("from_flag", config.ClickHouse.Database);
        Assert.Equal("u1", config.ClickHouse.User);
    }

    [Fact]
    public void Load_BadDatabaseName_NamesTheKey()
    {
        var ex = Assert.Throws<ConfigException>(() => PipelineConfig.Load(null, ["ClickHouse:Database=x; DROP"]));
        Assert.Contains("ClickHouse:Database", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_BadTimeSpan_NamesTheKey()
    {
        var ex = Assert.Throws<ConfigException>(() => PipelineConfig.Load(null, ["ClickHouse:RequestTimeout=soon"]));
        Assert.Contains("ClickHouse:RequestTimeout", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Retention:CallsDays=1", "Retention:CallsDays")]
    [InlineData("Retention:MinuteDays=7", "Retention:MinuteDays")]
    [InlineData("Retention:Interval=00:00:01", "Retention:Interval")]
    public void Load_BadRetention_NamesTheKey(string setting, string key)
    {
        var ex = Assert.Throws<ConfigException>(() => PipelineConfig.Load(null, [setting, $"Local:RunDir={_home}"]));
        Assert.StartsWith(key, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingConfigFile_IsAConfigError()
    {
        var ex = Assert.Throws<ConfigException>(() => PipelineConfig.Load(Path.Combine(_home, "nope.json"), []));
        Assert.Contains("--config", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Describe_MasksSecrets()
    {
        var config = PipelineConfig.Load(null, ["ClickHouse:Password=hunter2", "Kafka:sasl.password=s3cret", "Kafka:bootstrap.servers=k:9092", $"Local:RunDir={_home}"]);
        var lines = config.Describe().ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal("***", lines["ClickHouse:Password"]);
        Assert.Equal("***", lines["Kafka:sasl.password"]);
        Assert.Equal("***", lines["ClickHouse:AnalystPassword"]);
        Assert.Equal("k:9092", lines["Kafka:bootstrap.servers"]);
        Assert.DoesNotContain(lines.Values, v => v.Contains("hunter2", StringComparison.Ordinal) || v.Contains("s3cret", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Nonsense:Key=1", "Nonsense")]
    [InlineData("Aggregator:MaxEventAge=-1.00:00:00", "Aggregator:MaxEventAge")]
    [InlineData("Aggregator:MaxEventAge=0", "Aggregator:MaxEventAge")]
    [InlineData("Aggregator:MaxClockSkew=0", "Aggregator:MaxClockSkew")]
    [InlineData("Aggregator:FlushInterval=-1s", "Aggregator:FlushInterval")]
    [InlineData("Aggregator:FlushInterval=48:00:00", "Aggregator:FlushInterval")]
    [InlineData("Aggregator:MaxBatchRows=0", "Aggregator:MaxBatchRows")]
    [InlineData("Aggregator:GroupId= ", "Aggregator:GroupId")]
    [InlineData("Aggregator:Anomalies:Threshold=NaN", "Aggregator:Anomalies:Threshold")]
    [InlineData("Aggregator:Anomalies:Threshold=Infinity", "Aggregator:Anomalies:Threshold")]
    [InlineData("Aggregator:Anomalies:MinSamples=1", "Aggregator:Anomalies:MinSamples")]
    [InlineData("Aggregator:Anomalies:BaselineWindows=5", "Aggregator:Anomalies:BaselineWindows")]
    [InlineData("Aggregator:Windowing:WindowSize=7m", "Aggregator:Windowing:WindowSize")]
    [InlineData("Aggregator:Windowing:AllowedLateness=-1s", "Aggregator:Windowing:AllowedLateness")]
    [InlineData("Aggregator:Windowing:IdleTimeout=0", "Aggregator:Windowing:IdleTimeout")]
    [InlineData("Aggregator:Windowing:Size=1m", "Aggregator:Windowing:Size")]
    [InlineData("Alerting:CommitInterval=0", "Alerting:CommitInterval")]
    [InlineData("Alerting:Webhooks:0:Format=teams", "Alerting:Webhooks:0")]
    [InlineData("Alerting:SuppressionRefreshInterval=0", "Alerting:SuppressionRefreshInterval")]
    [InlineData("Alerting:SuppressionRefreshInterval=1h", "Alerting:SuppressionRefreshInterval")]
    [InlineData("Alerting:RunbookBaseUrl=docs/runbooks", "Alerting:RunbookBaseUrl")]
    [InlineData("Alerting:RunbookBaseUrl=ftp://wiki.example/runbooks/", "Alerting:RunbookBaseUrl")]
    [InlineData("ClickHouse:RequestTimeout=-1s", "ClickHouse:RequestTimeout")]
    [InlineData("Dashboard:Port=70000", "Dashboard:Port")]
    [InlineData("Dashboard:MonthlyBudgetUsd=NaN", "Dashboard:MonthlyBudgetUsd")]
    [InlineData("Dashboard:Bind=localhost", "Dashboard:Bind")]
    [InlineData("Dashboard:WriteTokenSha256=not-a-hash", "Dashboard:WriteTokenSha256")]
    [InlineData("Dashboard:WriterUser=dashboard_writer", "Dashboard:WriterUser")]
    [InlineData("Metrics:HealthPort=abc", "Metrics:HealthPort")]
    [InlineData("Metrics:OtlpEndpoint=collector:4318", "Metrics:OtlpEndpoint")]
    [InlineData("Metrics:OtlpEndpoint=/v1/metrics", "Metrics:OtlpEndpoint")]
    [InlineData("Metrics:OtlpEndpoint=ftp://collector/", "Metrics:OtlpEndpoint")]
    [InlineData("Metrics:OtlpProtocol=http/json", "Metrics:OtlpProtocol")]
    [InlineData("Metrics:OtlpExportInterval=0", "Metrics:OtlpExportInterval")]
    [InlineData("Metrics:OtlpExportInterval=2h", "Metrics:OtlpExportInterval")]
    [InlineData("Metrics:Instance= ", "Metrics:Instance")]
    [InlineData("Metrics:OtlpEndpont=http://x/", "Metrics:OtlpEndpont")]
    [InlineData("WindowMetrics:MaxSeries=0", "WindowMetrics:MaxSeries")]
    [InlineData("WindowMetrics:PrometheusPort=70000", "WindowMetrics:PrometheusPort")]
    [InlineData("WindowMetrics:PrometheusHost=http://0.0.0.0", "WindowMetrics:PrometheusHost")]
    [InlineData("WindowMetrics:OtlpEndpoint=collector:4318", "WindowMetrics:OtlpEndpoint")]
    [InlineData("WindowMetrics:OtlpExportInterval=2h", "WindowMetrics:OtlpExportInterval")]
    [InlineData("WindowMetrics:SeriesTtl=10s", "WindowMetrics:SeriesTtl")]
    [InlineData("WindowMetrics:MaxSerie=10", "WindowMetrics:MaxSerie")]
    [InlineData("Kafka:ssl:key:pem=x", "Kafka:ssl:key")]
    [InlineData("ClickHouse:Url=", "ClickHouse:Url")]
    [InlineData("Aggregator:MaxBatchRows=", "Aggregator:MaxBatchRows")]
    [InlineData("Aggregator:FlushInterval=", "Aggregator:FlushInterval")]
    public void Load_BadSetting_RefusedNamingTheKey(string setting, string key)
    {
        var ex = Assert.Throws<ConfigException>(() => PipelineConfig.Load(null, [setting, $"Local:RunDir={_home}"]));
        Assert.StartsWith(key, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://collector:4318", "http/protobuf", "http://collector:4318/v1/metrics")]
    [InlineData("http://collector:4318/", "http/protobuf", "http://collector:4318/v1/metrics")]
    [InlineData("https://otlp.example/custom/path", "http/protobuf", "https://otlp.example/custom/path")]
    [InlineData("http://collector:4317/", "grpc", "http://collector:4317/")]
    public void Load_OtlpEndpoint_MetricsUrlByProtocol(string endpoint, string protocol, string expected)
    {
        var config = PipelineConfig.Load(null, [$"Metrics:OtlpEndpoint={endpoint}", $"Metrics:OtlpProtocol={protocol}", $"Local:RunDir={_home}"]);
        Assert.Equal(new Uri(expected), config.Metrics.OtlpMetricsUrl);
    }

    [Fact]
    public void Load_WindowMetricsEndpointWithoutPath_PostsToV1Metrics()
    {
        var config = PipelineConfig.Load(null, ["WindowMetrics:OtlpEndpoint=http://collector:4318", $"Local:RunDir={_home}"]);
        Assert.Equal(new Uri("http://collector:4318/v1/metrics"), config.WindowMetrics.OtlpMetricsUrl);
        Assert.True(config.WindowMetrics.Enabled);
        Assert.False(PipelineConfig.Load(null, [$"Local:RunDir={_home}"]).WindowMetrics.Enabled);
    }

    [Fact]
    public void Load_NoOtlpEndpoint_ExportsNoneOverOtlp()
    {
        var config = PipelineConfig.Load(null, [$"Local:RunDir={_home}"]);
        Assert.Null(config.Metrics.OtlpMetricsUrl);
        Assert.Equal("http/protobuf", config.Metrics.OtlpProtocol);
        Assert.Equal(TimeSpan.FromSeconds(60), config.Metrics.OtlpExportInterval);
    }

    [Theory]
    [InlineData("Aggregator:MaxBatchRow=5", "did you mean Aggregator:MaxBatchRows?")]
    [InlineData("ClickHouse:Pasword=x", "did you mean ClickHouse:Password?")]
    [InlineData("Aggregatr:GroupId=x", "did you mean Aggregator?")]
    [InlineData("Aggregator:Anomalies:Treshold=3", "did you mean Aggregator:Anomalies:Threshold?")]
    public void Load_MisspeltKey_SuggestsTheClosestName(string setting, string suggestion)
    {
        var ex = Assert.Throws<ConfigException>(() => PipelineConfig.Load(null, [setting, $"Local:RunDir={_home}"]));
        Assert.Contains(suggestion, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_AmbiguousHours_SuggestsUnitAndDayForms()
    {
        var ex = Assert.Throws<ConfigException>(() => PipelineConfig.Load(null, ["Aggregator:MaxClockSkew=48:00:00", $"Local:RunDir={_home}"]));
        Assert.Contains("48h", ex.Message, StringComparison.Ordinal);
        Assert.Contains("2.00:00:00", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_SeveralBadSettings_ReportsEveryOneInOneLine()
    {
        var ex = Assert.Throws<ConfigException>(() => PipelineConfig.Load(null,
            ["Aggregator:MaxEventAge=-1s", "Aggregator:Anomalies:Threshold=NaN", "Retention:CallsDays=1", "Dashboard:Port=-1", $"Local:RunDir={_home}"]));
        foreach (var key in new[] { "Aggregator:MaxEventAge", "Aggregator:Anomalies:Threshold", "Retention:CallsDays", "Dashboard:Port" })
        {
            Assert.Contains(key + ":", ex.Message, StringComparison.Ordinal);
        }
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void Load_UnitDurations_AreBound()
    {
        var config = PipelineConfig.Load(null, ["Aggregator:FlushInterval=250ms", "Aggregator:MaxEventAge=7d", "Aggregator:MaxClockSkew=23:00:00",
            "Alerting:CommitInterval=5s", "Retention:Interval=1.00:00:00", "Aggregator:Windowing:LateRetention=48h", $"Local:RunDir={_home}"]);
        Assert.Equal(TimeSpan.FromMilliseconds(250), config.Aggregator.FlushInterval);
        Assert.Equal(TimeSpan.FromDays(7), config.Aggregator.MaxEventAge);
        Assert.Equal(TimeSpan.FromHours(23), config.Aggregator.MaxClockSkew);
        Assert.Equal(TimeSpan.FromSeconds(5), config.Alerting.CommitInterval);
        Assert.Equal(TimeSpan.FromHours(48), config.Aggregator.Windowing.LateRetention);
        Assert.Equal(TimeSpan.FromDays(1), config.Retention.Interval);
    }

    [Fact]
    public void Load_ZeroWhereAllowed_IsAccepted()
    {
        var config = PipelineConfig.Load(null, ["Aggregator:Windowing:AllowedLateness=0", "Aggregator:Windowing:LateRetention=0s", $"Local:RunDir={_home}"]);
        Assert.Equal(TimeSpan.Zero, config.Aggregator.Windowing.AllowedLateness);
    }

    [Fact]
    public void Load_KnownSectionsAndPassThrough_AreAccepted()
    {
        var file = Path.Combine(_home, "c.json");
        File.WriteAllText(file, """
            {
              "Logging": { "LogLevel": { "Default": "Warning" } },
              "Kafka": { "bootstrap.servers": "k:9092", "security.protocol": "SASL_SSL" },
              "Alerting": { "Webhooks": [ { "Url": "https://hooks.example/x", "Format": "slack" } ] },
              "metrics": { "healthport": 0 }
            }
            """);
        var config = PipelineConfig.Load(file, ["aggregator:windowing:windowsize=30s", "Kafka:sasl_mechanism=PLAIN", $"Local:RunDir={_home}"]);
        Assert.Equal(TimeSpan.FromSeconds(30), config.Aggregator.Windowing.WindowSize);
        Assert.Equal("PLAIN", config.Kafka.All["sasl.mechanism"]);
        Assert.Equal("slack", Assert.Single(config.Alerting.Webhooks).Format);
    }

    [Fact]
    public void Load_EnvironmentVariables_CheckedExactlyAsTheyMap()
    {
        // Only this class loads the configuration, and its tests run one at a time.
        string[] names = ["PIPELINE__aggregator__windowing__windowsize", "PIPELINE__Kafka__sasl_mechanism", "PIPELINE__AGGREGATOR__GROUPID", "PIPELINE__Aggregator__Nope"];
        try
        {
            Environment.SetEnvironmentVariable(names[0], "30s");
            Environment.SetEnvironmentVariable(names[1], "PLAIN");
            Environment.SetEnvironmentVariable(names[2], "from-env");
            var config = PipelineConfig.Load(null, [$"Local:RunDir={_home}"]);
            Assert.Equal(TimeSpan.FromSeconds(30), config.Aggregator.Windowing.WindowSize);
            Assert.Equal("PLAIN", config.Kafka.All["sasl.mechanism"]);
            Assert.Equal("from-env", config.Aggregator.GroupId);

            Environment.SetEnvironmentVariable(names[3], "1");
            var ex = Assert.Throws<ConfigException>(() => PipelineConfig.Load(null, [$"Local:RunDir={_home}"]));
            Assert.StartsWith("Aggregator:Nope: unknown setting", ex.Message, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            foreach (var name in names) Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public void Describe_ListsEveryBoundSetting()
    {
        var keys = PipelineConfig.Load(null, [$"Local:RunDir={_home}"]).Describe().Select(kv => kv.Key).ToHashSet();
        foreach (var key in new[] { "Aggregator:MaxEventAge", "Aggregator:MaxClockSkew", "Aggregator:Windowing:LateRetention", "Aggregator:Anomalies:Threshold",
            "Alerting:CommitInterval", "Alerting:PartitionIdleTimeout", "Dashboard:Port", "Metrics:HealthPort", "Local:ClickHouseTcpPort", "ClickHouse:RequestTimeout" })
        {
            Assert.Contains(key, keys);
        }
    }

    [Fact]
    public void Describe_SeededSecrets_NeverAppear()
    {
        string[] secrets = ["PEM-SECRET", "JAAS-SECRET", "OAUTH-SECRET", "SASL-SECRET", "CH-SECRET", "URL-SECRET", "ANALYST-SECRET", "ROUTING-SECRET", "SLACK-SECRET"];
        var config = PipelineConfig.Load(null,
        [
            "Kafka:ssl.key.pem=PEM-SECRET", "Kafka:sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required password=\"JAAS-SECRET\";",
            "Kafka:sasl.oauthbearer.config=clientSecret=OAUTH-SECRET", "Kafka:sasl.password=SASL-SECRET", "Kafka:bootstrap.servers=k:9092",
            "ClickHouse:Password=CH-SECRET", "ClickHouse:Url=http://writer:URL-SECRET@127.0.0.1:18123/", "ClickHouse:AnalystPassword=ANALYST-SECRET",
            "Alerting:Webhooks:0:Url=https://events.pagerduty.com/v2/enqueue", "Alerting:Webhooks:0:Format=pagerduty", "Alerting:Webhooks:0:RoutingKey=ROUTING-SECRET",
            "Alerting:Webhooks:1:Url=https://hooks.slack.com/services/T0/B0/SLACK-SECRET", "Alerting:Webhooks:1:Format=slack",
            $"Local:RunDir={_home}",
        ]);
        var text = string.Join("\n", config.Describe().Select(kv => $"{kv.Key} = {kv.Value}"));
        foreach (var secret in secrets)
        {
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        }
        Assert.Contains("ClickHouse:Url = http://writer:***@127.0.0.1:18123/", text, StringComparison.Ordinal);
        Assert.Contains("Kafka:bootstrap.servers = k:9092", text, StringComparison.Ordinal);
        Assert.Contains("Kafka:ssl.key.pem = ***", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_BadSecretValue_ErrorDoesNotEchoIt()
    {
        var ex = Assert.Throws<ConfigException>(() => PipelineConfig.Load(null, ["ClickHouse:Url=ftp://u:URL-SECRET@h/", $"Local:RunDir={_home}"]));
        Assert.Contains("ClickHouse:Url", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("URL-SECRET", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_NoKafkaAddress_FallsBackToDevBrokerFile()
    {
        Directory.CreateDirectory(Path.Combine(_home, "broker"));
        File.WriteAllText(Path.Combine(_home, "broker", "bootstrap"), "127.0.0.1:5555");
        var config = PipelineConfig.Load(null, [$"Local:RunDir={_home}"]);
        Assert.Equal("127.0.0.1:5555", config.Kafka.BootstrapServers);
        Assert.True(config.KafkaFromDevBroker);
    }
    [Fact]
    public void Describe_ShowsThePricesInForce_BuiltInAndConfigured_WithVersion()
    {
        var file = Path.Combine(_home, "prices.yaml");
        File.WriteAllText(file, "prices:\n  - { provider: acme, model: from-file, input_per_million: 1, output_per_million: 2 }\n");
        var config = PipelineConfig.Load(null,
        [
            $"Local:RunDir={_home}", $"Aggregator:PricesFile={file}",
            "Aggregator:Prices:0:Provider=openai", "Aggregator:Prices:0:Model=gpt-4o", "Aggregator:Prices:0:InputPerMillion=5",
            "Aggregator:Prices:0:OutputPerMillion=20", "Aggregator:Prices:0:EffectiveFrom=2026-12-01",
        ]);
        var lines = config.Describe().ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal(config.Prices.Version, lines["Aggregator:PriceVersion"]);
        Assert.StartsWith("2026-11-01+config-", config.Prices.Version, StringComparison.Ordinal);
        Assert.Equal("input 2.5, cached input 1.25, output 10 USD per 1M tokens; always (built-in)", lines["Aggregator:PriceTable:openai/gpt-4o"]);
        Assert.Equal("input 5, cached input as input, output 20 USD per 1M tokens; from 2026-12-01 (Aggregator:Prices:0)", lines["Aggregator:PriceTable:openai/gpt-4o@2026-12-01"]);
        Assert.Equal($"input 1, cached input as input, output 2 USD per 1M tokens; always ({file}:2)", lines["Aggregator:PriceTable:acme/from-file"]);
        Assert.Equal("(none)", PipelineConfig.Load(null, [$"Local:RunDir={_home}"]).Describe().Single(kv => kv.Key == "Aggregator:PricesFile").Value);
    }

    [Fact]
    public void Load_BadPrices_EveryProblemOnceNamingItsKey()
    {
        var ex = Assert.Throws<ConfigException>(() => PipelineConfig.Load(null,
        [
            $"Local:RunDir={_home}", "Aggregator:Prices:0:Provider=acme", "Aggregator:Prices:0:Model=m", "Aggregator:Prices:0:InputPerMillion=-1",
            "Aggregator:Prices:1:Provider=acme", "Aggregator:Prices:1:Model=m", "Aggregator:Prices:1:InputPerMillion=1", "Aggregator:Prices:1:OutputPerMillion=1",
            "Aggregator:Prices:1:EffectiveFrom=1/12/2026", $"Aggregator:PricesFile={Path.Combine(_home, "missing.yaml")}",
        ]));
        Assert.Equal("Aggregator:Prices:0:InputPerMillion: must be between 0 and 10000 (got -1); Aggregator:Prices:0:OutputPerMillion: is required; "
            + "Aggregator:Prices:1:EffectiveFrom: is not a date (got '1/12/2026'); write yyyy-MM-dd (00:00 UTC) or yyyy-MM-ddTHH:mm:ssZ; "
            + $"Aggregator:PricesFile: {Path.Combine(_home, "missing.yaml")}: file does not exist", ex.Message);
    }

    [Fact]
    public void Load_PriceNotANumber_NamesTheKey()
    {
        var ex = Assert.Throws<ConfigException>(() => PipelineConfig.Load(null, [$"Local:RunDir={_home}", "Aggregator:Prices:0:OutputPerMillion=cheap"]));
        Assert.StartsWith("Aggregator:Prices:0:OutputPerMillion: 'cheap' is not a number", ex.Message, StringComparison.Ordinal);
    }
}

public sealed class KafkaSettingsTests
{
    [Fact]
    public void Consumer_PassesSettingsThrough_UnderscoresAsDots_NoAutoCommit()
    {
        var settings = new KafkaSettings([new("bootstrap_servers", "b:1"), new("security.protocol", "SASL_SSL"), new("fetch.min.bytes", "10")]);
        var consumer = settings.Consumer("g");
        Assert.Equal("b:1", consumer.BootstrapServers);
        Assert.Equal("SASL_SSL", consumer.Get("security.protocol"));
        Assert.Equal("10", consumer.Get("fetch.min.bytes"));
        Assert.Equal("false", consumer.Get("enable.auto.commit"));
        Assert.Equal("g", consumer.GroupId);
    }

    [Fact]
    public void Producer_DefaultsToAcksAllAndIdempotence_UnlessOverridden()
    {
        var p = new KafkaSettings([new("bootstrap.servers", "b:1")]).Producer();
        Assert.Equal("all", p.Get("acks"));
        Assert.Equal("true", p.Get("enable.idempotence"));
        var overridden = new KafkaSettings([new("bootstrap.servers", "b:1"), new("linger.ms", "5")]).Producer();
        Assert.Equal("5", overridden.Get("linger.ms"));
    }

    [Fact]
    public void Masked_SecretsAndUrlPasswords_Masked_OrdinaryKeysVisible()
    {
        var masked = new KafkaSettings([new("bootstrap.servers", "b:1"), new("ssl.key.pem", "PEM"), new("sasl.jaas.config", "JAAS"),
            new("sasl.oauthbearer.config", "OAUTH"), new("sasl_password", "PW"), new("ssl.key.location", "/etc/key.pem"),
            new("sasl.oauthbearer.token.endpoint.url", "https://id:IDSECRET@idp/token"), new("sasl.username", "svc")]).Masked;
        Assert.Equal("b:1", masked["bootstrap.servers"]);
        Assert.Equal("svc", masked["sasl.username"]);
        Assert.Equal("/etc/key.pem", masked["ssl.key.location"]);
        foreach (var key in new[] { "ssl.key.pem", "sasl.jaas.config", "sasl.oauthbearer.config", "sasl.password", "sasl.oauthbearer.token.endpoint.url" })
        {
            Assert.Equal("***", masked[key]);
        }
    }

    [Fact]
    public void Consumer_WithoutBootstrap_NamesTheKey()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => new KafkaSettings([]).Consumer("g"));
        Assert.Contains("Kafka:bootstrap.servers", ex.Message, StringComparison.Ordinal);
    }
}
