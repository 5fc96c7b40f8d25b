using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Pipeline.DevServers;

/// <summary>Starts a server process that outlives its caller, and signals it by PID.</summary>
internal static partial class DetachedProcess
{
    /// <summary>
    /// Starts <paramref name="command"/> in its own session (setsid), stdout and stderr to
    /// <paramref name="logPath"/>, stdin from /dev/null, so neither a closed terminal nor the
    /// caller's exit stops it; returns its PID.
    /// </summary>
    public static int Start(IReadOnlyList<string> command, string logPath, string workingDirectory)
    {
        var psi = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("LOG=\"$1\"; shift; setsid \"$@\" >>\"$LOG\" 2>&1 </dev/null & echo $!");
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add(logPath);
        foreach (var a in command)
        {
            psi.ArgumentList.Add(a);
        }
        using var sh = Process.Start(psi) ?? throw new InvalidOperationException("cannot start /bin/sh");
        var output = sh.StandardOutput.ReadToEnd().Trim();
        var error = sh.StandardError.ReadToEnd().Trim();
        sh.WaitForExit();
        if (!int.TryParse(output, NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
        {
            throw new InvalidOperationException($"could not start {command[0]}: {error}");
        }
        return pid;
    }

    /// <summary>True when a process with this PID exists and is not a zombie.</summary>
    public static bool IsAlive(int pid)
    {
        if (pid <= 0) return false;
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state != 'Z' && state != 'X';
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return true;
        }
    }

    /// <summary>Reads a PID file; null when it is missing or not a number.</summary>
    public static int? ReadPidFile(string path) =>
        File.Exists(path) && int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;

    /// <summary>SIGTERM, then SIGKILL after <paramref name="grace"/>; true when the process is gone.</summary>
    public static async Task<bool> StopAsync(int pid, TimeSpan grace, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!IsAlive(pid)) return true;
        _ = Kill(pid, 15);
        var deadline = time.GetUtcNow() + grace;
        while (IsAlive(pid) && time.GetUtcNow() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(50), time, cancellationToken);
        }
        if (!IsAlive(pid)) return true;
        _ = Kill(pid, 9);
        for (var i = 0; i < 100 && IsAlive(pid); i++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(50), time, cancellationToken);
        }
        return !IsAlive(pid);
    }

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>.</summary>
    public static int Kill(int pid, int signal) => kill(pid, signal);

    /// <summary>Runs a command to completion, returning exit code and combined output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string file, IEnumerable<string> args, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        try
        {
            using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
            var stdout = p.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = p.StandardError.ReadToEndAsync(cancellationToken);
            await p.WaitForExitAsync(cancellationToken);
            return (p.ExitCode, (await stdout) + (await stderr));
        }
        catch (Win32Exception ex)
        {
            return (127, $"{file}: {ex.Message}");
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);
}
