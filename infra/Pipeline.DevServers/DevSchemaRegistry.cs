using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Pipeline.DevServers;

/// <summary>
/// A stand-in for a Confluent Schema Registry, in-process, for tests and local runs (no real registry can be
/// installed here). It serves what our clients call: <c>POST /subjects/{subject}/versions</c> (register: the
/// same schema text gets the same id), <c>GET /schemas/ids/{id}</c> (404 with error code 40403 when unknown),
/// and <c>GET /subjects</c>. Ids start at <see cref="FirstId"/>, so they never look like our catalogue's.
/// <see cref="FailWith"/> makes every request answer that status (an outage), and <see cref="Lookups"/> counts
/// id lookups (to prove caching).
/// </summary>
public sealed class DevSchemaRegistry : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentDictionary<int, (string Schema, string? Type)> _schemas = new();
    private readonly ConcurrentDictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, List<int>> _subjects = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _serve;
    private int _next;
    private long _lookups;

    public DevSchemaRegistry(int firstId = 101)
    {
        FirstId = firstId;
        _next = firstId;
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _serve = Task.Run(ServeAsync);
    }

    public int FirstId { get; }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>When set, every request is answered with this status (500: an outage; null: normal service).</summary>
    public HttpStatusCode? FailWith { get; set; }

    /// <summary>How many <c>GET /schemas/ids/{id}</c> requests arrived.</summary>
    public long Lookups => Interlocked.Read(ref _lookups);

    /// <summary>Registers <paramref name="schema"/> under <paramref name="subject"/> directly, as another producer would; returns its id.</summary>
    /// <param name="schemaType">Null for Avro (the registry omits the field then), else <c>PROTOBUF</c> or <c>JSON</c>.</param>
    public int Register(string subject, string schema, string? schemaType = null)
    {
        var id = _ids.GetOrAdd(schema, _ => Interlocked.Increment(ref _next) - 1);
        _schemas[id] = (schema, schemaType);
        var versions = _subjects.GetOrAdd(subject, _ => []);
        lock (versions)
        {
            if (!versions.Contains(id)) versions.Add(id);
        }
        return id;
    }

    private async Task ServeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().WaitAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or HttpListenerException or ObjectDisposedException)
            {
                return;
            }
            try
            {
                await AnswerAsync(context);
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException or JsonException)
            {
                // A client that went away, or a body that is not JSON: the next request is served as usual.
                try { context.Response.Abort(); } catch (ObjectDisposedException) { }
            }
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var path = request.Url!.AbsolutePath.TrimEnd('/');
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (FailWith is { } failure)
        {
            await ReplyAsync(context, failure, new { error_code = (int)failure * 100, message = "dev registry: failing on purpose" });
            return;
        }
        if (request.HttpMethod == "POST" && parts is ["subjects", var subject, "versions"])
        {
            using var doc = await JsonDocument.ParseAsync(request.InputStream);
            var schema = doc.RootElement.GetProperty("schema").GetString() ?? "";
            await ReplyAsync(context, HttpStatusCode.OK, new { id = Register(Uri.UnescapeDataString(subject), schema) });
        }
        else if (request.HttpMethod == "GET" && parts is ["schemas", "ids", var idText] && int.TryParse(idText, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            Interlocked.Increment(ref _lookups);
            if (_schemas.TryGetValue(id, out var stored))
            {
                await ReplyAsync(context, HttpStatusCode.OK, stored.Type is null ? new { schema = stored.Schema } : new { schema = stored.Schema, schemaType = stored.Type });
            }
            else
            {
                await ReplyAsync(context, HttpStatusCode.NotFound, new { error_code = 40403, message = "Schema not found" });
            }
        }
        else if (request.HttpMethod == "GET" && parts is ["subjects"])
        {
            await ReplyAsync(context, HttpStatusCode.OK, _subjects.Keys.Order(StringComparer.Ordinal).ToArray());
        }
        else
        {
            await ReplyAsync(context, HttpStatusCode.NotFound, new { error_code = 404, message = $"dev registry does not serve {request.HttpMethod} {path}" });
        }
    }

    private static async Task ReplyAsync(HttpListenerContext context, HttpStatusCode status, object body)
    {
        var bytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(body));
        context.Response.StatusCode = (int)status;
        context.Response.ContentType = "application/vnd.schemaregistry.v1+json";
        context.Response.ContentLength64 = bytes.Length;
        await context.Response.OutputStream.WriteAsync(bytes);
        context.Response.Close();
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
        try
        {
            _serve.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The listener closed under a pending request: nothing to serve any more.
        }
        _stop.Dispose();
    }
}
