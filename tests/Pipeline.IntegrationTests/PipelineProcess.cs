using System.Diagnostics;

namespace Pipeline.IntegrationTests;

/// <summary>The built <c>pipeline</c> CLI as a real child process, with its own PIPELINE_HOME.</summary>
internal static class PipelineProcess
{
    /// <summary>Starts it in the background; its output is drained so it never blocks on a full pipe.</summary>
    public static Process Start(IEnumerable<string> args, string home)
    {
        var process = Process.Start(Info(args, home))!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

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
