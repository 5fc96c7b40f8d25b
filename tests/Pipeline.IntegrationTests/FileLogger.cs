using Microsoft.Extensions.Logging;

namespace Pipeline.IntegrationTests;

/// <summary>Appends log lines to a file under .run/test-logs, for diagnosing a failed worker test.</summary>
internal sealed class FileLogger(string name) : ILogger
{
    private readonly string _path = Path.Combine(Prepare(), name + ".log");
    private readonly Lock _lock = new();

    private static string Prepare() => Directory.CreateDirectory(Path.Combine(ServersFixture.RepoRoot, ".run", "test-logs")).FullName;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var line = $"{TimeProvider.System.GetUtcNow():HH:mm:ss.fff} {logLevel}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}\n";
        lock (_lock)
        {
            File.AppendAllText(_path, line);
        }
    }
}
