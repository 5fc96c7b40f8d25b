using System.Text.RegularExpressions;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace Pipeline.Producers;

/// <summary>
/// librdkafka's log lines, through the host's <see cref="ILogger"/> at levels a service can live with, and each
/// repeated line at most once per <see cref="ProducerOptions.LogRepeatInterval"/>: a broker that is down makes
/// librdkafka log a connection failure several times a second, which would bury the host's own logs.
/// Lines are alike when they differ only in numbers (ports, "after 3ms"); the next one let through after a
/// quiet interval says how many were held back. Called from librdkafka's threads.
/// </summary>
internal sealed partial class KafkaLogRouter(ILogger log, TimeProvider time, TimeSpan repeatInterval)
{
    private const int MaxTracked = 1024;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Seen> _seen = new(StringComparer.Ordinal);

    /// <summary>librdkafka's syslog levels: 0-2 Error, 3-4 Warning (a connection error is one the SDK absorbs by spilling), 5 Information, 6-7 Debug.</summary>
    public static LogLevel LevelOf(SyslogLevel level) => level switch
    {
        <= SyslogLevel.Critical => LogLevel.Error,
        <= SyslogLevel.Warning => LogLevel.Warning,
        SyslogLevel.Notice => LogLevel.Information,
        _ => LogLevel.Debug,
    };

    public void Log(LogMessage message) => Log(LevelOf(message.Level), message.Facility, message.Message);

    public void Log(LogLevel level, string facility, string message)
    {
        if (!log.IsEnabled(level)) return;
        if (level <= LogLevel.Debug || repeatInterval <= TimeSpan.Zero)
        {
            LogKafka(log, level, facility, message, "");
            return;
        }
        var shape = Digits().Replace(facility + " " + message, "#");
        long held;
        lock (_gate)
        {
            var now = time.GetTimestamp();
            if (_seen.TryGetValue(shape, out var seen) && time.GetElapsedTime(seen.LoggedAt, now) < repeatInterval)
            {
                _seen[shape] = seen with { Held = seen.Held + 1 };
                return;
            }
            held = seen.Held;
            if (_seen.Count >= MaxTracked) _seen.Clear();
            _seen[shape] = new Seen(now, 0);
        }
        LogKafka(log, level, facility, message, held > 0 ? $" ({held} alike held back since the last)" : "");
    }

    private readonly record struct Seen(long LoggedAt, long Held);

    [GeneratedRegex("[0-9]+")]
    private static partial Regex Digits();

    [LoggerMessage(Message = "librdkafka {Facility}: {Message}{Held}")]
    private static partial void LogKafka(ILogger log, LogLevel level, string facility, string message, string held);
}
