using Microsoft.Extensions.Logging;
using Pipeline.ClickHouse;
using Pipeline.Schemas;
using Polly;
using Polly.Retry;

namespace Pipeline.Consumers;

/// <summary>
/// The <c>clickhouse-insert</c> resilience pipeline every worker writes through: failures that can heal
/// (unreachable server, 5xx, timeouts) are retried with capped exponential backoff for as long as it
/// takes; anything else (a bad statement, a missing table) surfaces at once, before offsets move.
/// </summary>
public static partial class ClickHouseResilience
{
    public static ResiliencePipeline Create(TimeProvider time, ILogger log) =>
        new ResiliencePipelineBuilder { TimeProvider = time, Name = "clickhouse-insert" }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<ClickHouseException>(e => e.HttpStatus is 0 or >= 500)
                    .Handle<HttpRequestException>().Handle<IOException>().Handle<TaskCanceledException>(),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(200),
                MaxDelay = TimeSpan.FromSeconds(5),
                OnRetry = args =>
                {
                    LogRetry(log, args.AttemptNumber + 1, args.RetryDelay.TotalSeconds, args.Outcome.Exception?.Message ?? "");
                    return default;
                },
            })
            .Build();

    /// <summary>A WHERE condition selecting one series, every value quoted.</summary>
    public static string SeriesFilter(SeriesKey series) =>
        $"environment = {ClickHouseHttp.Quote(series.Environment)} AND service = {ClickHouseHttp.Quote(series.Service)}"
        + $" AND prompt_name = {ClickHouseHttp.Quote(series.PromptName)} AND prompt_version = {ClickHouseHttp.Quote(series.PromptVersion)}"
        + $" AND request_model = {ClickHouseHttp.Quote(series.RequestModel)}";

    [LoggerMessage(Level = LogLevel.Warning, Message = "ClickHouse failed, retry {Attempt} in {Seconds:F1} s: {Reason}")]
    private static partial void LogRetry(ILogger log, int attempt, double seconds, string reason);
}
