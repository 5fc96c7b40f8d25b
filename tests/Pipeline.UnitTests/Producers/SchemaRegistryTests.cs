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
    public void UnreachableRegistry_FailsAtStartNamingTheSetting()
    {
        var ex = Assert.Throws<InvalidOperationException>(() =>
            new LlmCallProducer(new ProducerOptions { BootstrapServers = "127.0.0.1:1", SchemaRegistryUrl = $"http://127.0.0.1:{FreePort()}" }));
        Assert.Contains("SchemaRegistryUrl", ex.Message, StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
