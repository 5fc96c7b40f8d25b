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
        Assert.Equal("k:9092", lines["Kafka:bootstrap.servers"]);
        Assert.DoesNotContain(lines.Values, v => v.Contains("hunter2", StringComparison.Ordinal) || v.Contains("s3cret", StringComparison.Ordinal));
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
    public void Consumer_WithoutBootstrap_NamesTheKey()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => new KafkaSettings([]).Consumer("g"));
        Assert.Contains("Kafka:bootstrap.servers", ex.Message, StringComparison.Ordinal);
    }
}
