using System.Globalization;
using System.Security.Cryptography;
using Google.Protobuf;
using Google.Protobuf.Collections;
using Pipeline.Ingest.Otlp.Collector;
using Pipeline.Ingest.Otlp.Common;
using Pipeline.Ingest.Otlp.Trace;
using Pipeline.Producers;
using Pipeline.Schemas;

namespace Pipeline.Ingest;

/// <summary>What a caller's key allows: the environment it writes to and the services it may write as (null: any).</summary>
internal sealed record CallerBinding(string Name, string Environment, IReadOnlySet<string>? Services);

/// <summary>The calls one export request becomes, and what was left out.</summary>
internal sealed class MappedBatch
{
    public List<LlmCall> Calls { get; } = [];
    /// <summary>Spans that are not GenAI calls (no <c>gen_ai.request.model</c>): left out by design, not an error.</summary>
    public int Ignored { get; set; }
    /// <summary>GenAI spans that could not become a valid event (the OTLP partial success's <c>rejected_spans</c>).</summary>
    public int Rejected { get; set; }
    /// <summary>The first rejection's reason, naming the span and the field.</summary>
    public string? FirstRejectReason { get; set; }
    public int Spans => Calls.Count + Ignored + Rejected;
}

/// <summary>
/// GenAI client spans to <see cref="LlmCall"/>s, by the OpenTelemetry GenAI semantic conventions (v1.37 to 1.41, and
/// the older <c>gen_ai.system</c>). Pure: no I/O, no clock. A span is a GenAI call when it names a request (or
/// response) model and an operation or provider; other spans are ignored, except as stages of their GenAI parent
/// (child spans in the same request: retrieval, tools). Each event passes the SDK's <see cref="EdgeRules"/> here,
/// so a span the SDK would refuse is counted as rejected with the SDK's reason.
/// </summary>
internal static class SpanMapper
{
    // Our namespace for UUIDv5 event ids (RFC 9562 section 5.5): the name is the trace id's 16 bytes then the span id's 8.
    private static readonly Guid EventIdNamespace = new("6f1f7c3e-3b8a-4e0f-9b1d-2a7c9e5d4b10");

    public static MappedBatch Map(ExportTraceServiceRequest request, SpanMappingOptions mapping, ProducerOptions edge, CallerBinding? caller)
    {
        var batch = new MappedBatch();
        // Children by parent span id, for stages: only within this request (exporters batch a trace's spans together
        // when they end close together; a child exported in an earlier batch is not a stage).
        var children = new Dictionary<(ByteString Trace, ByteString Parent), List<Span>>();
        foreach (var rs in request.ResourceSpans)
        {
            foreach (var ss in rs.ScopeSpans)
            {
                foreach (var span in ss.Spans)
                {
                    if (span.ParentSpanId.IsEmpty) continue;
                    var key = (span.TraceId, span.ParentSpanId);
                    if (!children.TryGetValue(key, out var list)) children[key] = list = [];
                    list.Add(span);
                }
            }
        }
        foreach (var rs in request.ResourceSpans)
        {
            var resource = rs.Resource?.Attributes;
            foreach (var ss in rs.ScopeSpans)
            {
                foreach (var span in ss.Spans)
                {
                    if (!IsGenAiCall(span))
                    {
                        batch.Ignored++;
                        continue;
                    }
                    var (call, reason) = ToCall(span, resource, mapping, caller, children.GetValueOrDefault((span.TraceId, span.SpanId)));
                    if (call is not null)
                    {
                        var result = EdgeRules.Apply(call, edge);
                        call = result.Call;
                        reason = result.RejectReason;
                    }
                    if (call is null)
                    {
                        batch.Rejected++;
                        batch.FirstRejectReason ??= $"span {Hex(span.SpanId)} ('{Truncate(span.Name)}'): {reason}";
                        continue;
                    }
                    batch.Calls.Add(call);
                }
            }
        }
        return batch;
    }

    /// <summary>The first <c>service.name</c> in the request that <paramref name="caller"/> may not write as, or null.</summary>
    public static string? ForbiddenService(ExportTraceServiceRequest request, CallerBinding? caller)
    {
        if (caller?.Services is not { } allowed) return null;
        foreach (var rs in request.ResourceSpans)
        {
            var service = Text(rs.Resource?.Attributes, "service.name") ?? "";
            if (!allowed.Contains(service)) return service;
        }
        return null;
    }

    public static bool IsGenAiCall(Span span) =>
        (Find(span.Attributes, "gen_ai.request.model") ?? Find(span.Attributes, "gen_ai.response.model")) is not null
        && (Find(span.Attributes, "gen_ai.operation.name") ?? Find(span.Attributes, "gen_ai.provider.name") ?? Find(span.Attributes, "gen_ai.system")) is not null;

    /// <summary>UUIDv5 of trace id and span id: an exporter's retry of a span is the same event.</summary>
    public static Guid EventId(ReadOnlySpan<byte> traceId, ReadOnlySpan<byte> spanId)
    {
        Span<byte> name = stackalloc byte[16 + traceId.Length + spanId.Length];
        EventIdNamespace.TryWriteBytes(name, bigEndian: true, out _);
        traceId.CopyTo(name[16..]);
        spanId.CopyTo(name[(16 + traceId.Length)..]);
        Span<byte> hash = stackalloc byte[20];
#pragma warning disable CA5350 // UUIDv5 is defined on SHA-1; this is an identifier, not a security boundary.
        SHA1.HashData(name, hash);
#pragma warning restore CA5350
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true);
    }

    private static (LlmCall? Call, string? Reason) ToCall(Span span, RepeatedField<KeyValue>? resource, SpanMappingOptions mapping, CallerBinding? caller, List<Span>? children)
    {
        if (span.TraceId.Length != 16) return (null, $"trace_id: {span.TraceId.Length} bytes, expected 16");
        if (span.SpanId.Length != 8) return (null, $"span_id: {span.SpanId.Length} bytes, expected 8");
        if (span.StartTimeUnixNano == 0) return (null, "start_time_unix_nano: not set");
        if (span.EndTimeUnixNano < span.StartTimeUnixNano) return (null, "end_time_unix_nano: before start_time_unix_nano");
        if (span.StartTimeUnixNano / 1_000_000_000 >= (ulong)FieldBounds.MaxEventUnixSeconds) return (null, "start_time_unix_nano: after 2100");
        var attributes = span.Attributes;
        var latencyMs = (span.EndTimeUnixNano - span.StartTimeUnixNano) / 1e6;
        var errorType = Text(attributes, "error.type");
        var httpStatus = Long(attributes, "http.response.status_code") is { } hs and >= FieldBounds.MinHttpStatus and <= FieldBounds.MaxHttpStatus ? (int)hs : (int?)null;
        var failed = span.Status?.Code == Status.Types.StatusCode.Error || errorType is not null;
        var ttftSeconds = Double(attributes, "gen_ai.response.time_to_first_chunk");
        var call = new LlmCall
        {
            EventId = EventId(span.TraceId.Span, span.SpanId.Span),
            OccurredAt = DateTimeOffset.FromUnixTimeMilliseconds((long)(span.StartTimeUnixNano / 1_000_000)),
            // The key's environment wins: a team cannot write into another's environment by what its spans claim.
            Environment = caller?.Environment
                ?? Text(resource, "deployment.environment.name") ?? Text(resource, "deployment.environment")
                ?? Text(attributes, "deployment.environment.name") ?? Text(attributes, "deployment.environment") ?? mapping.DefaultEnvironment,
            Service = Text(resource, "service.name") ?? "",
            Operation = Text(attributes, "gen_ai.operation.name") ?? "chat",
            Provider = Text(attributes, "gen_ai.provider.name") ?? Text(attributes, "gen_ai.system") ?? "unknown",
            RequestModel = Text(attributes, "gen_ai.request.model") ?? Text(attributes, "gen_ai.response.model")!,
            ResponseModel = Text(attributes, "gen_ai.response.model"),
            PromptName = First(attributes, resource, mapping.PromptNames) ?? mapping.DefaultPromptName,
            PromptVersion = First(attributes, resource, mapping.PromptVersions) ?? mapping.DefaultPromptVersion,
            TraceId = Hex(span.TraceId),
            Tags = Tags(attributes, resource, mapping),
            LatencyMs = latencyMs,
            TimeToFirstTokenMs = ttftSeconds is { } t ? t * 1000 : null,
            // prompt_tokens/completion_tokens: the names before semconv 1.27, still sent by older OpenLLMetry releases.
            InputTokens = Long(attributes, "gen_ai.usage.input_tokens") ?? Long(attributes, "gen_ai.usage.prompt_tokens") ?? 0,
            OutputTokens = Long(attributes, "gen_ai.usage.output_tokens") ?? Long(attributes, "gen_ai.usage.completion_tokens") ?? 0,
            CachedInputTokens = Long(attributes, "gen_ai.usage.cache_read.input_tokens"),
            Outcome = failed ? Outcome.Error : Outcome.Success,
            ErrorType = failed ? Classify(errorType, httpStatus) : null,
            ErrorMessage = failed ? (span.Status?.Message is { Length: > 0 } m ? m : errorType) : null,
            HttpStatus = httpStatus,
            Stages = children is null ? [] : children.Select(c => new Stage(c.Name.Length > 0 ? c.Name : "span",
                c.EndTimeUnixNano >= c.StartTimeUnixNano ? (c.EndTimeUnixNano - c.StartTimeUnixNano) / 1e6 : 0)).ToList(),
        };
        return (call, null);
    }

    /// <summary>OpenTelemetry <c>error.type</c> (a well-known value, an HTTP status, or an exception type name) to ours.</summary>
    public static ErrorType Classify(string? errorType, int? httpStatus)
    {
        var status = httpStatus ?? (int.TryParse(errorType, NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : null);
        if (status == 429) return Schemas.ErrorType.RateLimited;
        var t = errorType ?? "";
        if (Has(t, "timeout") || Has(t, "timedout") || status is 408 or 504) return Schemas.ErrorType.Timeout;
        if (Has(t, "ratelimit") || Has(t, "rate_limit") || Has(t, "throttl")) return Schemas.ErrorType.RateLimited;
        if (Has(t, "cancel")) return Schemas.ErrorType.Cancelled;
        if (Has(t, "content_filter") || Has(t, "contentfilter")) return Schemas.ErrorType.ContentFilter;
        if (Has(t, "validation")) return Schemas.ErrorType.Validation;
        if (Has(t, "provider")) return Schemas.ErrorType.ProviderError;
        if (status is >= 500 and <= 599 || Has(t, "server_error")) return Schemas.ErrorType.ServerError;
        if (status is >= 400 and <= 499 || Has(t, "client_error")) return Schemas.ErrorType.ClientError;
        return Schemas.ErrorType.Other;

        static bool Has(string s, string part) => s.Contains(part, StringComparison.OrdinalIgnoreCase);
    }

    private static Dictionary<string, string> Tags(RepeatedField<KeyValue> attributes, RepeatedField<KeyValue>? resource, SpanMappingOptions mapping)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        if (mapping.TagPrefix.Length > 0)
        {
            // Resource first, so a span's own tag wins.
            foreach (var list in new[] { resource, attributes })
            {
                if (list is null) continue;
                foreach (var kv in list)
                {
                    if (kv.Key.Length > mapping.TagPrefix.Length && kv.Key.StartsWith(mapping.TagPrefix, StringComparison.Ordinal) && AsText(kv.Value) is { } v)
                    {
                        tags[kv.Key[mapping.TagPrefix.Length..]] = v;
                    }
                }
            }
        }
        foreach (var (tag, attribute) in mapping.Tags)
        {
            if ((Text(attributes, attribute) ?? Text(resource, attribute)) is { } v) tags[tag] = v;
        }
        return tags;
    }

    private static string? First(RepeatedField<KeyValue> attributes, RepeatedField<KeyValue>? resource, string[] names)
    {
        foreach (var n in names)
        {
            if (Text(attributes, n) is { } v) return v;
        }
        foreach (var n in names)
        {
            if (Text(resource, n) is { } v) return v;
        }
        return null;
    }

    private static AnyValue? Find(RepeatedField<KeyValue>? list, string key)
    {
        if (list is null) return null;
        foreach (var kv in list)
        {
            if (kv.Key == key) return kv.Value;
        }
        return null;
    }

    private static string? Text(RepeatedField<KeyValue>? list, string key) => AsText(Find(list, key)) is { Length: > 0 } s ? s : null;

    private static string? AsText(AnyValue? v) => v?.ValueCase switch
    {
        AnyValue.ValueOneofCase.StringValue => v.StringValue,
        AnyValue.ValueOneofCase.IntValue => v.IntValue.ToString(CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.DoubleValue => v.DoubleValue.ToString("R", CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.BoolValue => v.BoolValue ? "true" : "false",
        _ => null,
    };

    private static long? Long(RepeatedField<KeyValue> list, string key) => Find(list, key) switch
    {
        { ValueCase: AnyValue.ValueOneofCase.IntValue } v => v.IntValue,
        { ValueCase: AnyValue.ValueOneofCase.DoubleValue } v when double.IsFinite(v.DoubleValue) && Math.Abs(v.DoubleValue) < 9e18 => (long)v.DoubleValue,
        { ValueCase: AnyValue.ValueOneofCase.StringValue } v when long.TryParse(v.StringValue, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) => l,
        _ => null,
    };

    private static double? Double(RepeatedField<KeyValue> list, string key) => Find(list, key) switch
    {
        { ValueCase: AnyValue.ValueOneofCase.DoubleValue } v => v.DoubleValue,
        { ValueCase: AnyValue.ValueOneofCase.IntValue } v => v.IntValue,
        { ValueCase: AnyValue.ValueOneofCase.StringValue } v when double.TryParse(v.StringValue, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
        _ => null,
    };

    public static string Hex(ByteString bytes) => Convert.ToHexStringLower(bytes.Span);

    private static string Truncate(string s) => s.Length <= 60 ? s : s[..60] + "…";
}
