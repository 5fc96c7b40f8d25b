using System.Net;
using System.Net.Sockets;
using System.Text;
using Pipeline.Producers;
using Pipeline.Schemas;

namespace Pipeline.UnitTests.Producers;

/// <summary>Schema ids come from a Confluent Schema Registry when one is configured (a minimal one in-process here).</summary>
public sealed class SchemaRegistryTests
{
    [Fact]
    public async Task WithRegistry_TheRegisteredIdIsUsed_AndTheSchemaSentIsOurs()
    {
        var port = FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        string? path = null, body = null;
        var serve = Task.Run(async () =>
        {
            var context = await listener.GetContextAsync();
            path = context.Request.Url!.AbsolutePath;
            using (var reader = new StreamReader(context.Request.InputStream)) body = await reader.ReadToEndAsync();
            var reply = Encoding.UTF8.GetBytes("{\"id\":77}");
            context.Response.ContentType = "application/vnd.schemaregistry.v1+json";
            await context.Response.OutputStream.WriteAsync(reply);
            context.Response.Close();
        }, TestContext.Current.CancellationToken);
        await using var producer = new LlmCallProducer(new ProducerOptions { BootstrapServers = "127.0.0.1:1", SchemaRegistryUrl = $"http://127.0.0.1:{port}" });
        await serve;
        Assert.Equal(77, producer.SchemaId);
        Assert.Equal("/subjects/llm.calls.v1-value/versions", path);
        Assert.Contains("LlmCall", body, StringComparison.Ordinal);
        Assert.Contains("prompt_version", body, StringComparison.Ordinal);
    }

    [Fact]
    public void WithoutRegistry_TheCatalogueIdIsUsed()
    {
        using var producer = new LlmCallProducer(new ProducerOptions { BootstrapServers = "127.0.0.1:1" });
        Assert.Equal(SchemaCatalog.LlmCallV1, producer.SchemaId);
    }

    [Fact]
    public async Task RegistryThatRefusesTheSchema_FailsAtStartNamingTheSetting()
    {
        var port = FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var serve = Task.Run(async () =>
        {
            var context = await listener.GetContextAsync();
            var reply = Encoding.UTF8.GetBytes("{\"error_code\":409,\"message\":\"Schema being registered is incompatible with an earlier schema\"}");
            context.Response.StatusCode = 409;
            context.Response.ContentType = "application/vnd.schemaregistry.v1+json";
            await context.Response.OutputStream.WriteAsync(reply);
            context.Response.Close();
        }, TestContext.Current.CancellationToken);
        var ex = Assert.Throws<InvalidOperationException>(() =>
            new LlmCallProducer(new ProducerOptions { BootstrapServers = "127.0.0.1:1", SchemaRegistryUrl = $"http://127.0.0.1:{port}" }));
        await serve;
        Assert.Contains("SchemaRegistryUrl", ex.Message, StringComparison.Ordinal);
        Assert.Contains("incompatible", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RegistryThatComesUpLater_IsRegisteredInTheBackground()
    {
        var port = FreePort();
        var logs = new CapturingLoggerProvider();
        await using var producer = new LlmCallProducer(new ProducerOptions { BootstrapServers = "127.0.0.1:1", SchemaRegistryUrl = $"http://127.0.0.1:{port}", DrainTimeout = TimeSpan.Zero },
            logs.CreateLogger("p"));
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join("\n", logs.Lines));
        Assert.Equal(0, producer.SchemaId);
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var context = await listener.GetContextAsync().WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        var reply = Encoding.UTF8.GetBytes("{\"id\":91}");
        context.Response.ContentType = "application/vnd.schemaregistry.v1+json";
        await context.Response.OutputStream.WriteAsync(reply, TestContext.Current.CancellationToken);
        context.Response.Close();
        for (var i = 0; i < 100 && producer.SchemaId == 0; i++) await Task.Delay(100, TestContext.Current.CancellationToken);
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join("\n", logs.Lines));
        Assert.Equal(91, producer.SchemaId);
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
