using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>
/// Serves <see cref="WindowMetrics"/> on <c>http://PrometheusHost:PrometheusPort/metrics</c> and pushes its queued
/// windows over OTLP/HTTP protobuf every <see cref="WindowMetricsOptions.OtlpExportInterval"/> (once more when it stops).
/// A push that fails is retried at the next interval with the same windows; nothing is dropped until
/// <see cref="WindowMetricsOptions.OtlpMaxPending"/> windows wait. Started and stopped by the alert worker.
/// </summary>
public sealed partial class WindowMetricsExporter : IAsyncDisposable
{
    private readonly WindowMetricsOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly HttpClient? _http;
    private HttpListener? _listener;
    private CancellationTokenSource? _stop;
    private Task? _push;
    private bool _failing;
    private readonly string _maskedUrl = "";

    /// <param name="providerOf">The provider of a request model, null when unknown (see <see cref="WindowMetrics"/>).</param>
    public WindowMetricsExporter(WindowMetricsOptions options, TimeProvider time, ILogger log, Func<string, string?>? providerOf = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _time = time;
        _log = log;
        Metrics = new WindowMetrics(options, time, log, providerOf);
        if (options.OtlpMetricsUrl is { } url)
        {
            _http = new HttpClient { Timeout = options.OtlpTimeout };
            _maskedUrl = SecretMask.MaskUrl(url);
        }
    }

    /// <summary>The state both outputs read.</summary>
    public WindowMetrics Metrics { get; }

    /// <summary>OTLP requests the endpoint accepted.</summary>
    public long OtlpRequestsSent { get; private set; }

    /// <summary>The Prometheus endpoint's address, once started; null when it is off.</summary>
    public Uri? PrometheusUrl { get; private set; }

    /// <summary>Opens the Prometheus endpoint and starts the OTLP push loop (whichever is configured).</summary>
    public void Start()
    {
        if (_stop is not null) return;
        _stop = new CancellationTokenSource();
        if (_options.PrometheusPort > 0)
        {
            _listener = new HttpListener();
            _listener.Prefixes.Add($"http://{_options.PrometheusHost}:{_options.PrometheusPort}/");
            try
            {
                _listener.Start();
            }
            catch (HttpListenerException ex)
            {
                throw new InvalidOperationException($"WindowMetrics:PrometheusPort: cannot listen on {_options.PrometheusHost}:{_options.PrometheusPort}: {ex.Message}", ex);
            }
            var host = _options.PrometheusHost == "+" ? "127.0.0.1" : _options.PrometheusHost;
            PrometheusUrl = new Uri($"http://{host}:{_options.PrometheusPort}/metrics");
            LogPrometheus(_log, PrometheusUrl, _options.MaxSeries);
            _ = Task.Run(ServeAsync);
        }
        if (_options.OtlpMetricsUrl is not null)
        {
            LogOtlp(_log, _maskedUrl, _options.OtlpExportInterval);
            _push = Task.Run(() => PushLoopAsync(_stop.Token));
        }
    }

    /// <summary>Stops the loop after one last push of what is queued, and closes the endpoint.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop is not null)
        {
            await _stop.CancelAsync();
            if (_push is not null) await _push;
            _stop.Dispose();
        }
        _listener?.Close();
        _http?.Dispose();
    }

    /// <summary>Pushes everything queued now; false when the endpoint did not accept it (the windows stay queued).</summary>
    public async Task<bool> PushAsync(CancellationToken cancellationToken)
    {
        if (_http is null || _options.OtlpMetricsUrl is not { } url) return true;
        while (Metrics.TakeOtlpRequest() is var (request, points))
        {
            string? problem;
            try
            {
                using var content = new ByteArrayContent(request.ToByteArray());
                content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
                using var response = await _http.PostAsync(url, content, cancellationToken);
                problem = response.IsSuccessStatusCode ? null : $"HTTP {(int)response.StatusCode} {Truncate(await response.Content.ReadAsStringAsync(cancellationToken))}";
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                problem = ex is TaskCanceledException ? $"no answer in {Durations.Format(_options.OtlpTimeout)}" : ex.Message;
            }
            if (problem is not null)
            {
                Metrics.Requeue(points);
                if (!_failing) LogPushFailed(_log, _maskedUrl, problem, Metrics.OtlpPending);
                _failing = true;
                return false;
            }
            if (_failing) LogPushRecovered(_log, _maskedUrl);
            _failing = false;
            OtlpRequestsSent++;
        }
        return true;
    }

    private async Task PushLoopAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(_options.OtlpExportInterval, _time, ct);
                await PushAsync(ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        // The last windows the worker read, once more without the worker's token.
        using var final = new CancellationTokenSource(_options.OtlpTimeout);
        try
        {
            await PushAsync(final.Token);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ServeAsync()
    {
        while (_listener is { IsListening: true } listener)
        {
            HttpListenerContext ctx;
            try
            {
                ctx = await listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            try
            {
                if (ctx.Request.Url?.AbsolutePath is "/metrics" or "/")
                {
                    using var text = new StringWriter();
                    Metrics.WritePrometheus(text);
                    var bytes = Encoding.UTF8.GetBytes(text.ToString());
                    ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                    await ctx.Response.OutputStream.WriteAsync(bytes);
                }
                else
                {
                    ctx.Response.StatusCode = 404;
                }
                ctx.Response.Close();
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException)
            {
                // The scraper went away mid-answer.
            }
        }
    }

    private static string Truncate(string s) => s.Length <= 200 ? s : s[..200] + "...";

    [LoggerMessage(Level = LogLevel.Information, Message = "window metrics: {Url} (Prometheus text format, at most {Cap} series)")]
    private static partial void LogPrometheus(ILogger logger, Uri url, int cap);

    [LoggerMessage(Level = LogLevel.Information, Message = "window metrics: OTLP http/protobuf to {Url} every {Interval}")]
    private static partial void LogOtlp(ILogger logger, string url, TimeSpan interval);

    [LoggerMessage(Level = LogLevel.Warning, Message = "window metrics: OTLP push to {Url} failed ({Problem}); {Pending} windows kept for the next try")]
    private static partial void LogPushFailed(ILogger logger, string url, string problem, int pending);

    [LoggerMessage(Level = LogLevel.Information, Message = "window metrics: OTLP push to {Url} works again")]
    private static partial void LogPushRecovered(ILogger logger, string url);
}
