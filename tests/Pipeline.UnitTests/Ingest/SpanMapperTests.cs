using System.Text;
using Google.Protobuf;
using Pipeline.Ingest;
using Pipeline.Ingest.Otlp.Trace;
using Pipeline.Producers;
using Pipeline.Schemas;
using static Pipeline.UnitTests.Ingest.OtlpSpans;

namespace Pipeline.UnitTests.Ingest;

public sealed class SpanMapperTests
{
    private static readonly ProducerOptions Edge = new() { BootstrapServers = "x:9092", DefaultEnvironment = "default", DefaultService = "unknown_service" };
    private static readonly SpanMappingOptions Mapping = new();

    private static MappedBatch Map(Pipeline.Ingest.Otlp.Collector.ExportTraceServiceRequest request, CallerBinding? caller = null, SpanMappingOptions? mapping = null) =>
        SpanMapper.Map(request, mapping ?? Mapping, Edge, caller);

    [Fact]
    public void ChatSpan_MapsEveryConventionField()
    {
        var span = Chat(1, 2, 250, Attr("gen_ai.usage.cache_read.input_tokens", 64L), Attr("gen_ai.response.time_to_first_chunk", 0.125),
            Attr("gen_ai.prompt.name", "support_answer"), Attr("gen_ai.prompt.version", "2.1"));
        var batch = Map(Request(span));
        var call = Assert.Single(batch.Calls);
        Assert.Equal(0, batch.Ignored + batch.Rejected);
        Assert.Equal(Start, call.OccurredAt);
        Assert.Equal(("prod", "checkout", "chat", "openai", "gpt-4o", "gpt-4o-2024-08-06"),
            (call.Environment, call.Service, call.Operation, call.Provider, call.RequestModel, call.ResponseModel));
        Assert.Equal(("support_answer", "2.1"), (call.PromptName, call.PromptVersion));
        Assert.Equal(250, call.LatencyMs, 6);
        Assert.Equal(125, call.TimeToFirstTokenMs!.Value, 6);
        Assert.Equal((120L, 30L, (long?)64), (call.InputTokens, call.OutputTokens, call.CachedInputTokens));
        Assert.Equal(Outcome.Success, call.Outcome);
        Assert.Null(call.ErrorType);
        Assert.Equal("7a000000000000000000000000000001", call.TraceId);
        Assert.Equal(SpanMapper.EventId(TraceId(1), SpanId(2)), call.EventId);
        Assert.Null(LlmCallValidator.Validate(call, Start, TimeSpan.FromDays(1), TimeSpan.FromDays(1)));
    }

    [Fact]
    public void OlderConventions_GenAiSystemAndDeploymentEnvironment_AreRead()
    {
        var span = Span(3, 4, "chat", 10, Attr("gen_ai.system", "anthropic"), Attr("gen_ai.request.model", "claude-3-5-sonnet"),
            Attr("gen_ai.usage.prompt_tokens", 7L), Attr("gen_ai.usage.completion_tokens", "3"));
        var call = Assert.Single(Map(Request([Attr("service.name", "svc"), Attr("deployment.environment", "staging")], span)).Calls);
        Assert.Equal(("anthropic", "staging", "chat", "default", "unversioned"), (call.Provider, call.Environment, call.Operation, call.PromptName, call.PromptVersion));
        Assert.Equal((7L, 3L), (call.InputTokens, call.OutputTokens));
    }

    [Fact]
    public void EventId_IsUuidV5_StableAndDistinctPerSpan()
    {
        var a = SpanMapper.EventId(TraceId(1), SpanId(2));
        Assert.Equal(a, SpanMapper.EventId(TraceId(1), SpanId(2)));
        Assert.NotEqual(a, SpanMapper.EventId(TraceId(1), SpanId(3)));
        Assert.NotEqual(a, SpanMapper.EventId(TraceId(2), SpanId(2)));
        Assert.Equal(5, a.Version);
        Assert.Contains(a.ToString()[19], "89ab"); // the RFC variant
    }

    [Theory]
    [InlineData("timeout", null, ErrorType.Timeout)]
    [InlineData("System.TimeoutException", null, ErrorType.Timeout)]
    [InlineData("429", null, ErrorType.RateLimited)]
    [InlineData("_OTHER", 429, ErrorType.RateLimited)]
    [InlineData("System.Threading.Tasks.TaskCanceledException", null, ErrorType.Cancelled)]
    [InlineData("503", null, ErrorType.ServerError)]
    [InlineData("400", null, ErrorType.ClientError)]
    [InlineData("content_filter", null, ErrorType.ContentFilter)]
    [InlineData("System.InvalidOperationException", null, ErrorType.Other)]
    public void Classify_ErrorTypeAndStatus_MapToOurTypes(string errorType, int? status, ErrorType expected) =>
        Assert.Equal(expected, SpanMapper.Classify(errorType, status));

    [Fact]
    public void ErrorStatus_OrErrorType_IsAnError()
    {
        var byStatus = Chat(1, 1);
        byStatus.Status = new Status { Code = Status.Types.StatusCode.Error, Message = "upstream exploded" };
        var byType = Chat(1, 2, 10, Attr("error.type", "System.TimeoutException"));
        var batch = Map(Request(byStatus, byType));
        Assert.Equal(2, batch.Calls.Count);
        Assert.Equal((Outcome.Error, ErrorType.Other, "upstream exploded"), (batch.Calls[0].Outcome, batch.Calls[0].ErrorType, batch.Calls[0].ErrorMessage));
        Assert.Equal((Outcome.Error, ErrorType.Timeout), (batch.Calls[1].Outcome, batch.Calls[1].ErrorType));
    }

    [Fact]
    public void NonGenAiSpans_AreIgnoredAndCounted_ChildrenBecomeStages()
    {
        var root = Span(9, 1, "rag_query", 900, Attr("gen_ai.operation.name", "rag_query"), Attr("gen_ai.provider.name", "openai"), Attr("gen_ai.request.model", "gpt-4o"));
        var retrieval = Span(9, 2, "retrieval", 300);
        retrieval.ParentSpanId = root.SpanId;
        var http = Span(9, 3, "GET /search", 5);
        var tool = Span(9, 4, "execute_tool lookup", 40, Attr("gen_ai.operation.name", "execute_tool"));
        tool.ParentSpanId = root.SpanId;
        var otherTrace = Span(8, 5, "retrieval", 1);
        otherTrace.ParentSpanId = root.SpanId;
        var batch = Map(Request(retrieval, http, tool, otherTrace, root));
        var call = Assert.Single(batch.Calls);
        Assert.Equal(4, batch.Ignored);
        Assert.Equal(["retrieval", "execute_tool lookup"], call.Stages.Select(s => s.Name));
        Assert.Equal([300.0, 40.0], call.Stages.Select(s => s.DurationMs));
    }

    [Fact]
    public void KeyEnvironment_OverridesTheSpans_AndServicesAreChecked()
    {
        var caller = new CallerBinding("team-a", "prod-eu", new HashSet<string>(["checkout"], StringComparer.Ordinal));
        var request = Request(Chat(1, 1));
        Assert.Equal("prod-eu", Assert.Single(Map(request, caller).Calls).Environment);
        Assert.Null(SpanMapper.ForbiddenService(request, caller));
        var other = Request([Attr("service.name", "billing")], Chat(1, 2));
        Assert.Equal("billing", SpanMapper.ForbiddenService(other, caller));
        Assert.Null(SpanMapper.ForbiddenService(other, caller with { Services = null }));
    }

    [Fact]
    public void Mapping_PromptAndTags_FromConfiguredAttributes_SpanBeforeResource()
    {
        var mapping = new SpanMappingOptions
        {
            PromptNameAttributes = ["app.prompt"], PromptVersionAttributes = ["app.prompt_version"],
            Tags = new() { ["feature"] = "app.feature" },
        };
        var span = Chat(1, 1, 10, Attr("app.prompt", "summarize"), Attr("pipeline.tag.cohort", "beta"), Attr("app.feature", "search"));
        var request = Request([Attr("service.name", "svc"), Attr("app.prompt", "ignored"), Attr("app.prompt_version", "7"), Attr("pipeline.tag.region", "eu")], span);
        var call = Assert.Single(Map(request, mapping: mapping).Calls);
        Assert.Equal(("summarize", "7"), (call.PromptName, call.PromptVersion));
        Assert.Equal(new Dictionary<string, string> { ["cohort"] = "beta", ["region"] = "eu", ["feature"] = "search" }, call.Tags);
    }

    [Fact]
    public void BadSpans_AreRejectedWithAReason_TheRestKept()
    {
        var noStart = Chat(1, 1);
        noStart.StartTimeUnixNano = 0;
        var backwards = Chat(1, 2);
        backwards.EndTimeUnixNano = backwards.StartTimeUnixNano - 1;
        var shortId = Chat(1, 3);
        shortId.TraceId = ByteString.CopyFrom(new byte[3]);
        var negativeTokens = Span(1, 4, "chat", 10, Attr("gen_ai.operation.name", "chat"), Attr("gen_ai.request.model", "m"), Attr("gen_ai.usage.input_tokens", -5L));
        var batch = Map(Request(noStart, backwards, shortId, negativeTokens, Chat(1, 5)));
        Assert.Single(batch.Calls);
        Assert.Equal(4, batch.Rejected);
        Assert.Contains("start_time_unix_nano: not set", batch.FirstRejectReason, StringComparison.Ordinal);
    }

    [Fact]
    public void OtlpJson_HexIdsAndIntegerEnums_ParseToTheSameRequest()
    {
        var span = Chat(1, 2);
        span.ParentSpanId = ByteString.CopyFrom(SpanId(7));
        span.Status = new Status { Code = Status.Types.StatusCode.Error, Message = "x" };
        var request = Request(span);
        var json = $$$"""
            {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}},{"key":"deployment.environment.name","value":{"stringValue":"prod"}}]},
             "scopeSpans":[{"scope":{"name":"test"},"spans":[{"traceId":"{{{Convert.ToHexString(TraceId(1))}}}","spanId":"{{{Convert.ToHexStringLower(SpanId(2))}}}",
             "parentSpanId":"{{{Convert.ToHexStringLower(SpanId(7))}}}","name":"chat gpt-4o","kind":3,
             "startTimeUnixNano":"{{{span.StartTimeUnixNano}}}","endTimeUnixNano":{{{span.EndTimeUnixNano}}},"unknownField":{"x":1},
             "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},
               {"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},{"key":"gen_ai.response.model","value":{"stringValue":"gpt-4o-2024-08-06"}},
               {"key":"gen_ai.usage.input_tokens","value":{"intValue":"120"}},{"key":"gen_ai.usage.output_tokens","value":{"intValue":30}}],
             "status":{"code":2,"message":"x"}}]}]}]}
            """;
        Assert.Equal(request, OtlpJson.Parse(Encoding.UTF8.GetBytes(json)));
    }

    [Theory]
    [InlineData("{not json", "not JSON")]
    [InlineData("[1]", "not a JSON object")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}""", "resourceSpans[0].scopeSpans[0].spans[0].traceId")]
    [InlineData("""{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":5}]}]}]}""", "")]
    public void OtlpJson_Malformed_ThrowsWithAReason(string json, string reason)
    {
        var ex = Assert.Throws<InvalidDataException>(() => OtlpJson.Parse(Encoding.UTF8.GetBytes(json)));
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
    }
}
