using System.Globalization;
using System.Net.Sockets;

namespace Pipeline.DevServers;

/// <summary>
/// Runs the dev broker (<c>Pipeline.DevBroker</c>) as a background process and reads the address it
/// publishes. Development and tests only.
/// </summary>
public sealed class LocalBroker(string runDir, string brokerAssembly, TimeProvider time)
{
    private string BootstrapFile => Path.Combine(runDir, "bootstrap");
    private string ControlPortFile => Path.Combine(runDir, "control.port");
    private string PidFile => Path.Combine(runDir, "pid");

    /// <summary>The bootstrap address published in <paramref name="runDir"/>, or null.</summary>
    public static string? ReadBootstrap(string runDir)
    {
        var path = Path.Combine(runDir, "bootstrap");
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }

    /// <summary>Starts the broker unless it already answers; returns its status.</summary>
    public async Task<ServerStatus> StartAsync(CancellationToken cancellationToken)
    {
        var status = await GetStatusAsync(cancellationToken);
        if (status.Up) return status;
        Directory.CreateDirectory(runDir);
        if (DetachedProcess.ReadPidFile(PidFile) is { } stale && DetachedProcess.IsAlive(stale))
        {
            await DetachedProcess.StopAsync(stale, TimeSpan.FromSeconds(5), time, cancellationToken);
        }
        foreach (var f in new[] { BootstrapFile, ControlPortFile, PidFile })
        {
            File.Delete(f);
        }
        if (!File.Exists(brokerAssembly))
        {
            throw new InvalidOperationException($"dev broker not built: {brokerAssembly} is missing (run 'dotnet build')");
        }
        Directory.CreateDirectory(runDir);
        var pid = DetachedProcess.Start(["dotnet", brokerAssembly, "--run-dir", runDir], Path.Combine(runDir, "broker.log"), runDir);
        var deadline = time.GetUtcNow() + TimeSpan.FromSeconds(30);
        while (time.GetUtcNow() < deadline)
        {
            if (File.Exists(BootstrapFile))
            {
                status = await GetStatusAsync(cancellationToken);
                if (status.Up) return status;
            }
            if (!DetachedProcess.IsAlive(pid)) break;
            await Task.Delay(TimeSpan.FromMilliseconds(100), time, cancellationToken);
        }
        var logTail = File.Exists(Path.Combine(runDir, "broker.log"))
            ? string.Join(" | ", File.ReadAllLines(Path.Combine(runDir, "broker.log")).TakeLast(3)) : "";
        throw new InvalidOperationException($"dev broker did not start; see {Path.Combine(runDir, "broker.log")}. {logTail}");
    }

    /// <summary>Stops the broker; harmless when it is not running.</summary>
    public async Task<bool> StopAsync(CancellationToken cancellationToken)
    {
        var pid = DetachedProcess.ReadPidFile(PidFile);
        if (ReadControlPort() is { } port)
        {
            try
            {
                await DevBrokerControl.SendAsync(port, "shutdown", cancellationToken);
            }
            catch (SocketException)
            {
                // Not answering: fall through to signals.
            }
        }
        if (pid is { } p && !await DetachedProcess.StopAsync(p, TimeSpan.FromSeconds(10), time, cancellationToken))
        {
            return false;
        }
        if (Directory.Exists(runDir))
        {
            foreach (var f in new[] { BootstrapFile, ControlPortFile, PidFile })
            {
                File.Delete(f);
            }
        }
        return pid is not null;
    }

    /// <summary>Whether the broker's control channel answers, with its bootstrap address.</summary>
    public async Task<ServerStatus> GetStatusAsync(CancellationToken cancellationToken)
    {
        var bootstrap = ReadBootstrap(runDir) ?? "(none)";
        var pid = DetachedProcess.ReadPidFile(PidFile) is { } p && DetachedProcess.IsAlive(p) ? p : (int?)null;
        if (ReadControlPort() is { } port && pid is not null)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(3));
                var reply = await DevBrokerControl.SendAsync(port, "ping", timeout.Token);
                if (reply.StartsWith("ok", StringComparison.Ordinal))
                {
                    return new ServerStatus("kafka", true, bootstrap, pid, $"dev broker (librdkafka mock, development only), control 127.0.0.1:{port}");
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
            {
                // Treated as down below.
            }
        }
        return new ServerStatus("kafka", false, bootstrap, pid, "not answering; start it with './pipeline up'");
    }

    private int? ReadControlPort() =>
        File.Exists(ControlPortFile) && int.TryParse(File.ReadAllText(ControlPortFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            ? port : null;
}
