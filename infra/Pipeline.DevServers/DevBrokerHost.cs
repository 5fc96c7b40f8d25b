using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Pipeline.DevServers;

/// <summary>
/// Hosts a <see cref="MockCluster"/> with the pipeline's topics, publishes its addresses in a run
/// folder and serves the line-based fault control channel. Development and tests only.
/// </summary>
public sealed class DevBrokerHost : IAsyncDisposable
{
    /// <summary>Topics every pipeline broker has, with their partition counts.</summary>
    public static readonly IReadOnlyList<(string Name, int Partitions)> PipelineTopics =
    [
        ("llm.calls.v1", 12), ("llm.calls.dlq.v1", 3), ("llm.metrics.1m.v1", 6), ("llm.alerts.v1", 3),
    ];

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly string? _runDir;
    private readonly Task _acceptLoop;

    private DevBrokerHost(MockCluster cluster, string? runDir)
    {
        Cluster = cluster;
        _runDir = runDir;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        ControlPort = ((IPEndPoint)_listener.LocalEndpoint).Port;
        if (runDir is not null)
        {
            Directory.CreateDirectory(runDir);
            // 'bootstrap' is written last and atomically: a reader that sees it can connect.
            WriteAtomically(Path.Combine(runDir, "pid"), Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
            WriteAtomically(Path.Combine(runDir, "control.port"), ControlPort.ToString(CultureInfo.InvariantCulture));
            WriteAtomically(Path.Combine(runDir, "bootstrap"), cluster.Bootstrap);
        }
        _acceptLoop = AcceptAsync();
    }

    /// <summary>The mock cluster, for in-process fault injection.</summary>
    public MockCluster Cluster { get; }

    /// <summary>The <c>bootstrap.servers</c> string of the cluster.</summary>
    public string Bootstrap => Cluster.Bootstrap;

    /// <summary>Loopback TCP port of the control channel.</summary>
    public int ControlPort { get; }

    /// <summary>Completes when a <c>shutdown</c> command arrived or the host was disposed.</summary>
    public Task Stopped => _acceptLoop;

    /// <summary>Starts a cluster with the pipeline's topics plus <paramref name="extraTopics"/>.</summary>
    /// <param name="runDir">Where to publish <c>bootstrap</c>, <c>control.port</c> and <c>pid</c>; null publishes nothing.</param>
    public static DevBrokerHost Start(int brokers, string? runDir, IEnumerable<(string Name, int Partitions)>? extraTopics = null)
    {
        var cluster = new MockCluster(brokers);
        try
        {
            foreach (var (name, partitions) in PipelineTopics.Concat(extraTopics ?? []).DistinctBy(t => t.Name))
            {
                cluster.CreateTopic(name, partitions);
            }
            return new DevBrokerHost(cluster, runDir);
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>Stops accepting control connections and lets <see cref="Stopped"/> complete.</summary>
    public void RequestStop() => _stop.Cancel();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _acceptLoop;
        if (_runDir is not null)
        {
            foreach (var f in new[] { "bootstrap", "control.port", "pid" })
            {
                File.Delete(Path.Combine(_runDir, f));
            }
        }
        Cluster.Dispose();
        _stop.Dispose();
    }

    /// <summary>Runs one control command; returns <c>ok ...</c> or <c>error ...</c>.</summary>
    public string Execute(string line)
    {
        static int Broker(string s) => s == "all" ? -1 : int.Parse(s, CultureInfo.InvariantCulture);
        static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);
        try
        {
            switch (line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                case ["ping"]:
                    return "ok pong";
                case ["status"]:
                    return $"ok bootstrap={Bootstrap} brokers={Cluster.BrokerCount} pid={Environment.ProcessId}";
                case ["create-topic", var name, var partitions]:
                    Cluster.CreateTopic(name, Int(partitions));
                    return "ok";
                case ["down", var id]:
                    Cluster.SetDown(Broker(id));
                    return "ok";
                case ["up", var id]:
                    Cluster.SetUp(Broker(id));
                    return "ok";
                case ["rtt", var id, var ms]:
                    Cluster.SetRtt(Broker(id), Int(ms));
                    return "ok";
                case ["errors", var apiKey, var count, var code]:
                    Cluster.PushRequestErrors(short.Parse(apiKey, CultureInfo.InvariantCulture), Int(count), Int(code));
                    return "ok";
                case ["clear-errors", var apiKey]:
                    Cluster.ClearRequestErrors(short.Parse(apiKey, CultureInfo.InvariantCulture));
                    return "ok";
                case ["shutdown"]:
                    _stop.Cancel();
                    return "ok";
                default:
                    return "error unknown command (ping, status, create-topic, down, up, rtt, errors, clear-errors, shutdown)";
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException or OverflowException)
        {
            return "error " + ex.Message;
        }
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                _ = Task.Run(() => ServeAsync(client));
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            _listener.Stop();
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                using var reader = new StreamReader(stream, Encoding.UTF8);
                await using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
                while (await reader.ReadLineAsync(_stop.Token) is { } line)
                {
                    await writer.WriteLineAsync(Execute(line));
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException)
            {
                // The client went away or the host is stopping: nothing to answer.
            }
        }
    }

    private static void WriteAtomically(string path, string text)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }
}

/// <summary>Client of the dev broker's control channel.</summary>
public static class DevBrokerControl
{
    /// <summary>Sends one command to 127.0.0.1:<paramref name="port"/> and returns the reply line.</summary>
    public static async Task<string> SendAsync(int port, string command, CancellationToken cancellationToken = default)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
        var stream = client.GetStream();
        await using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
        using var reader = new StreamReader(stream, Encoding.UTF8);
        await writer.WriteLineAsync(command.AsMemory(), cancellationToken);
        return await reader.ReadLineAsync(cancellationToken) ?? "error connection closed";
    }
}
