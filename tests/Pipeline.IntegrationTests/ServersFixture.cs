using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Pipeline.ClickHouse;
using Pipeline.Consumers;
using Pipeline.DevServers;

[assembly: AssemblyFixture(typeof(Pipeline.IntegrationTests.ServersFixture))]

namespace Pipeline.IntegrationTests;

/// <summary>
/// The real servers, once per test run: the local ClickHouse (started when not already running) and
/// a dev broker hosted in this process. <c>PIPELINE_TEST_CLICKHOUSE_URL</c> (with
/// <c>PIPELINE_TEST_CLICKHOUSE_USER</c>/<c>_PASSWORD</c>) and <c>PIPELINE_TEST_KAFKA_BOOTSTRAP</c> point
/// the same tests at other servers, real Kafka included. Every test gets its own database and topics.
/// </summary>
public sealed class ServersFixture : IAsyncLifetime
{
    private DevBrokerHost? _broker;
    private LocalClickHouse? _startedClickHouse;

    public static string RepoRoot { get; } = FindRepoRoot();

    public ClickHouseOptions ClickHouse { get; private set; } = new();
    public string Bootstrap { get; private set; } = "";
    /// <summary>The in-process dev broker, or null when tests run against an external Kafka.</summary>
    public DevBrokerHost? DevBroker => _broker;
    public KafkaSettings Kafka => new([new("bootstrap.servers", Bootstrap), new("session.timeout.ms", "6000")]);

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        if (Environment.GetEnvironmentVariable("PIPELINE_TEST_CLICKHOUSE_URL") is { Length: > 0 } url)
        {
            ClickHouse = new ClickHouseOptions
            {
                Url = new Uri(url),
                User = Environment.GetEnvironmentVariable("PIPELINE_TEST_CLICKHOUSE_USER") ?? "default",
                Password = Environment.GetEnvironmentVariable("PIPELINE_TEST_CLICKHOUSE_PASSWORD") ?? "",
            };
        }
        else
        {
            var settings = new LocalClickHouseSettings { RunDir = Path.Combine(RepoRoot, ".run", "clickhouse") };
            var local = new LocalClickHouse(settings, TimeProvider.System, Console.Error.WriteLine);
            if (!(await local.GetStatusAsync(ct)).Up)
            {
                await local.StartAsync(ct);
                _startedClickHouse = local;
            }
            ClickHouse = new ClickHouseOptions { Url = settings.HttpUrl, User = settings.WriterUser, Password = settings.WriterPassword };
        }
        if (Environment.GetEnvironmentVariable("PIPELINE_TEST_KAFKA_BOOTSTRAP") is { Length: > 0 } bootstrap)
        {
            Bootstrap = bootstrap;
        }
        else
        {
            _broker = DevBrokerHost.Start(brokers: 1, runDir: null);
            Bootstrap = _broker.Bootstrap;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }
        if (_startedClickHouse is not null)
        {
            await _startedClickHouse.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>A fresh database with every migration applied, and a client for it.</summary>
    public async Task<ClickHouseHttp> NewDatabaseAsync(CancellationToken ct)
    {
        var options = ClickHouse.WithDatabase("t_" + Guid.NewGuid().ToString("N")[..12]);
        var client = new ClickHouseHttp(options);
        await new Migrator(client, TimeProvider.System).ApplyAsync(Migrator.Embedded, ct);
        return client;
    }

    /// <summary>A fresh topic with <paramref name="partitions"/> partitions.</summary>
    public async Task<string> NewTopicAsync(string prefix, int partitions, CancellationToken ct)
    {
        var name = $"{prefix}.{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 200)];
        if (_broker is not null)
        {
            _broker.Cluster.CreateTopic(name, partitions);
            return name;
        }
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = Bootstrap }).Build();
        await admin.CreateTopicsAsync([new TopicSpecification { Name = name, NumPartitions = partitions, ReplicationFactor = 1 }]);
        ct.ThrowIfCancellationRequested();
        return name;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
    }
}
