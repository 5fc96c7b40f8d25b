using Google.Protobuf;
using Pipeline.Ingest.Otlp.Collector;
using Pipeline.Ingest.Otlp.Common;
using Pipeline.Ingest.Otlp.Resource;
using Pipeline.Ingest.Otlp.Trace;

namespace Pipeline.UnitTests.Ingest;

/// <summary>Builds OTLP requests for the tests.</summary>
internal static class OtlpSpans
{
    public static readonly DateTimeOffset Start = new(2026, 12, 2, 10, 0, 0, 123, TimeSpan.Zero);

    public static KeyValue Attr(string key, object value) => new()
    {
        Key = key,
        Value = value switch
        {
            string s => new AnyValue { StringValue = s },
            long l => new AnyValue { IntValue = l },
            int i => new AnyValue { IntValue = i },
            double d => new AnyValue { DoubleValue = d },
            bool b => new AnyValue { BoolValue = b },
            _ => throw new ArgumentException(value.GetType().Name),
        },
    };

    // Never all zeroes (an invalid id in OTLP): a fixed first byte.
    public static byte[] TraceId(int n) => [0x7a, .. new byte[11], (byte)(n >> 24), (byte)(n >> 16), (byte)(n >> 8), (byte)n];
    public static byte[] SpanId(int n) => [0x5c, .. new byte[3], (byte)(n >> 24), (byte)(n >> 16), (byte)(n >> 8), (byte)n];

    public static Span Span(int trace, int span, string name, double ms, params KeyValue[] attributes)
    {
        var start = (ulong)Start.ToUnixTimeMilliseconds() * 1_000_000UL;
        var s = new Span
        {
            TraceId = ByteString.CopyFrom(TraceId(trace)), SpanId = ByteString.CopyFrom(SpanId(span)), Name = name,
            Kind = Pipeline.Ingest.Otlp.Trace.Span.Types.SpanKind.Client,
            StartTimeUnixNano = start, EndTimeUnixNano = start + (ulong)(ms * 1_000_000),
        };
        s.Attributes.AddRange(attributes);
        return s;
    }

    public static Span Chat(int trace, int span, double ms = 250, params KeyValue[] more) =>
        Span(trace, span, "chat gpt-4o", ms, [Attr("gen_ai.operation.name", "chat"), Attr("gen_ai.provider.name", "openai"),
            Attr("gen_ai.request.model", "gpt-4o"), Attr("gen_ai.response.model", "gpt-4o-2024-08-06"),
            Attr("gen_ai.usage.input_tokens", 120L), Attr("gen_ai.usage.output_tokens", 30L), .. more]);

    public static ExportTraceServiceRequest Request(IEnumerable<KeyValue> resource, params Span[] spans)
    {
        var scope = new ScopeSpans { Scope = new InstrumentationScope { Name = "test" } };
        scope.Spans.AddRange(spans);
        var rs = new ResourceSpans { Resource = new Resource() };
        rs.Resource.Attributes.AddRange(resource);
        rs.ScopeSpans.Add(scope);
        var request = new ExportTraceServiceRequest();
        request.ResourceSpans.Add(rs);
        return request;
    }

    public static ExportTraceServiceRequest Request(params Span[] spans) =>
        Request([Attr("service.name", "checkout"), Attr("deployment.environment.name", "prod")], spans);
}
