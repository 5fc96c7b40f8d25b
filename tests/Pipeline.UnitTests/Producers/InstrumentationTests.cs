using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Producers;
using Pipeline.Schemas;

namespace Pipeline.UnitTests.Producers;

/// <summary>The chat-client middleware, the measuring scope and the DI registration, against in-process fakes.</summary>
public sealed class InstrumentationTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 9, 0, 0, TimeSpan.Zero));
    private readonly RecordingTracker _tracker = new();

    [Fact]
    public async Task ChatClient_Response_TracksModelTokensLatencyAndPrompt()
    {
        var inner = new FakeChatClient(_time) { Delay = TimeSpan.FromMilliseconds(840) };
        using var client = new ChatClientBuilder(inner).UsePipelineMetrics(o => o.PromptName = "fallback", _tracker).Build(new EmptyServices(_time));
        var options = new ChatOptions { ModelId = "gpt-4o-mini", AdditionalProperties = new() { [ChatMetricsOptions.PromptNameKey] = "support_answer", [ChatMetricsOptions.PromptVersionKey] = "2.0" } };

        var response = await client.GetResponseAsync("hello", options, TestContext.Current.CancellationToken);

        Assert.Equal("hi there", response.Text);
        var call = Assert.Single(_tracker.Calls);
        Assert.Equal("support_answer", call.PromptName);
        Assert.Equal("2.0", call.PromptVersion);
        Assert.Equal("fake-ai", call.Provider);
        Assert.Equal("gpt-4o-mini", call.RequestModel);
        Assert.Equal("gpt-4o-mini-2024-07-18", call.ResponseModel);
        Assert.Equal(120, call.InputTokens);
        Assert.Equal(30, call.OutputTokens);
        Assert.Equal(64, call.CachedInputTokens);
        Assert.Equal(840, call.LatencyMs);
        Assert.Null(call.TimeToFirstTokenMs);
        Assert.Equal(Outcome.Success, call.Outcome);
        Assert.Equal(_time.GetUtcNow().AddMilliseconds(-840), call.OccurredAt);
    }

    [Fact]
    public async Task ChatClient_Streaming_TracksTimeToFirstTokenAndUsage()
    {
        var inner = new FakeChatClient(_time) { Delay = TimeSpan.FromMilliseconds(200), ChunkDelay = TimeSpan.FromMilliseconds(50) };
        using var client = new ChatClientBuilder(inner).UsePipelineMetrics(o => { o.PromptName = "summarize"; o.PromptVersion = "3"; }, _tracker).Build(new EmptyServices(_time));
        var text = "";
        await foreach (var update in client.GetStreamingResponseAsync("hello", cancellationToken: TestContext.Current.CancellationToken))
        {
            text += update.Text;
        }
        Assert.Equal("hi there", text);
        var call = Assert.Single(_tracker.Calls);
        Assert.Equal("summarize", call.PromptName);
        Assert.Equal("3", call.PromptVersion);
        Assert.Equal("default-model", call.RequestModel);
        Assert.Equal(200, call.TimeToFirstTokenMs);
        Assert.Equal(250, call.LatencyMs);
        Assert.Equal(120, call.InputTokens);
        Assert.Equal(30, call.OutputTokens);
    }

    [Theory]
    [InlineData(HttpStatusCode.TooManyRequests, ErrorType.RateLimited)]
    [InlineData(HttpStatusCode.BadGateway, ErrorType.ServerError)]
    [InlineData(HttpStatusCode.BadRequest, ErrorType.ClientError)]
    public async Task ChatClient_Failure_IsTrackedWithErrorTypeAndRethrown(HttpStatusCode status, ErrorType expected)
    {
        var inner = new FakeChatClient(_time) { Failure = new HttpRequestException("provider said no", null, status) };
        using var client = new ChatClientBuilder(inner).UsePipelineMetrics(tracker: _tracker).Build(new EmptyServices(_time));
        var thrown = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetResponseAsync("hello", cancellationToken: TestContext.Current.CancellationToken));
        Assert.Same(inner.Failure, thrown);
        var call = Assert.Single(_tracker.Calls);
        Assert.Equal(Outcome.Error, call.Outcome);
        Assert.Equal(expected, call.ErrorType);
        Assert.Equal((int)status, call.HttpStatus);
        Assert.Contains("provider said no", call.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChatClient_StreamFailingMidway_IsTrackedOnce()
    {
        var inner = new FakeChatClient(_time) { FailAfterFirstChunk = new TimeoutException("stalled") };
        using var client = new ChatClientBuilder(inner).UsePipelineMetrics(tracker: _tracker).Build(new EmptyServices(_time));
        await Assert.ThrowsAsync<TimeoutException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync("hello", cancellationToken: TestContext.Current.CancellationToken))
            {
            }
        });
        var call = Assert.Single(_tracker.Calls);
        Assert.Equal(ErrorType.Timeout, call.ErrorType);
        Assert.NotNull(call.TimeToFirstTokenMs);
    }

    [Fact]
    public void CallScope_RecordsStagesBetweenMarks()
    {
        using (var scope = new CallScope(_tracker, _time, "rag_answer", "1.4", "gpt-4o", "openai", "rag_query"))
        {
            scope.Tags["cohort"] = "beta";
            _time.Advance(TimeSpan.FromMilliseconds(120));
            scope.Stage("retrieval");
            _time.Advance(TimeSpan.FromMilliseconds(30));
            scope.FirstToken();
            _time.Advance(TimeSpan.FromMilliseconds(400));
            scope.Stage("generation");
            Assert.True(scope.Succeed(inputTokens: 900, outputTokens: 80));
        }
        var call = Assert.Single(_tracker.Calls); // Dispose after Succeed tracks nothing more
        Assert.Equal(550, call.LatencyMs);
        Assert.Equal(150, call.TimeToFirstTokenMs);
        Assert.Equal([("retrieval", 120.0), ("generation", 430.0)], call.Stages.Select(s => (s.Name, s.DurationMs)));
        Assert.Equal("rag_query", call.Operation);
        Assert.Equal("beta", call.Tags["cohort"]);
        Assert.Equal(Outcome.Success, call.Outcome);
    }

    [Fact]
    public async Task ChatClient_RequestNamingAnotherPromptWithoutVersion_IsUnversioned_NotTheDefaultsVersion()
    {
        var inner = new FakeChatClient(_time);
        using var client = new ChatClientBuilder(inner).UsePipelineMetrics(o => { o.PromptName = "support_answer"; o.PromptVersion = "2.1"; }, _tracker).Build(new EmptyServices(_time));
        await client.GetResponseAsync("hello", new ChatOptions { AdditionalProperties = new() { [ChatMetricsOptions.PromptNameKey] = "summarize_ticket" } }, TestContext.Current.CancellationToken);
        await client.GetResponseAsync("hello", new ChatOptions { AdditionalProperties = new() { [ChatMetricsOptions.PromptNameKey] = "support_answer" } }, TestContext.Current.CancellationToken);
        Assert.Equal(("summarize_ticket", "unversioned"), (_tracker.Calls[0].PromptName, _tracker.Calls[0].PromptVersion));
        Assert.Equal(("support_answer", "2.1"), (_tracker.Calls[1].PromptName, _tracker.Calls[1].PromptVersion));
    }

    [Fact]
    public void CallScope_DisposedWithoutOutcome_NoException_IsTrackedAsOther()
    {
        using (new CallScope(_tracker, _time, "p", "1", "m", "openai", "chat"))
        {
            _time.Advance(TimeSpan.FromSeconds(1));
        }
        var call = Assert.Single(_tracker.Calls);
        Assert.Equal(ErrorType.Other, call.ErrorType);
        Assert.Equal(1000, call.LatencyMs);
    }

    [Fact]
    public void CallScope_LeftByACancellation_IsTrackedAsCancelled()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        try
        {
            using var call = new CallScope(_tracker, _time, "p", "1", "m", "openai", "chat");
            cts.Token.ThrowIfCancellationRequested();
        }
        catch (OperationCanceledException)
        {
        }
        Assert.Equal(ErrorType.Cancelled, Assert.Single(_tracker.Calls).ErrorType);
    }

    [Theory]
    [InlineData(null, "BootstrapServers")]
    [InlineData("QueueCapacity=0", "QueueCapacity")]
    [InlineData("Kafka:acks=1", "Kafka:acks")]
    [InlineData("SpillMaxBytes=10", "SpillMaxBytes")]
    public void AddPipelineProducer_BadConfig_FailsAtStartNamingTheKey(string? setting, string key)
    {
        var values = new Dictionary<string, string?>();
        if (setting is not null)
        {
            values["Pipeline:Producer:BootstrapServers"] = "127.0.0.1:9092";
            var (k, v) = (setting.Split('=')[0], setting.Split('=')[1]);
            values["Pipeline:Producer:" + k] = v;
        }
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        using var provider = new ServiceCollection().AddPipelineProducer(configuration).BuildServiceProvider();
        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<ProducerOptions>>().Value);
        Assert.Contains("Pipeline:Producer:" + key, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddPipelineProducer_BindsEverySection()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Pipeline:Producer:BootstrapServers"] = "broker:9092",
            ["Pipeline:Producer:QueueCapacity"] = "5000",
            ["Pipeline:Producer:MaxBlock"] = "00:00:00.050",
            ["Pipeline:Producer:SpillDirectory"] = "/var/spool/pipeline",
            ["Pipeline:Producer:Kafka:security.protocol"] = "SASL_SSL",
            ["Pipeline:Producer:Kafka:sasl.mechanisms"] = "PLAIN",
            ["Pipeline:Producer:Kafka:sasl.username"] = "svc",
            ["Pipeline:Producer:Kafka:sasl.password"] = "secret",
        }).Build();
        using var provider = new ServiceCollection().AddPipelineProducer(configuration).BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<ProducerOptions>>().Value;
        Assert.Equal("broker:9092", options.BootstrapServers);
        Assert.Equal(5000, options.QueueCapacity);
        Assert.Equal(TimeSpan.FromMilliseconds(50), options.MaxBlock);
        Assert.Equal("/var/spool/pipeline", options.SpillDirectory);
        Assert.Equal("SASL_SSL", options.Kafka["security.protocol"]);
    }

    private sealed class RecordingTracker : ILlmCallTracker
    {
        public List<LlmCall> Calls { get; } = [];
        public bool Track(LlmCall llmCall)
        {
            Calls.Add(llmCall);
            return true;
        }
    }

    private sealed class EmptyServices(TimeProvider time) : IServiceProvider
    {
        public object? GetService(Type serviceType) => serviceType == typeof(TimeProvider) ? time : null;
    }

    /// <summary>A chat client that answers "hi there" after a delay on the fake clock.</summary>
    private sealed class FakeChatClient(FakeTimeProvider time) : IChatClient
    {
        public TimeSpan Delay { get; init; }
        public TimeSpan ChunkDelay { get; init; }
        public Exception? Failure { get; init; }
        public Exception? FailAfterFirstChunk { get; init; }

        private static readonly UsageDetails Usage = new() { InputTokenCount = 120, OutputTokenCount = 30, CachedInputTokenCount = 64 };

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            time.Advance(Delay);
            if (Failure is not null) throw Failure;
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "hi there")) { ModelId = "gpt-4o-mini-2024-07-18", Usage = Usage });
        }

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            time.Advance(Delay);
            yield return new ChatResponseUpdate(ChatRole.Assistant, "hi ") { ModelId = "m-1" };
            if (FailAfterFirstChunk is not null) throw FailAfterFirstChunk;
            time.Advance(ChunkDelay);
            yield return new ChatResponseUpdate(ChatRole.Assistant, "there");
            yield return new ChatResponseUpdate { Contents = [new UsageContent(Usage)] };
        }

        public object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata("fake-ai", null, "default-model") : null;

        public void Dispose()
        {
        }
    }
}
