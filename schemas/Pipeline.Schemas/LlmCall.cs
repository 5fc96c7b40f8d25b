namespace Pipeline.Schemas;

/// <summary>Outcome of one LLM call.</summary>
public enum Outcome
{
    /// <summary>The call returned a usable response.</summary>
    Success,
    /// <summary>The call failed; see <see cref="LlmCall.ErrorType"/>.</summary>
    Error,
}

/// <summary>Why a call failed (OpenTelemetry <c>error.type</c>).</summary>
public enum ErrorType
{
    /// <summary>The provider did not answer in time.</summary>
    Timeout,
    /// <summary>The provider throttled the caller (HTTP 429).</summary>
    RateLimited,
    /// <summary>The provider reported an error of its own.</summary>
    ProviderError,
    /// <summary>The response failed the caller's validation.</summary>
    Validation,
    /// <summary>The provider's content filter refused the request or response.</summary>
    ContentFilter,
    /// <summary>A 4xx error other than throttling.</summary>
    ClientError,
    /// <summary>A 5xx error.</summary>
    ServerError,
    /// <summary>The caller cancelled the call.</summary>
    Cancelled,
    /// <summary>Anything else.</summary>
    Other,
}

/// <summary>One timed stage of a pipeline request (retrieval, generation, ...).</summary>
/// <param name="Name">Stage name.</param>
/// <param name="DurationMs">Wall time spent in the stage.</param>
public sealed record Stage(string Name, double DurationMs)
{
    /// <summary>Free-form stage attributes (no user content).</summary>
    public IReadOnlyDictionary<string, string> Attributes { get; init; } = EmptyStrings;

    internal static readonly IReadOnlyDictionary<string, string> EmptyStrings = new Dictionary<string, string>();
}

/// <summary>
/// One LLM call or pipeline request, as carried on <c>llm.calls.v1</c> (schema <c>schemas/llm_call.avsc</c>).
/// Prompt text and user content never belong here.
/// </summary>
public sealed record LlmCall
{
    /// <summary>Idempotency key: the pipeline counts each id once, however often it is delivered.</summary>
    public required Guid EventId { get; init; }
    /// <summary>Event time (UTC), millisecond precision on the wire.</summary>
    public required DateTimeOffset OccurredAt { get; init; }
    /// <summary>Deployment environment, for example <c>prod</c>.</summary>
    public required string Environment { get; init; }
    /// <summary>The calling service.</summary>
    public required string Service { get; init; }
    /// <summary><c>gen_ai.operation.name</c>: chat, embeddings, rag_query, ...</summary>
    public required string Operation { get; init; }
    /// <summary><c>gen_ai.provider.name</c>.</summary>
    public required string Provider { get; init; }
    /// <summary><c>gen_ai.request.model</c>.</summary>
    public required string RequestModel { get; init; }
    /// <summary><c>gen_ai.response.model</c>, when the provider reports it.</summary>
    public string? ResponseModel { get; init; }
    /// <summary>Name of the prompt template.</summary>
    public required string PromptName { get; init; }
    /// <summary>Version of the prompt template.</summary>
    public required string PromptVersion { get; init; }
    /// <summary>Caller's request id.</summary>
    public string? RequestId { get; init; }
    /// <summary>W3C trace id, to join with traces.</summary>
    public string? TraceId { get; init; }
    /// <summary>Low-cardinality labels: feature, cohort, ab_variant, ...</summary>
    public IReadOnlyDictionary<string, string> Tags { get; init; } = Stage.EmptyStrings;
    /// <summary>End-to-end latency.</summary>
    public required double LatencyMs { get; init; }
    /// <summary>Time to first token of a streamed response.</summary>
    public double? TimeToFirstTokenMs { get; init; }
    /// <summary><c>gen_ai.usage.input_tokens</c>.</summary>
    public long InputTokens { get; init; }
    /// <summary><c>gen_ai.usage.output_tokens</c>.</summary>
    public long OutputTokens { get; init; }
    /// <summary>Input tokens served from the provider's prompt cache.</summary>
    public long? CachedInputTokens { get; init; }
    /// <summary>Cost; when null the pipeline prices the call from its price table.</summary>
    public double? CostUsd { get; init; }
    /// <summary>Success or error.</summary>
    public required Outcome Outcome { get; init; }
    /// <summary>Truncated error message, for grouping.</summary>
    public string? ErrorMessage { get; init; }
    /// <summary><c>error.type</c>.</summary>
    public ErrorType? ErrorType { get; init; }
    /// <summary>HTTP status of the provider call.</summary>
    public int? HttpStatus { get; init; }
    /// <summary>Caller's quality score, 0..1.</summary>
    public double? QualityScore { get; init; }
    /// <summary>Retries before this outcome.</summary>
    public int RetryCount { get; init; }
    /// <summary>Served from the caller's response cache.</summary>
    public bool CacheHit { get; init; }
    /// <summary>Stage timings of a multi-stage request.</summary>
    public IReadOnlyList<Stage> Stages { get; init; } = [];
    /// <summary>User-defined numeric metrics (feedback, output length, conversion, ...).</summary>
    public IReadOnlyDictionary<string, double> Custom { get; init; } = EmptyDoubles;
    /// <summary>Sampling probability used by the SDK; aggregates weight the event by 1/SampleRate.</summary>
    public double SampleRate { get; init; } = 1.0;

    private static readonly IReadOnlyDictionary<string, double> EmptyDoubles = new Dictionary<string, double>();
}
