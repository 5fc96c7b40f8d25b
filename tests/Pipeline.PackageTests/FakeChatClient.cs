using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace Pipeline.PackageTests;

/// <summary>
/// The LLM provider (the only fake in the test): answers "ok" and reports token usage that differs per call,
/// adding up what it reported so the test can reconcile the sums.
/// </summary>
internal sealed class FakeChatClient : IChatClient
{
    private static readonly ChatClientMetadata Metadata = new("fake-provider", null, "fake-model-1");
    private long _calls;
    private long _inputTokens;
    private long _outputTokens;

    public long InputTokens => Interlocked.Read(ref _inputTokens);
    public long OutputTokens => Interlocked.Read(ref _outputTokens);

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok"))
        {
            ModelId = "fake-model-1",
            FinishReason = ChatFinishReason.Stop,
            Usage = NextUsage(),
        });

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        yield return new ChatResponseUpdate(ChatRole.Assistant, "o") { ModelId = "fake-model-1" };
        await Task.Yield();
        yield return new ChatResponseUpdate(ChatRole.Assistant, "k");
        yield return new ChatResponseUpdate { Contents = [new UsageContent(NextUsage())], FinishReason = ChatFinishReason.Stop };
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType.IsInstanceOfType(Metadata) ? Metadata : null;

    public void Dispose()
    {
    }

    private UsageDetails NextUsage()
    {
        var n = Interlocked.Increment(ref _calls);
        long input = 100 + (n % 7) * 13, output = 20 + (n % 5) * 3;
        Interlocked.Add(ref _inputTokens, input);
        Interlocked.Add(ref _outputTokens, output);
        return new UsageDetails { InputTokenCount = input, OutputTokenCount = output, TotalTokenCount = input + output };
    }
}
