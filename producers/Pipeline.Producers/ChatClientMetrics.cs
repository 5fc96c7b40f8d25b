using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Pipeline.Schemas;

namespace Pipeline.Producers;

/// <summary>Settings of the <see cref="PipelineChatClient"/> middleware.</summary>
public sealed class ChatMetricsOptions
{
    /// <summary>Key in <see cref="ChatOptions.AdditionalProperties"/> naming the prompt of one request.</summary>
    public const string PromptNameKey = "pipeline.prompt_name";
    /// <summary>Key in <see cref="ChatOptions.AdditionalProperties"/> naming the prompt version of one request.</summary>
    public const string PromptVersionKey = "pipeline.prompt_version";

    /// <summary>Prompt name when a request does not name one.</summary>
    public string PromptName { get; set; } = "default";
    /// <summary>Prompt version when a request does not name one.</summary>
    public string PromptVersion { get; set; } = "unversioned";
    /// <summary>Provider when the inner client's metadata has none.</summary>
    public string? Provider { get; set; }
    /// <summary>Tags added to every call.</summary>
    public Dictionary<string, string> Tags { get; } = [];
}

/// <summary>
/// <c>IChatClient</c> middleware that tracks every call through an <see cref="ILlmCallTracker"/>: request
/// and response model, provider, input/output/cached tokens, latency, time to first token when streaming,
/// outcome and error type, and the trace id of <see cref="System.Diagnostics.Activity.Current"/> (so a call joins
/// its request's trace, with or without OpenTelemetry's <c>UseOpenTelemetry()</c> in either order). Exceptions
/// are tracked and rethrown unchanged; the call itself is never delayed beyond one non-blocking <c>Track</c>,
/// and nothing the middleware does can fail it.
/// </summary>
public sealed class PipelineChatClient(IChatClient inner, ILlmCallTracker tracker, ChatMetricsOptions? options = null, TimeProvider? time = null)
    : DelegatingChatClient(inner)
{
    private readonly ChatMetricsOptions _options = options ?? new();
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <inheritdoc />
    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var startedAt = _time.GetUtcNow();
        var start = _time.GetTimestamp();
        try
        {
            var response = await base.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
            Track(options, startedAt, start, response.ModelId, response.Usage, null, null, response.FinishReason);
            return response;
        }
        catch (Exception ex)
        {
            Track(options, startedAt, start, null, null, null, ex, null);
            throw;
        }
    }

    /// <inheritdoc />
    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var startedAt = _time.GetUtcNow();
        var start = _time.GetTimestamp();
        double? firstToken = null;
        string? model = null;
        ChatFinishReason? finish = null;
        UsageDetails? usage = null;
        await using var updates = base.GetStreamingResponseAsync(messages, options, cancellationToken).GetAsyncEnumerator(cancellationToken);
        while (true)
        {
            ChatResponseUpdate update;
            try
            {
                if (!await updates.MoveNextAsync().ConfigureAwait(false)) break;
                update = updates.Current;
            }
            catch (Exception ex)
            {
                Track(options, startedAt, start, model, usage, firstToken, ex, null);
                throw;
            }
            firstToken ??= _time.GetElapsedTime(start).TotalMilliseconds;
            model ??= update.ModelId;
            finish ??= update.FinishReason;
            foreach (var content in update.Contents)
            {
                if (content is UsageContent u)
                {
                    usage ??= new UsageDetails();
                    usage.Add(u.Details);
                }
            }
            yield return update;
        }
        Track(options, startedAt, start, model, usage, firstToken, null, finish);
    }

    private void Track(ChatOptions? options, DateTimeOffset startedAt, long start, string? responseModel, UsageDetails? usage, double? firstTokenMs, Exception? error, ChatFinishReason? finish)
    {
        try
        {
            TrackCore(options, startedAt, start, responseModel, usage, firstTokenMs, error, finish);
        }
#pragma warning disable CA1031 // measuring a call must never fail it
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private void TrackCore(ChatOptions? options, DateTimeOffset startedAt, long start, string? responseModel, UsageDetails? usage, double? firstTokenMs, Exception? error, ChatFinishReason? finish)
    {
        var metadata = InnerClient.GetService<ChatClientMetadata>();
        var (errorType, status) = error is null ? (finish == ChatFinishReason.ContentFilter ? (ErrorType.ContentFilter, (int?)null) : ((ErrorType?)null, (int?)null)) : Classify(error);
        var activity = System.Diagnostics.Activity.Current;
        tracker.Track(new LlmCall
        {
            TraceId = activity is not null && activity.TraceId != default ? activity.TraceId.ToHexString() : null,
            EventId = Guid.NewGuid(),
            OccurredAt = startedAt,
            Environment = "",
            Service = "",
            Operation = "chat",
            Provider = metadata?.ProviderName ?? _options.Provider ?? "unknown",
            RequestModel = options?.ModelId ?? metadata?.DefaultModelId ?? responseModel ?? "unknown",
            ResponseModel = responseModel,
            PromptName = Property(options, ChatMetricsOptions.PromptNameKey) ?? _options.PromptName,
            // A version belongs to its prompt: a request that names another prompt without a version is "unversioned", not the default prompt's version.
            PromptVersion = Property(options, ChatMetricsOptions.PromptVersionKey)
                ?? (Property(options, ChatMetricsOptions.PromptNameKey) is { } named && named != _options.PromptName ? "unversioned" : _options.PromptVersion),
            Tags = _options.Tags,
            LatencyMs = _time.GetElapsedTime(start).TotalMilliseconds,
            TimeToFirstTokenMs = firstTokenMs,
            InputTokens = usage?.InputTokenCount ?? 0,
            OutputTokens = usage?.OutputTokenCount ?? 0,
            CachedInputTokens = usage?.CachedInputTokenCount,
            Outcome = errorType is null ? Outcome.Success : Outcome.Error,
            ErrorType = errorType,
            ErrorMessage = error is null ? null : $"{error.GetType().Name}: {error.Message}",
            HttpStatus = status,
        });
    }

    private static string? Property(ChatOptions? options, string key) =>
        options?.AdditionalProperties is { } p && p.TryGetValue(key, out var v) && v?.ToString() is { Length: > 0 } s ? s : null;

    /// <summary>Maps an exception to OpenTelemetry's <c>error.type</c> and an HTTP status when there is one.</summary>
    internal static (ErrorType, int?) Classify(Exception error)
    {
        var status = error is HttpRequestException { StatusCode: { } code } ? (int)code : (int?)null;
        var type = error switch
        {
            OperationCanceledException => ErrorType.Cancelled,
            TimeoutException => ErrorType.Timeout,
            _ when status == 429 => ErrorType.RateLimited,
            _ when status == 408 => ErrorType.Timeout,
            _ when status is >= 500 => ErrorType.ServerError,
            _ when status is >= 400 => ErrorType.ClientError,
            HttpRequestException => ErrorType.ProviderError,
            _ => ErrorType.Other,
        };
        return (type, status);
    }
}

/// <summary>Wiring of <see cref="PipelineChatClient"/> into a chat-client pipeline.</summary>
public static class ChatClientBuilderExtensions
{
    /// <summary>
    /// Adds the metrics middleware: <c>builder.UsePipelineMetrics(o => o.PromptName = "support_answer")</c>.
    /// The tracker comes from <paramref name="tracker"/> or, when null, the service provider (see <c>AddPipelineProducer</c>).
    /// </summary>
    public static ChatClientBuilder UsePipelineMetrics(this ChatClientBuilder builder, Action<ChatMetricsOptions>? configure = null, ILlmCallTracker? tracker = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = new ChatMetricsOptions();
        configure?.Invoke(options);
        return builder.Use((inner, services) => new PipelineChatClient(
            inner,
            tracker ?? (ILlmCallTracker?)services.GetService(typeof(ILlmCallTracker)) ?? throw new InvalidOperationException("UsePipelineMetrics: no ILlmCallTracker; call services.AddPipelineProducer(configuration) or pass one"),
            options,
            (TimeProvider?)services.GetService(typeof(TimeProvider))));
    }
}
