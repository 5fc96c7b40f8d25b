using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Pipeline.PackageTests;

/// <summary>
/// The <c>pipeline</c> command installed from the Pipeline.Cli tool package, as child processes configured the
/// way an operator would: environment variables <c>PIPELINE__Section__Key</c> and an empty <c>PIPELINE_HOME</c>.
/// </summary>
internal sealed partial class PipelineCli(TestServers servers, string home, RunNames names)
{
    /// <summary>Runs a command to completion (3 minutes at most) and returns its exit code and output.</summary>
    public async Task<(int ExitCode, string Output)> RunAsync(IEnumerable<string> args, CancellationToken ct)
    {
        using var process = Process.Start(Info(args))!;
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>Starts a long-running command (a worker) with its output in <paramref name="logFile"/>.</summary>
    public Worker Start(IEnumerable<string> args, string logFile) => new(Process.Start(Info(args))!, logFile);

    private ProcessStartInfo Info(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(servers.Cli) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = home };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("PIPELINE__", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            psi.Environment.Remove(key);
        }
        psi.Environment["PIPELINE_HOME"] = home;
        psi.Environment["PIPELINE__Kafka__bootstrap_servers"] = servers.KafkaBootstrap;
        psi.Environment["PIPELINE__ClickHouse__Url"] = servers.ClickHouseUrl.ToString();
        psi.Environment["PIPELINE__ClickHouse__User"] = servers.ClickHouseUser;
        psi.Environment["PIPELINE__ClickHouse__Password"] = servers.ClickHousePassword;
        psi.Environment["PIPELINE__ClickHouse__Database"] = names.Database;
        psi.Environment["PIPELINE__Aggregator__Topic"] = names.Topic;
        psi.Environment["PIPELINE__Aggregator__DeadLetterTopic"] = names.DeadLetterTopic;
        psi.Environment["PIPELINE__Aggregator__MetricsTopic"] = names.MetricsTopic;
        psi.Environment["PIPELINE__Aggregator__GroupId"] = names.GroupId;
        return psi;
    }

    /// <summary>A running worker; stopped with SIGTERM, as a service manager stops it.</summary>
    internal sealed partial class Worker : IDisposable
    {
        private const int SigTerm = 15;
        private readonly Process _process;
        private readonly StreamWriter _log;
        private bool _disposed;

        public Worker(Process process, string logFile)
        {
            _process = process;
            _log = new StreamWriter(logFile) { AutoFlush = true };
            process.OutputDataReceived += (_, e) => Write(e.Data);
            process.ErrorDataReceived += (_, e) => Write(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            LogFile = logFile;
        }

        public string LogFile { get; }
        public bool HasExited => _process.HasExited;

        /// <summary>SIGTERM, then up to 60 s for a clean stop (SIGKILL after that); returns the exit code.</summary>
        public async Task<int> StopAsync()
        {
            if (!_process.HasExited)
            {
                _ = Signal(_process.Id, SigTerm);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                try
                {
                    await _process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    _process.Kill(entireProcessTree: true);
                    await _process.WaitForExitAsync();
                }
            }
            return _process.ExitCode;
        }

        /// <summary>The last 40 lines the worker wrote.</summary>
        public string LogTail()
        {
            lock (_log)
            {
                using var reader = new StreamReader(new FileStream(LogFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
                return string.Join('\n', reader.ReadToEnd().Split('\n').TakeLast(40));
            }
        }

        public void Dispose()
        {
            _process.Dispose();
            lock (_log)
            {
                _disposed = true;
                _log.Dispose();
            }
        }

        [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static partial int Signal(int pid, int signal);

        private void Write(string? line)
        {
            if (line is null) return;
            lock (_log)
            {
                if (!_disposed) _log.WriteLine(line);
            }
        }
    }
}
