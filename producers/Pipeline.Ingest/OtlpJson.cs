using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Pipeline.Ingest.Otlp.Collector;

namespace Pipeline.Ingest;

/// <summary>
/// OTLP/JSON bodies. OTLP's JSON is protobuf's JSON mapping (camelCase names, enums as integers, 64-bit integers as
/// strings or numbers) except that trace and span ids are hex, not base64: those are rewritten before Google.Protobuf's
/// parser reads the rest. Unknown fields are ignored, as the OTLP specification asks of receivers.
/// </summary>
internal static class OtlpJson
{
    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true).WithRecursionLimit(64));
    private static readonly string[] IdFields = ["traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"];
    private static readonly string[] TimeFields = ["startTimeUnixNano", "endTimeUnixNano", "start_time_unix_nano", "end_time_unix_nano"];

    /// <summary>Parses a request; a malformed body throws <see cref="InvalidDataException"/> with a reason naming where.</summary>
    public static ExportTraceServiceRequest Parse(ReadOnlySpan<byte> body)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(body, documentOptions: new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"not JSON: {ex.Message}");
        }
        if (root is not JsonObject request) throw new InvalidDataException("not a JSON object (an ExportTraceServiceRequest)");
        foreach (var (rs, i) in Items(request, "resourceSpans", "resource_spans"))
        {
            foreach (var (ss, j) in Items(rs, "scopeSpans", "scope_spans"))
            {
                foreach (var (span, k) in Items(ss, "spans", "spans"))
                {
                    foreach (var field in IdFields)
                    {
                        if (span[field] is JsonValue v && v.TryGetValue<string>(out var hex))
                        {
                            span[field] = HexToBase64(hex, $"resourceSpans[{i}].scopeSpans[{j}].spans[{k}].{field}");
                        }
                    }
                    foreach (var field in TimeFields)
                    {
                        // Nanoseconds since 1970 need 61 bits: as a JSON number Google.Protobuf reads them through a
                        // double and loses the last digits, so the number's own text is handed over as a string.
                        if (span[field] is JsonValue v && v.GetValueKind() == JsonValueKind.Number) span[field] = v.ToJsonString();
                    }
                }
            }
        }
        try
        {
            return Parser.Parse<ExportTraceServiceRequest>(request.ToJsonString());
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new InvalidDataException(ex.Message);
        }
        catch (InvalidJsonException ex)
        {
            throw new InvalidDataException(ex.Message);
        }
    }

    public static string Format(IMessage message) => JsonFormatter.Default.Format(message);

    private static IEnumerable<(JsonObject Item, int Index)> Items(JsonObject parent, string name, string alternative)
    {
        if ((parent[name] ?? parent[alternative]) is not JsonArray array) yield break;
        for (var i = 0; i < array.Count; i++)
        {
            if (array[i] is JsonObject o) yield return (o, i);
        }
    }

    private static string HexToBase64(string hex, string where)
    {
        if (hex.Length == 0) return "";
        try
        {
            return Convert.ToBase64String(Convert.FromHexString(hex));
        }
        catch (FormatException)
        {
            throw new InvalidDataException($"{where}: '{(hex.Length > 40 ? hex[..40] + "…" : hex)}' is not hex (OTLP/JSON ids are hex strings)");
        }
    }
}
