using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using MimeKit;

namespace Pipeline.IntegrationTests;

/// <summary>
/// Postfix's <c>smtp-sink</c> (Debian <c>postfix</c>, installed by <c>make deps</c>) on a free 127.0.0.1 port: a real
/// SMTP server that keeps every message it accepts as one file in <see cref="DumpDirectory"/> (<c>-d</c>), or
/// answers chosen commands with 4xx (<c>-r</c>) to play a server that says "try again later".
/// </summary>
internal sealed class SmtpSink : IDisposable
{
    public const string Program = "/usr/sbin/smtp-sink";
    private readonly Process _process;
    private bool _disposed;

    private SmtpSink(Process process, int port, string dumpDirectory)
    {
        _process = process;
        Port = port;
        DumpDirectory = dumpDirectory;
    }

    public int Port { get; }
    public string DumpDirectory { get; }

    /// <summary>Starts it and waits until it accepts connections.</summary>
    /// <param name="port">A port (to restart a sink where clients already point), or 0 for a free one.</param>
    /// <param name="dumpDirectory">Where messages land; a new temporary folder when null.</param>
    /// <param name="softReject">Commands answered with 4xx, such as <c>RCPT</c>; null accepts everything.</param>
    public static async Task<SmtpSink> StartAsync(int port = 0, string? dumpDirectory = null, string? softReject = null)
    {
        if (!File.Exists(Program)) throw new InvalidOperationException($"{Program} is missing: install Debian postfix (make deps runs infra/install-deps.sh)");
        port = port == 0 ? FreePort() : port;
        dumpDirectory ??= Directory.CreateTempSubdirectory("smtp-sink-").FullName;
        // smtp-sink must drop root (-u); the user it becomes writes the dumps.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(dumpDirectory, (UnixFileMode)0b111_111_111);
        var psi = new ProcessStartInfo(Program) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        if (Environment.UserName == "root") { psi.ArgumentList.Add("-u"); psi.ArgumentList.Add("nobody"); }
        if (softReject is not null) { psi.ArgumentList.Add("-r"); psi.ArgumentList.Add(softReject); }
        psi.ArgumentList.Add("-d");
        psi.ArgumentList.Add(Path.Combine(dumpDirectory, "%Y%m%d%H%M%S."));
        psi.ArgumentList.Add($"127.0.0.1:{port}");
        psi.ArgumentList.Add("16");
        var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var sink = new SmtpSink(process, port, dumpDirectory);
        for (var i = 0; i < 100; i++)
        {
            if (process.HasExited) throw new InvalidOperationException($"smtp-sink exited with {process.ExitCode} (port {port} taken?)");
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return sink;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
        sink.Dispose();
        throw new InvalidOperationException($"smtp-sink did not listen on {port}");
    }

    /// <summary>The messages accepted so far, parsed (smtp-sink's own X-* lines read as extra headers).</summary>
    public IReadOnlyList<MimeMessage> Messages() =>
        Directory.EnumerateFiles(DumpDirectory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Where(f => new FileInfo(f).Length > 0).Select(f => MimeMessage.Load(f)).ToList();

    /// <summary>Waits until at least <paramref name="count"/> messages arrived (or the timeout), then returns all.</summary>
    public async Task<IReadOnlyList<MimeMessage>> WaitForAsync(int count, TimeSpan timeout)
    {
        var until = Stopwatch.StartNew();
        while (until.Elapsed < timeout && Messages().Count < count) await Task.Delay(100);
        return Messages();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit(5000);
        }
        _process.Dispose();
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
