using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Pipeline.Ingest.Otlp.Collector;
using Pipeline.Producers;

namespace Pipeline.Ingest;

/// <summary>How an export request ended, whatever the transport.</summary>
internal enum IngestStatus
{
    Ok,
    Unauthenticated,
    Forbidden,
    RateLimited,
    /// <summary>The SDK could not take an event (its spill is full): the client should retry, and will count once.</summary>
    Unavailable,
}

internal readonly record struct IngestResult(IngestStatus Status, string? Message, ExportTraceServiceResponse? Response = null, TimeSpan RetryAfter = default);

/// <summary>
/// The receiver's logic, shared by OTLP/HTTP and OTLP/gRPC: the caller's key, the rate limit, the mapping and the
/// hand-over to the SDK. Keys are compared as SHA-256 hashes in constant time, as the dashboard's write token is.
/// </summary>
internal sealed partial class TraceIngest : IDisposable
{
    private readonly IngestOptions _options;
    private readonly ILlmCallTracker _tracker;
    private readonly ProducerOptions _edge;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly (byte[] Hash, CallerBinding Binding)[] _keys;
    private readonly ConcurrentDictionary<string, TokenBucket> _buckets = new(StringComparer.Ordinal);
    private readonly Meter? _meter;
    private readonly Counter<long>? _spans;
    private long _accepted, _ignored, _rejected, _requests;

    public TraceIngest(IngestOptions options, ILlmCallTracker tracker, ProducerOptions edge, TimeProvider time, ILogger log, IMeterFactory? meters = null)
    {
        _options = options;
        _tracker = tracker;
        _edge = edge;
        _time = time;
        _log = log;
        _keys = options.ApiKeys.Select((k, i) => (Convert.FromHexString(k.Sha256),
            new CallerBinding(k.Name.Length > 0 ? k.Name : $"key {i}", k.Environment, k.Services.Count > 0 ? k.Services.ToHashSet(StringComparer.Ordinal) : null))).ToArray();
        if (meters is not null)
        {
            _meter = meters.Create("Pipeline.Ingest");
            _spans = _meter.CreateCounter<long>("pipeline.ingest.spans", "{span}", "Spans received, by outcome: accepted (an event), ignored (not a GenAI call), rejected");
        }
    }

    /// <summary>Spans that became events handed to the SDK.</summary>
    public long Accepted => Interlocked.Read(ref _accepted);
    /// <summary>Spans that are not GenAI calls.</summary>
    public long Ignored => Interlocked.Read(ref _ignored);
    /// <summary>GenAI spans that could not become a valid event.</summary>
    public long Rejected => Interlocked.Read(ref _rejected);
    /// <summary>Export requests answered 200.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    public bool KeysRequired => _keys.Length > 0;

    /// <summary>The caller's binding for <paramref name="key"/>; with no keys configured, every caller is anonymous.</summary>
    public IngestResult Authenticate(string? key, out CallerBinding? caller)
    {
        caller = null;
        if (_keys.Length == 0) return new IngestResult(IngestStatus.Ok, null);
        if (string.IsNullOrEmpty(key)) return new IngestResult(IngestStatus.Unauthenticated, "an API key is required: send Authorization: Bearer KEY (or X-Api-Key: KEY)");
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(key));
        foreach (var (h, binding) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, h))
            {
                caller = binding;
                return new IngestResult(IngestStatus.Ok, null);
            }
        }
        LogUnknownKey(_log);
        return new IngestResult(IngestStatus.Unauthenticated, "unknown API key");
    }

    /// <summary>One request of the caller's budget; a refusal says when to retry.</summary>
    public IngestResult Admit(CallerBinding? caller)
    {
        var bucket = _buckets.GetOrAdd(caller?.Name ?? "", _ => new TokenBucket(_options.RequestsPerSecond, _options.RequestBurst, _time));
        return bucket.TryTake(out var retryAfter) ? new IngestResult(IngestStatus.Ok, null)
            : new IngestResult(IngestStatus.RateLimited, $"more than {_options.RequestsPerSecond} requests/s (Ingest:RequestsPerSecond) for this key: retry after {retryAfter.TotalSeconds:0} s", RetryAfter: retryAfter);
    }

    public IngestResult Export(ExportTraceServiceRequest request, CallerBinding? caller)
    {
        if (SpanMapper.ForbiddenService(request, caller) is { } service)
        {
            return new IngestResult(IngestStatus.Forbidden,
                $"service.name '{service}': key '{caller!.Name}' may write only as {string.Join(", ", caller.Services!.Order(StringComparer.Ordinal))}");
        }
        var batch = SpanMapper.Map(request, _options.Mapping, _edge, caller);
        var refused = 0;
        foreach (var call in batch.Calls)
        {
            // Track refuses only what the edge rules refuse (already judged by the mapper) or what a full spill cannot hold.
            if (!_tracker.Track(call)) refused++;
        }
        Interlocked.Add(ref _accepted, batch.Calls.Count - refused);
        Interlocked.Add(ref _ignored, batch.Ignored);
        Interlocked.Add(ref _rejected, batch.Rejected);
        _spans?.Add(batch.Calls.Count - refused, new KeyValuePair<string, object?>("outcome", "accepted"));
        _spans?.Add(batch.Ignored, new KeyValuePair<string, object?>("outcome", "ignored"));
        _spans?.Add(batch.Rejected, new KeyValuePair<string, object?>("outcome", "rejected"));
        if (refused > 0)
        {
            // Retrying the whole request is safe: event ids come from the span ids, so the accepted ones count once.
            LogRefused(_log, refused);
            return new IngestResult(IngestStatus.Unavailable, $"{refused} spans could not be queued (the receiver's disk spill is full while Kafka is away): retry later", RetryAfter: TimeSpan.FromSeconds(5));
        }
        if (batch.Rejected > 0) LogRejected(_log, batch.Rejected, batch.Spans, batch.FirstRejectReason!);
        Interlocked.Increment(ref _requests);
        var response = new ExportTraceServiceResponse();
        if (batch.Rejected > 0)
        {
            response.PartialSuccess = new ExportTracePartialSuccess
            {
                RejectedSpans = batch.Rejected,
                ErrorMessage = $"{batch.Rejected} of {batch.Calls.Count + batch.Rejected} GenAI spans rejected; first: {batch.FirstRejectReason}",
            };
        }
        return new IngestResult(IngestStatus.Ok, null, response);
    }

    public void Dispose() => _meter?.Dispose();

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "rejected {Rejected} of {Spans} spans; first: {Reason}")]
    private static partial void LogRejected(ILogger log, int rejected, int spans, string reason);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "a request with an unknown API key was refused (401)")]
    private static partial void LogUnknownKey(ILogger log);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "{Refused} spans could not be queued (spill full); answered 503 so the client retries")]
    private static partial void LogRefused(ILogger log, int refused);

    /// <summary>A token bucket on <see cref="TimeProvider"/>: <c>rate</c> tokens a second, at most <c>burst</c> saved.</summary>
    private sealed class TokenBucket(int rate, int burst, TimeProvider time)
    {
        private readonly Lock _lock = new();
        private double _tokens = burst;
        private long _last = time.GetTimestamp();

        public bool TryTake(out TimeSpan retryAfter)
        {
            lock (_lock)
            {
                var now = time.GetTimestamp();
                _tokens = Math.Min(burst, _tokens + time.GetElapsedTime(_last, now).TotalSeconds * rate);
                _last = now;
                if (_tokens >= 1)
                {
                    _tokens -= 1;
                    retryAfter = TimeSpan.Zero;
                    return true;
                }
                retryAfter = TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling((1 - _tokens) / rate)));
                return false;
            }
        }
    }
}
