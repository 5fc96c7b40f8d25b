using Microsoft.Extensions.Logging;
using Pipeline.ClickHouse;
using Pipeline.Schemas;
using Polly;
using Polly.Retry;

namespace Pipeline.Consumers;

/// <summary>
/// The <c>clickhouse-insert</c> resilience pipeline every worker writes through. Failures come in classes
/// (<see cref="ClickHouseErrors"/>): transient ones (unreachable, timeouts, too many parts, memory) are
/// retried with capped exponential backoff and jitter for as long as it takes; blocked ones (a dropped
/// column, a missing table, access denied) are retried every <c>blockedInterval</c>, so a repair resumes the
/// worker; rows the server rejects surface at once, for the caller to isolate. Each retry reports why
/// through <c>onBlocked</c> (what <c>/readyz</c> shows), and success clears it.
/// </summary>
public static partial class ClickHouseResilience
{
    public static ResiliencePipeline Create(TimeProvider time, ILogger log, Action<string?>? onBlocked = null, TimeSpan? blockedInterval = null)
    {
        var slow = blockedInterval ?? TimeSpan.FromSeconds(10);
        return new ResiliencePipelineBuilder { TimeProvider = time, Name = "clickhouse-insert" }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex
                    && ClickHouseErrors.Classify(ex) is ClickHouseErrorClass.Transient or ClickHouseErrorClass.Blocked),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(200),
                MaxDelay = TimeSpan.FromSeconds(5),
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(
                    args.Outcome.Exception is { } ex && ClickHouseErrors.Classify(ex) == ClickHouseErrorClass.Blocked ? slow : null),
                OnRetry = args =>
                {
                    var ex = args.Outcome.Exception!;
                    var blocked = ClickHouseErrors.Classify(ex) == ClickHouseErrorClass.Blocked;
                    onBlocked?.Invoke(blocked
                        ? $"ClickHouse refuses the write ({ex.Message}); partitions paused, retrying every {slow.TotalSeconds:0} s until the table is repaired"
                        : $"ClickHouse unavailable ({ex.Message}); partitions paused, retrying");
                    LogRetry(log, args.AttemptNumber + 1, args.RetryDelay.TotalSeconds, ex.Message);
                    return default;
                },
            })
            .Build();
    }

    /// <summary>A WHERE condition selecting one series, every value quoted.</summary>
    public static string SeriesFilter(SeriesKey series) =>
        $"environment = {ClickHouseHttp.Quote(series.Environment)} AND service = {ClickHouseHttp.Quote(series.Service)}"
        + $" AND prompt_name = {ClickHouseHttp.Quote(series.PromptName)} AND prompt_version = {ClickHouseHttp.Quote(series.PromptVersion)}"
        + $" AND request_model = {ClickHouseHttp.Quote(series.RequestModel)}";

    [LoggerMessage(Level = LogLevel.Warning, Message = "ClickHouse failed, retry {Attempt} in {Seconds:F1} s: {Reason}")]
    private static partial void LogRetry(ILogger log, int attempt, double seconds, string reason);
}
