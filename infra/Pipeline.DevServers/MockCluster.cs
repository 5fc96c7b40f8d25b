using System.Reflection;
using System.Runtime.InteropServices;

namespace Pipeline.DevServers;

/// <summary>
/// librdkafka's in-process mock Kafka cluster, reached through P/Invoke (prototypes from
/// librdkafka's <c>rdkafka_mock.h</c>). It speaks the real Kafka protocol over TCP on loopback.
/// </summary>
public sealed partial class MockCluster : IDisposable
{
    private const string Lib = "librdkafka";
    private readonly nint _rk;
    private nint _mc;

    static MockCluster() => NativeLibrary.SetDllImportResolver(typeof(MockCluster).Assembly, Resolve);

    public MockCluster(int brokerCount)
    {
        BrokerCount = brokerCount;
        var conf = rd_kafka_conf_new();
        var err = new byte[512];
        // A producer handle without bootstrap servers only hosts the mock cluster.
        _rk = rd_kafka_new(0, conf, err, (nuint)err.Length);
        if (_rk == 0)
        {
            throw new InvalidOperationException("rd_kafka_new failed: " + System.Text.Encoding.UTF8.GetString(err).TrimEnd('\0'));
        }
        _mc = rd_kafka_mock_cluster_new(_rk, brokerCount);
        if (_mc == 0)
        {
            throw new InvalidOperationException("rd_kafka_mock_cluster_new failed");
        }
        // Admin metadata calls need a controller.
        _ = rd_kafka_mock_set_controller_id(_mc, 1);
        Bootstrap = Marshal.PtrToStringUTF8(rd_kafka_mock_cluster_bootstraps(_mc)) ?? "";
    }

    public int BrokerCount { get; }
    public string Bootstrap { get; }

    public void CreateTopic(string topic, int partitions, int replicationFactor = 1) =>
        Check(rd_kafka_mock_topic_create(_mc, topic, partitions, replicationFactor), $"create topic {topic}");

    public void SetDown(int brokerId) => ForBrokers(brokerId, id => Check(rd_kafka_mock_broker_set_down(_mc, id), $"broker {id} down"));
    public void SetUp(int brokerId) => ForBrokers(brokerId, id => Check(rd_kafka_mock_broker_set_up(_mc, id), $"broker {id} up"));
    public void SetRtt(int brokerId, int rttMs) => ForBrokers(brokerId, id => Check(rd_kafka_mock_broker_set_rtt(_mc, id, rttMs), $"broker {id} rtt"));

    /// <summary>The next <paramref name="count"/> requests of <paramref name="apiKey"/> fail with <paramref name="error"/>.</summary>
    public void PushRequestErrors(short apiKey, int count, int error)
    {
        var errors = Enumerable.Repeat(error, count).ToArray();
        rd_kafka_mock_push_request_errors_array(_mc, apiKey, (nuint)errors.Length, errors);
    }

    public void ClearRequestErrors(short apiKey) => rd_kafka_mock_clear_request_errors(_mc, apiKey);

    public void Dispose()
    {
        if (_mc != 0)
        {
            rd_kafka_mock_cluster_destroy(_mc);
            _mc = 0;
            rd_kafka_destroy(_rk);
        }
    }

    private void ForBrokers(int brokerId, Action<int> action)
    {
        if (brokerId >= 0)
        {
            action(brokerId);
            return;
        }
        for (var id = 1; id <= BrokerCount; id++)
        {
            action(id);
        }
    }

    private static void Check(int err, string what)
    {
        if (err != 0)
        {
            throw new InvalidOperationException($"{what} failed: {Marshal.PtrToStringUTF8(rd_kafka_err2str(err))} ({err})");
        }
    }

    /// <summary>
    /// The package's default <c>librdkafka.so</c> needs <c>libsasl2.so.3</c>, which Debian 12 lacks;
    /// its <c>centos8-librdkafka.so</c> loads there. Try the default first, then the fallbacks.
    /// </summary>
    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Lib) return 0;
        var arch = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "linux-arm64" : "linux-x64";
        var dir = Path.Combine(AppContext.BaseDirectory, "runtimes", arch, "native");
        foreach (var file in new[] { "librdkafka.so", "centos8-librdkafka.so", "alpine-librdkafka.so" })
        {
            if (NativeLibrary.TryLoad(Path.Combine(dir, file), out var handle)) return handle;
        }
        return NativeLibrary.TryLoad("librdkafka.so.1", out var system) ? system : 0;
    }

    [LibraryImport(Lib)] private static partial nint rd_kafka_conf_new();
    [LibraryImport(Lib)] private static partial nint rd_kafka_new(int type, nint conf, [Out] byte[] errstr, nuint errstrSize);
    [LibraryImport(Lib)] private static partial void rd_kafka_destroy(nint rk);
    [LibraryImport(Lib)] private static partial nint rd_kafka_err2str(int err);
    [LibraryImport(Lib)] private static partial nint rd_kafka_mock_cluster_new(nint rk, int brokerCount);
    [LibraryImport(Lib)] private static partial void rd_kafka_mock_cluster_destroy(nint mc);
    [LibraryImport(Lib)] private static partial nint rd_kafka_mock_cluster_bootstraps(nint mc);
    [LibraryImport(Lib)] private static partial int rd_kafka_mock_set_controller_id(nint mc, int brokerId);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] private static partial int rd_kafka_mock_topic_create(nint mc, string topic, int partitions, int replicationFactor);
    [LibraryImport(Lib)] private static partial int rd_kafka_mock_broker_set_down(nint mc, int brokerId);
    [LibraryImport(Lib)] private static partial int rd_kafka_mock_broker_set_up(nint mc, int brokerId);
    [LibraryImport(Lib)] private static partial int rd_kafka_mock_broker_set_rtt(nint mc, int brokerId, int rttMs);
    [LibraryImport(Lib)] private static partial void rd_kafka_mock_push_request_errors_array(nint mc, short apiKey, nuint count, int[] errors);
    [LibraryImport(Lib)] private static partial void rd_kafka_mock_clear_request_errors(nint mc, short apiKey);
}
