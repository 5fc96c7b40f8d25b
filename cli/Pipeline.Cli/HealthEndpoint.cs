using System.Net;
using System.Text;
using System.Text.Json;
using Pipeline.ClickHouse;

namespace Pipeline.Cli;

/// <summary>
/// Liveness and readiness for orchestrators, on <c>http://127.0.0.1:Metrics:HealthPort/</c> (0, the default,
/// turns it off): <c>/healthz</c> answers 200 while the process runs; <c>/readyz</c> answers 200 when
/// ClickHouse answers and the worker is running, else 503, with a JSON body saying which check failed.
/// </summary>
internal sealed class HealthEndpoint : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ClickHouseHttp _clickHouse;
    private readonly Func<string?> _workerProblem;

    private HealthEndpoint(int port, ClickHouseHttp clickHouse, Func<string?> workerProblem)
    {
        _clickHouse = clickHouse;
        _workerProblem = workerProblem;
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    /// <param name="workerProblem">Null while the worker makes progress, else why not (stopped, paused on a server, data skipped).</param>
    public static HealthEndpoint? Start(PipelineConfig config, ClickHouseHttp clickHouse, Func<string?> workerProblem)
    {
        var port = config.Metrics.HealthPort;
        if (port == 0) return null;
        Console.Error.WriteLine($"health: http://127.0.0.1:{port}/healthz and /readyz");
        return new HealthEndpoint(port, clickHouse, workerProblem);
    }

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
            var (status, body) = ctx.Request.Url?.AbsolutePath switch
            {
                "/healthz" => (200, new Dictionary<string, string> { ["status"] = "alive" }),
                "/readyz" => await ReadyAsync(),
                _ => (404, new Dictionary<string, string> { ["status"] = "not found: use /healthz or /readyz" }),
            };
            var bytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(body));
            ctx.Response.StatusCode = status;
            ctx.Response.ContentType = "application/json";
            await ctx.Response.OutputStream.WriteAsync(bytes);
            ctx.Response.Close();
        }
    }

    private async Task<(int, Dictionary<string, string>)> ReadyAsync()
    {
        var checks = new Dictionary<string, string>();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            await _clickHouse.ScalarAsync("SELECT 1", timeout.Token);
            checks["clickhouse"] = "ok";
        }
        catch (Exception ex) when (ex is ClickHouseException or OperationCanceledException or HttpRequestException)
        {
            checks["clickhouse"] = "unreachable: " + ex.Message;
        }
        checks["worker"] = _workerProblem() ?? "ok";
        var ready = checks.Values.All(v => v == "ok");
        checks["status"] = ready ? "ready" : "not ready";
        return (ready ? 200 : 503, checks);
    }

    public void Dispose() => _listener.Close();
}
