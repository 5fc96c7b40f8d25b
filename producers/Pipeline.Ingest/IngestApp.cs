using System.IO.Compression;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pipeline.Ingest.Otlp.Collector;
using Pipeline.Producers;
using RpcStatus = Pipeline.Ingest.Otlp.Rpc.Status;

namespace Pipeline.Ingest;

/// <summary>
/// The OTLP receiver's host: Kestrel with OTLP/HTTP (<c>POST /v1/traces</c>, <c>application/x-protobuf</c> or
/// <c>application/json</c>, gzip or not) on one endpoint and OTLP/gRPC (HTTP/2) on another. Answers as OTLP asks:
/// 200 with a partial success naming rejected spans; 400 malformed (with the reason), 401 no or unknown key,
/// 403 a service the key may not write as, 413 too large, 415 another content type, 429 with Retry-After, 503 with
/// Retry-After when the SDK cannot queue; error bodies are <c>google.rpc.Status</c>, never a stack trace.
/// </summary>
internal static partial class IngestApp
{
    public const string TracesPath = "/v1/traces";

    /// <summary>The app and the Kestrel endpoints (bound ports are known once it has started).</summary>
    public sealed class Host(WebApplication app, TraceIngest ingest, ListenOptions? http, ListenOptions? grpc) : IAsyncDisposable
    {
        public WebApplication App { get; } = app;
        public TraceIngest Ingest { get; } = ingest;
        public IPEndPoint? HttpEndPoint => http?.IPEndPoint;
        public IPEndPoint? GrpcEndPoint => grpc?.IPEndPoint;
        public Uri? HttpUrl => HttpEndPoint is { } e ? new Uri($"{Scheme}://{Format(e)}{TracesPath}") : null;
        public Uri? GrpcUrl => GrpcEndPoint is { } e ? new Uri($"{Scheme}://{Format(e)}") : null;
        private string Scheme => App.Services.GetRequiredService<IngestOptions>().TlsCertificatePath.Length > 0 ? "https" : "http";

        public Task StartAsync(CancellationToken ct) => App.StartAsync(ct);
        public Task StopAsync(CancellationToken ct) => App.StopAsync(ct);

        public async ValueTask DisposeAsync()
        {
            await App.DisposeAsync();
            Ingest.Dispose();
        }

        private static string Format(IPEndPoint e) => e.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{e.Address}]:{e.Port}" : $"{e.Address}:{e.Port}";
    }

    /// <summary>The line the receiver logs first: where it listens and whether it asks for keys.</summary>
    public static string StartLine(IngestOptions options)
    {
        var scheme = options.TlsCertificatePath.Length > 0 ? "https" : "http";
        var where = string.Join(", ", new[]
        {
            options.Http.Length > 0 ? $"OTLP/HTTP on {scheme}://{options.Http}{TracesPath}" : null,
            options.Grpc.Length > 0 ? $"OTLP/gRPC on {scheme}://{options.Grpc}" : null,
        }.Where(s => s is not null));
        var keys = options.ApiKeys.Count > 0
            ? $"{options.ApiKeys.Count} API key(s) configured: every request needs one"
            : "no API keys configured (Ingest:ApiKeys): accepting requests WITHOUT a key, on loopback only";
        return $"pipeline ingest: {where}; {keys}";
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "{Line}")]
    public static partial void LogStarted(ILogger log, string line);

    public static Host Create(IngestOptions options, ILlmCallTracker tracker, ProducerOptions edge, TimeProvider time, Action<ILoggingBuilder>? logging = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.KeylessProblem() is { } keyless) throw new InvalidOperationException(keyless);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        ListenOptions? http = null, grpc = null;
        X509Certificate2? certificate = options.TlsCertificatePath.Length > 0
            ? X509CertificateLoader.LoadPkcs12FromFile(options.TlsCertificatePath, options.TlsCertificatePassword) : null;
        builder.WebHost.UseKestrel(k =>
        {
            k.AddServerHeader = false;
            // Our own check answers first with a reason; Kestrel's limit stops a body that lies about its length.
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            if (IngestOptions.TryParseEndpoint(options.Http, out var h) && h is not null)
            {
                k.Listen(h, o =>
                {
                    // HTTP/2 needs TLS's protocol negotiation here; without TLS OTLP/HTTP clients speak HTTP/1.1.
                    o.Protocols = certificate is null ? HttpProtocols.Http1 : HttpProtocols.Http1AndHttp2;
                    if (certificate is not null) o.UseHttps(certificate);
                    http = o;
                });
            }
            if (IngestOptions.TryParseEndpoint(options.Grpc, out var g) && g is not null)
            {
                k.Listen(g, o =>
                {
                    // Without TLS, HTTP/2 only: that is h2c with prior knowledge, what gRPC clients speak.
                    o.Protocols = certificate is null ? HttpProtocols.Http2 : HttpProtocols.Http1AndHttp2;
                    if (certificate is not null) o.UseHttps(certificate);
                    grpc = o;
                });
            }
        });
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(time);
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = (int)Math.Min(int.MaxValue, options.MaxBodyBytes);
            o.EnableDetailedErrors = false;
        });
        builder.Services.AddSingleton(sp => new TraceIngest(options, tracker, edge, time,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("Pipeline.Ingest"), sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        builder.Services.AddMetrics();
        var app = builder.Build();
        var ingest = app.Services.GetRequiredService<TraceIngest>();
        app.MapPost(TracesPath, (HttpContext context) => HandleHttpAsync(context, ingest, options));
        app.MapGrpcService<TraceExportService>();
        return new Host(app, ingest, http, grpc);
    }

    private static async Task HandleHttpAsync(HttpContext context, TraceIngest ingest, IngestOptions options)
    {
        var json = IsJson(context.Request.ContentType);
        if (!json && !IsProtobuf(context.Request.ContentType))
        {
            await ProblemAsync(context, json: false, StatusCodes.Status415UnsupportedMediaType,
                $"content type '{context.Request.ContentType}' is not application/x-protobuf or application/json");
            return;
        }
        var auth = ingest.Authenticate(KeyOf(context.Request.Headers), out var caller);
        if (auth.Status != IngestStatus.Ok)
        {
            await ProblemAsync(context, json, StatusCodes.Status401Unauthorized, auth.Message!);
            return;
        }
        var admit = ingest.Admit(caller);
        if (admit.Status != IngestStatus.Ok)
        {
            context.Response.Headers.RetryAfter = ((int)admit.RetryAfter.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
            await ProblemAsync(context, json, StatusCodes.Status429TooManyRequests, admit.Message!);
            return;
        }
        if (context.Request.ContentLength > options.MaxBodyBytes)
        {
            await ProblemAsync(context, json, StatusCodes.Status413PayloadTooLarge, $"body of {context.Request.ContentLength} bytes is larger than Ingest:MaxBodyBytes ({options.MaxBodyBytes})");
            return;
        }
        byte[] body;
        try
        {
            body = await ReadBodyAsync(context.Request, options.MaxBodyBytes, context.RequestAborted);
        }
        catch (BodyTooLargeException)
        {
            await ProblemAsync(context, json, StatusCodes.Status413PayloadTooLarge, $"body is larger than Ingest:MaxBodyBytes ({options.MaxBodyBytes})");
            return;
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await ProblemAsync(context, json, StatusCodes.Status413PayloadTooLarge, $"body is larger than Ingest:MaxBodyBytes ({options.MaxBodyBytes})");
            return;
        }
        catch (InvalidDataException ex)
        {
            await ProblemAsync(context, json, StatusCodes.Status400BadRequest, $"body: {ex.Message}");
            return;
        }
        ExportTraceServiceRequest request;
        try
        {
            request = json ? OtlpJson.Parse(body) : ExportTraceServiceRequest.Parser.ParseFrom(body);
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidDataException)
        {
            await ProblemAsync(context, json, StatusCodes.Status400BadRequest,
                $"malformed {(json ? "OTLP/JSON" : "OTLP protobuf")} ExportTraceServiceRequest: {ex.Message}");
            return;
        }
        var result = ingest.Export(request, caller);
        switch (result.Status)
        {
            case IngestStatus.Ok:
                context.Response.StatusCode = StatusCodes.Status200OK;
                await WriteAsync(context, json, result.Response!);
                break;
            case IngestStatus.Forbidden:
                await ProblemAsync(context, json, StatusCodes.Status403Forbidden, result.Message!);
                break;
            default:
                context.Response.Headers.RetryAfter = ((int)result.RetryAfter.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
                await ProblemAsync(context, json, StatusCodes.Status503ServiceUnavailable, result.Message!);
                break;
        }
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, long max, CancellationToken ct)
    {
        Stream source = request.Body;
        var gzip = request.Headers.ContentEncoding.ToString() is { Length: > 0 } encoding
            ? encoding.Trim().ToLowerInvariant() switch
            {
                "gzip" => true,
                "identity" => false,
                var other => throw new InvalidDataException($"Content-Encoding '{other}' is not gzip"),
            }
            : false;
        await using var decoded = gzip ? new GZipStream(source, CompressionMode.Decompress, leaveOpen: true) : null;
        var stream = decoded ?? source;
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(chunk, ct)) > 0)
            {
                if (buffer.Length + n > max) throw new BodyTooLargeException();
                buffer.Write(chunk, 0, n);
            }
        }
        catch (InvalidDataException ex) when (gzip)
        {
            throw new InvalidDataException($"not gzip: {ex.Message}");
        }
        return buffer.ToArray();
    }

    private static string? KeyOf(IHeaderDictionary headers)
    {
        var authorization = headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return authorization["Bearer ".Length..].Trim();
        return headers["X-Api-Key"].ToString() is { Length: > 0 } k ? k.Trim() : null;
    }

    internal static string? KeyOf(Metadata headers)
    {
        if (headers.GetValue("authorization") is { } authorization && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return authorization["Bearer ".Length..].Trim();
        }
        return headers.GetValue("x-api-key")?.Trim();
    }

    private static bool IsJson(string? contentType) => MediaType(contentType) == "application/json";
    private static bool IsProtobuf(string? contentType) => MediaType(contentType) is "application/x-protobuf" or "application/protobuf";
    private static string MediaType(string? contentType) => (contentType ?? "").Split(';')[0].Trim().ToLowerInvariant();

    private static async Task WriteAsync(HttpContext context, bool json, IMessage message)
    {
        if (json)
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(OtlpJson.Format(message), context.RequestAborted);
        }
        else
        {
            context.Response.ContentType = "application/x-protobuf";
            await context.Response.Body.WriteAsync(message.ToByteArray(), context.RequestAborted);
        }
    }

    private static Task ProblemAsync(HttpContext context, bool json, int status, string message)
    {
        context.Response.StatusCode = status;
        // google.rpc.Status codes: the gRPC code matching the HTTP status.
        var code = status switch
        {
            400 => StatusCode.InvalidArgument,
            401 => StatusCode.Unauthenticated,
            403 => StatusCode.PermissionDenied,
            413 or 429 => StatusCode.ResourceExhausted,
            415 => StatusCode.InvalidArgument,
            _ => StatusCode.Unavailable,
        };
        return WriteAsync(context, json, new RpcStatus { Code = (int)code, Message = message });
    }

    private sealed class BodyTooLargeException : Exception;
}

/// <summary>OTLP/gRPC <c>opentelemetry.proto.collector.trace.v1.TraceService/Export</c>.</summary>
internal sealed class TraceExportService(TraceIngest ingest) : TraceService.TraceServiceBase
{
    public override Task<ExportTraceServiceResponse> Export(ExportTraceServiceRequest request, ServerCallContext context)
    {
        var auth = ingest.Authenticate(IngestApp.KeyOf(context.RequestHeaders), out var caller);
        if (auth.Status != IngestStatus.Ok) throw new RpcException(new Grpc.Core.Status(StatusCode.Unauthenticated, auth.Message!));
        var admit = ingest.Admit(caller);
        if (admit.Status != IngestStatus.Ok) throw new RpcException(new Grpc.Core.Status(StatusCode.ResourceExhausted, admit.Message!));
        var result = ingest.Export(request, caller);
        return result.Status switch
        {
            IngestStatus.Ok => Task.FromResult(result.Response!),
            IngestStatus.Forbidden => throw new RpcException(new Grpc.Core.Status(StatusCode.PermissionDenied, result.Message!)),
            _ => throw new RpcException(new Grpc.Core.Status(StatusCode.Unavailable, result.Message!)),
        };
    }
}
