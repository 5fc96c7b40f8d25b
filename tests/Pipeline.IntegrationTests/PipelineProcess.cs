using System.Diagnostics;

namespace Pipeline.IntegrationTests;

/// <summary>The built <c>pipeline</c> CLI as a real child process, with its own PIPELINE_HOME.</summary>
internal static class PipelineProcess
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Process, System.Collections.Concurrent.ConcurrentQueue<string>> Tails = [];

    /// <summary>
    /// Starts it in the background; its output is drained so it never blocks on a full pipe, and its last
    /// lines are kept for <see cref="Tail"/>.
    /// </summary>
    public static Process Start(IEnumerable<string> args, string home)
    {
        var process = Process.Start(Info(args, home))!;
        var tail = new System.Collections.Concurrent.ConcurrentQueue<string>();
        Tails.Add(process, tail);
        void Keep(string? line)
        {
            if (line is null) return;
            tail.Enqueue(line);
            while (tail.Count > 40) tail.TryDequeue(out _);
        }
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>The last lines a process from <see cref="Start"/> wrote (stdout and stderr), for a failure message.</summary>
    public static string Tail(Process process) =>
        Tails.TryGetValue(process, out var tail) ? string.Join('\n', tail) : "";

    /// <summary>Runs it to completion and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(IEnumerable<string> args, string home)
    {
        using var process = Process.Start(Info(args, home))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(180));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>SIGKILL: no flush, no commit, no goodbye.</summary>
    public static void Kill9(Process process)
    {
        Pipeline.DevServers.DetachedProcess.Kill(process.Id, 9);
        process.WaitForExit(10_000);
    }

    private static ProcessStartInfo Info(IEnumerable<string> args, string home)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pipeline.dll"));
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        // An empty home: no appsettings.json or dev-broker address from the developer's checkout leaks in.
        psi.Environment["PIPELINE_HOME"] = home;
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("PIPELINE__", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(key);
        }
        return psi;
    }
}
