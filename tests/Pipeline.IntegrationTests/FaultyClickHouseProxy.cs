using System.Net;
using System.Text;

namespace Pipeline.IntegrationTests;

/// <summary>
/// An HTTP proxy in front of the real ClickHouse that can answer inserts the way a struggling server
/// does (HTTP 500 with ClickHouse's own error text), so error handling is tested against real responses
/// without disturbing the shared server. Everything else is forwarded untouched.
/// </summary>
internal sealed class FaultyClickHouseProxy : IDisposable
{
    /// <summary>What ClickHouse answers when inserts outrun merges (error code 252, retryable).</summary>
    public const string TooManyParts =
        "Code: 252. DB::Exception: Too many parts (300). Merges are processing significantly slower than inserts.";

    private readonly HttpListener _listener = new();
    private readonly HttpClient _upstream;
    private volatile string? _insertError;

    public FaultyClickHouseProxy(Uri upstream, int port = 0)
    {
        _upstream = new HttpClient { BaseAddress = upstream, Timeout = TimeSpan.FromSeconds(60) };
        Port = port > 0 ? port : ClickHouseOutageTests.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public int Port { get; }
    public Uri Url => new($"http://127.0.0.1:{Port}/");
    /// <summary>Inserts answered with a fault so far.</summary>
    public int FaultedInserts;

    /// <summary>Answer every INSERT with HTTP 500 and <paramref name="clickHouseError"/>, or forward again (null).</summary>
    public void FailInserts(string? clickHouseError) => _insertError = clickHouseError;

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try
            {
                ctx = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            _ = Task.Run(() => HandleAsync(ctx));
        }
    }

    private async Task HandleAsync(HttpListenerContext ctx)
    {
        try
        {
            using var body = new MemoryStream();
            await ctx.Request.InputStream.CopyToAsync(body);
            var query = ctx.Request.Url!.PathAndQuery;
            var isInsert = Uri.UnescapeDataString(query).Contains("INSERT", StringComparison.OrdinalIgnoreCase)
                || Encoding.UTF8.GetString(body.GetBuffer(), 0, (int)Math.Min(body.Length, 200)).TrimStart().StartsWith("INSERT", StringComparison.OrdinalIgnoreCase);
            if (isInsert && _insertError is { } error)
            {
                Interlocked.Increment(ref FaultedInserts);
                ctx.Response.StatusCode = 500;
                ctx.Response.Headers["X-ClickHouse-Exception-Code"] = ClickHouseCode(error);
                var bytes = Encoding.UTF8.GetBytes(error + "\n");
                await ctx.Response.OutputStream.WriteAsync(bytes);
                ctx.Response.Close();
                return;
            }
            using var request = new HttpRequestMessage(new HttpMethod(ctx.Request.HttpMethod), query) { Content = new ByteArrayContent(body.ToArray()) };
            foreach (var name in ctx.Request.Headers.AllKeys)
            {
                if (name is null || name is "Host" or "Content-Length" or "Connection" or "Expect") continue;
                var value = ctx.Request.Headers[name]!;
                if (!request.Headers.TryAddWithoutValidation(name, value)) request.Content.Headers.TryAddWithoutValidation(name, value);
            }
            using var response = await _upstream.SendAsync(request);
            ctx.Response.StatusCode = (int)response.StatusCode;
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            {
                if (name is "Transfer-Encoding" or "Content-Length" or "Connection" or "Keep-Alive") continue;
                ctx.Response.Headers[name] = string.Join(",", values);
            }
            var content = await response.Content.ReadAsByteArrayAsync();
            await ctx.Response.OutputStream.WriteAsync(content);
            ctx.Response.Close();
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or HttpRequestException or ObjectDisposedException)
        {
            try { ctx.Response.Abort(); } catch (ObjectDisposedException) { }
        }
    }

    private static string ClickHouseCode(string error) =>
        error.StartsWith("Code: ", StringComparison.Ordinal) ? new string(error[6..].TakeWhile(char.IsDigit).ToArray()) : "0";

    public void Dispose()
    {
        _listener.Close();
        _upstream.Dispose();
    }
}
