using System.Net.Http.Headers;
using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace Pipeline.PackageTests;

/// <summary>
/// The real servers and the installed tool, from the environment infra/package-test.sh sets (the same variables
/// the integration tests read): <c>PIPELINE_TEST_KAFKA_BOOTSTRAP</c>, <c>PIPELINE_TEST_CLICKHOUSE_URL</c>
/// (<c>_USER</c>, <c>_PASSWORD</c>) and <c>PIPELINE_PACKAGE_TEST_CLI</c>, the <c>pipeline</c> command installed
/// from the Pipeline.Cli package.
/// </summary>
internal sealed record TestServers(string KafkaBootstrap, Uri ClickHouseUrl, string ClickHouseUser, string ClickHousePassword, string Cli)
{
    public static TestServers FromEnvironment() => new(
        Required("PIPELINE_TEST_KAFKA_BOOTSTRAP"),
        new Uri(Required("PIPELINE_TEST_CLICKHOUSE_URL")),
        Environment.GetEnvironmentVariable("PIPELINE_TEST_CLICKHOUSE_USER") ?? "default",
        Environment.GetEnvironmentVariable("PIPELINE_TEST_CLICKHOUSE_PASSWORD") ?? "",
        Required("PIPELINE_PACKAGE_TEST_CLI"));

    private static string Required(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"{name} is not set: run this test through infra/package-test.sh (make test does)");
}

/// <summary>ClickHouse over plain HTTP, as an analyst's script would query it.</summary>
internal sealed class ClickHouseQuery(TestServers servers) : IDisposable
{
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Runs <paramref name="sql"/> and returns the TabSeparated result.</summary>
    public async Task<string> QueryAsync(string sql, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, servers.ClickHouseUrl) { Content = new StringContent(sql, Encoding.UTF8) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{servers.ClickHouseUser}:{servers.ClickHousePassword}")));
        using var response = await _http.SendAsync(request, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        return response.IsSuccessStatusCode ? body : throw new InvalidOperationException($"ClickHouse {(int)response.StatusCode}: {body}");
    }

    public Task ExecuteAsync(string sql, CancellationToken ct) => QueryAsync(sql, ct);

    public void Dispose() => _http.Dispose();
}

/// <summary>Topics of one run, through the Kafka admin API (the Confluent.Kafka the SDK brings along).</summary>
internal static class Kafka
{
    /// <summary>
    /// Creates the topics where the broker has the admin API (real Kafka); the dev broker (librdkafka's mock
    /// cluster) has not, and creates a topic when a producer first asks for it.
    /// </summary>
    public static async Task CreateTopicsAsync(string bootstrap, IEnumerable<string> topics)
    {
        using var admin = Admin(bootstrap);
        try
        {
            await admin.CreateTopicsAsync(topics.Select(t => new TopicSpecification { Name = t, NumPartitions = 3, ReplicationFactor = 1 }));
        }
        catch (KafkaException ex) when (ex is not CreateTopicsException && ex.Error.Code == ErrorCode.Local_UnsupportedFeature)
        {
        }
    }

    /// <summary>Best effort: a topic left behind holds only this run's few events.</summary>
    public static async Task DeleteTopicsAsync(string bootstrap, IEnumerable<string> topics)
    {
        using var admin = Admin(bootstrap);
        try
        {
            await admin.DeleteTopicsAsync(topics, new DeleteTopicsOptions { RequestTimeout = TimeSpan.FromSeconds(10) });
        }
        catch (KafkaException)
        {
        }
    }

    private static IAdminClient Admin(string bootstrap) =>
        new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).SetLogHandler((_, _) => { }).Build();
}
