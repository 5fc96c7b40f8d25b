using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Pipeline.Schemas;

namespace Pipeline.Producers;

/// <summary>
/// Measures one request in the spirit of <c>start request → log stage → end request</c>:
/// <code>
/// using var call = producer.StartCall("support_answer", "2.1", "gpt-4o-mini", "openai");
/// var docs = await Retrieve(question);   call.Stage("retrieval");
/// var answer = await Generate(docs);     call.Stage("generation");
/// call.Succeed(inputTokens: 812, outputTokens: 164);
/// </code>
/// Each <see cref="Stage"/> records the time since the previous mark. <see cref="Succeed"/> or
/// <see cref="Fail(ErrorType, string?, int?, long)"/> tracks the call. A scope disposed without either is
/// tracked as failed with the last exception thrown inside it (a provider's 429 is <c>rate_limited</c>, a
/// cancellation <c>cancelled</c>), or as <c>other</c> when none was. The trace id is taken from
/// <see cref="Activity.Current"/> when the caller sets none. Not thread-safe: one scope belongs to one request.
/// </summary>
public sealed class CallScope : IDisposable
{
    // The open scope of the current async flow, so an exception thrown inside it can be attributed to it.
    private static readonly AsyncLocal<CallScope?> Open = new();
    private static int _watching;
    private readonly CallScope? _outer;
    private Exception? _lastError;

    private readonly ILlmCallTracker _tracker;
    private readonly TimeProvider _time;
    private readonly long _start;
    private readonly DateTimeOffset _startedAt;
    private readonly List<Stage> _stages = [];
    private long _mark;
    private double? _firstTokenMs;
    private bool _ended;

    internal CallScope(ILlmCallTracker tracker, TimeProvider time, string promptName, string promptVersion, string requestModel, string provider, string operation)
    {
        _tracker = tracker;
        _time = time;
        _start = _mark = time.GetTimestamp();
        _startedAt = time.GetUtcNow();
        PromptName = promptName;
        PromptVersion = promptVersion;
        RequestModel = requestModel;
        Provider = provider;
        Operation = operation;
        TraceId = Activity.Current is { } activity && activity.TraceId != default ? activity.TraceId.ToHexString() : null;
        if (Interlocked.Exchange(ref _watching, 1) == 0) AppDomain.CurrentDomain.FirstChanceException += OnFirstChance;
        _outer = Open.Value;
        Open.Value = this;
    }

    /// <summary>Prompt template name.</summary>
    public string PromptName { get; }
    /// <summary>Prompt template version.</summary>
    public string PromptVersion { get; }
    /// <summary>Model requested (<c>gen_ai.request.model</c>).</summary>
    public string RequestModel { get; }
    /// <summary>Provider (<c>gen_ai.provider.name</c>).</summary>
    public string Provider { get; }
    /// <summary>Operation (<c>gen_ai.operation.name</c>).</summary>
    public string Operation { get; }
    /// <summary>Environment; the producer's default when not set.</summary>
    public string Environment { get; set; } = "";
    /// <summary>Service; the producer's default when not set.</summary>
    public string Service { get; set; } = "";
    /// <summary>Model the provider reports having used.</summary>
    public string? ResponseModel { get; set; }
    /// <summary>Caller's request id.</summary>
    public string? RequestId { get; set; }
    /// <summary>W3C trace id; <see cref="Activity.Current"/>'s when the scope starts inside one.</summary>
    public string? TraceId { get; set; }
    /// <summary>Low-cardinality labels (feature, cohort, ab_variant).</summary>
    public Dictionary<string, string> Tags { get; } = [];
    /// <summary>User-defined numeric metrics.</summary>
    public Dictionary<string, double> Custom { get; } = [];
    /// <summary>Caller's quality score, 0..1.</summary>
    public double? QualityScore { get; set; }
    /// <summary>Cost, when the caller knows it; else the pipeline prices the call.</summary>
    public double? CostUsd { get; set; }
    /// <summary>Retries before the outcome.</summary>
    public int RetryCount { get; set; }
    /// <summary>Served from the caller's cache.</summary>
    public bool CacheHit { get; set; }

    /// <summary>Records a stage that ran from the previous mark (or the start) until now.</summary>
    public void Stage(string name)
    {
        var now = _time.GetTimestamp();
        _stages.Add(new Stage(name, _time.GetElapsedTime(_mark, now).TotalMilliseconds));
        _mark = now;
    }

    /// <summary>Marks the first streamed token.</summary>
    public void FirstToken() => _firstTokenMs ??= _time.GetElapsedTime(_start).TotalMilliseconds;

    /// <summary>Ends the call as a success and tracks it.</summary>
    public bool Succeed(long inputTokens = 0, long outputTokens = 0) => End(Outcome.Success, inputTokens, outputTokens, null, null, null);

    /// <summary>Ends the call as a failure and tracks it.</summary>
    public bool Fail(ErrorType errorType, string? message = null, int? httpStatus = null, long inputTokens = 0) =>
        End(Outcome.Error, inputTokens, 0, errorType, message, httpStatus);

    /// <summary>Ends the call as failed by <paramref name="error"/>: its error type and HTTP status as the chat-client middleware classifies them.</summary>
    public bool Fail(Exception error, long inputTokens = 0)
    {
        ArgumentNullException.ThrowIfNull(error);
        var (type, status) = PipelineChatClient.Classify(error);
        return End(Outcome.Error, inputTokens, 0, type, $"{error.GetType().Name}: {error.Message}", status);
    }

    /// <summary>Tracks the call if it was not ended: failed by the last exception thrown inside the scope, or <c>other</c>.</summary>
    public void Dispose()
    {
        if (_ended) return;
        if (Volatile.Read(ref _lastError) is { } error) Fail(error);
        else End(Outcome.Error, 0, 0, ErrorType.Other, "scope disposed before Succeed or Fail", null);
    }

    private static void OnFirstChance(object? sender, FirstChanceExceptionEventArgs e)
    {
        // Runs for every exception in the process: one AsyncLocal read when no scope is open.
        if (Open.Value is { _ended: false } scope) Volatile.Write(ref scope._lastError, e.Exception);
    }

    private bool End(Outcome outcome, long input, long output, ErrorType? errorType, string? message, int? httpStatus)
    {
        if (_ended) return false;
        _ended = true;
        if (ReferenceEquals(Open.Value, this)) Open.Value = _outer;
        return _tracker.Track(new LlmCall
        {
            EventId = Guid.NewGuid(),
            OccurredAt = _startedAt,
            Environment = Environment,
            Service = Service,
            Operation = Operation,
            Provider = Provider,
            RequestModel = RequestModel,
            ResponseModel = ResponseModel,
            PromptName = PromptName,
            PromptVersion = PromptVersion,
            RequestId = RequestId,
            TraceId = TraceId,
            Tags = Tags,
            LatencyMs = _time.GetElapsedTime(_start).TotalMilliseconds,
            TimeToFirstTokenMs = _firstTokenMs,
            InputTokens = input,
            OutputTokens = output,
            CostUsd = CostUsd,
            Outcome = outcome,
            ErrorType = errorType,
            ErrorMessage = message,
            HttpStatus = httpStatus,
            QualityScore = QualityScore,
            RetryCount = RetryCount,
            CacheHit = CacheHit,
            Stages = _stages,
            Custom = Custom,
        });
    }
}
