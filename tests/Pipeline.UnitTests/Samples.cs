using Pipeline.Schemas;

namespace Pipeline.Tests;

/// <summary>Events for tests, with every field set.</summary>
internal static class Samples
{
    public static LlmCall FullCall(DateTimeOffset? at = null) => new()
    {
        EventId = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e"),
        OccurredAt = at ?? new DateTimeOffset(2026, 11, 23, 10, 15, 30, 123, TimeSpan.Zero),
        Environment = "prod",
        Service = "support-bot",
        Operation = "chat",
        Provider = "openai",
        RequestModel = "gpt-4o",
        ResponseModel = "gpt-4o-2024-08-06",
        PromptName = "answer_ticket",
        PromptVersion = "2.1.0",
        RequestId = "req-42",
        TraceId = "4bf92f3577b34da6a3ce929d0e0e4736",
        Tags = new Dictionary<string, string> { ["feature"] = "tickets", ["ab_variant"] = "B", ["cohort"] = "enterprise" },
        LatencyMs = 1234.5,
        TimeToFirstTokenMs = 210.25,
        InputTokens = 1500,
        OutputTokens = 320,
        CachedInputTokens = 1024,
        CostUsd = 0.0123,
        Outcome = Outcome.Error,
        ErrorMessage = "rate limited: retry after 2s",
        ErrorType = ErrorType.RateLimited,
        HttpStatus = 429,
        QualityScore = 0.75,
        RetryCount = 2,
        CacheHit = true,
        Stages = [new Stage("retrieval", 150.5) { Attributes = new Dictionary<string, string> { ["index"] = "kb-v3" } }, new Stage("generation", 1010)],
        Custom = new Dictionary<string, double> { ["user_feedback"] = 1, ["output_chars"] = 1840 },
        SampleRate = 0.5,
    };

    public static LlmCall MinimalCall() => new()
    {
        EventId = Guid.Parse("3d8d5b52-4c1e-4a35-9d3c-2a1f6f1b7c11"),
        OccurredAt = new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero),
        Environment = "dev",
        Service = "svc",
        Operation = "embeddings",
        Provider = "azure.ai.openai",
        RequestModel = "text-embedding-3-small",
        PromptName = "embed",
        PromptVersion = "1",
        LatencyMs = 12,
        Outcome = Outcome.Success,
    };
}
