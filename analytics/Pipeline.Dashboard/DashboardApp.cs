using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pipeline.ClickHouse;
using Pipeline.Consumers;

namespace Pipeline.Dashboard;

/// <summary>Settings of <c>pipeline dashboard</c> (configuration section <c>Dashboard</c>).</summary>
public sealed class DashboardOptions : IValidatableObject
{
    /// <summary>IP address to listen on; 127.0.0.1 by default (put a reverse proxy with TLS and auth in front to share it).</summary>
    [Required]
    public string Bind { get; set; } = "127.0.0.1";
    /// <summary>Port, 0 to 65535; 0 picks a free one. Default 5080.</summary>
    [Range(0, 65535)]
    public int Port { get; set; } = 5080;
    /// <summary>Monthly budget in USD for the cost page and the budget-pace recommendation, 0 to 1e12 (NaN refused); 0, the default, means none.</summary>
    [Range(0.0, 1e12)]
    public double MonthlyBudgetUsd { get; set; }
    /// <summary>
    /// ClickHouse user for the dashboard's only writes (acknowledge an alert, silence its series), separate from
    /// the read-only analyst; it needs INSERT on <c>alert_acks</c>, <c>alert_silences</c> and <c>alerts</c>.
    /// Empty, the default, keeps the dashboard read-only; writes also need <see cref="WriteTokenSha256"/>.
    /// </summary>
    public string WriterUser { get; set; } = "";
    /// <summary>Password of <see cref="WriterUser"/>; empty by default.</summary>
    [PasswordPropertyText(true)]
    public string WriterPassword { get; set; } = "";
    /// <summary>
    /// SHA-256, as 64 hex digits, of the token a person gives the page to write (the token itself is never
    /// stored). Empty, the default, means writes are off. Make one: <c>openssl rand -hex 32</c> is the token,
    /// <c>printf %s TOKEN | sha256sum</c> this value.
    /// </summary>
    public string WriteTokenSha256 { get; set; } = "";
    /// <summary>
    /// Push closed windows and alert changes to open pages (server-sent events) from <see cref="MetricsTopic"/> and
    /// <see cref="AlertsTopic"/>, read with the <c>Kafka</c> settings; true by default. Off, or without Kafka, the page polls every 30 s.
    /// </summary>
    public bool Live { get; set; } = true;
    /// <summary>The window-aggregate topic the live push reads; default <c>llm.metrics.1m.v1</c> (the aggregator's <c>MetricsTopic</c>).</summary>
    [Required]
    public string MetricsTopic { get; set; } = Pipeline.Schemas.SchemaCatalog.Topics.Metrics1m;
    /// <summary>The alert topic the live push reads; default <c>llm.alerts.v1</c> (the alert worker's <c>AlertsTopic</c>).</summary>
    [Required]
    public string AlertsTopic { get; set; } = Pipeline.Schemas.SchemaCatalog.Topics.Alerts;

    /// <summary>True when both the writer user and the token hash are set.</summary>
    public bool WritesEnabled => WriterUser.Length > 0 && WriteTokenSha256.Length > 0;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (WriteTokenSha256.Length > 0 && (WriteTokenSha256.Length != 64 || !WriteTokenSha256.All(Uri.IsHexDigit)))
        {
            yield return new ValidationResult("not a SHA-256 in hex (64 digits 0-9a-f; printf %s TOKEN | sha256sum makes one)", [nameof(WriteTokenSha256)]);
        }
        if ((WriterUser.Length > 0) != (WriteTokenSha256.Length > 0))
        {
            yield return new ValidationResult("writes need both Dashboard:WriterUser and Dashboard:WriteTokenSha256 (or neither, for a read-only dashboard)",
                [nameof(WriterUser), nameof(WriteTokenSha256)]);
        }
        if (!string.IsNullOrWhiteSpace(Bind) && !IPAddress.TryParse(Bind, out _))
        {
            yield return new ValidationResult($"'{Bind}' is not an IP address (such as 127.0.0.1 or 0.0.0.0)", [nameof(Bind)]);
        }
    }
}

/// <summary>
/// The dashboard: a JSON API under <c>/api</c> (documented in analytics/README.md, stable, used by the page
/// and by scripts) and one static page whose script and chart library are embedded in this assembly.
/// Bad input gives 400, unknown prompts 404, ClickHouse away 503, always as <c>application/problem+json</c>
/// with a one-line reason and never a stack trace.
/// </summary>
public static partial class DashboardApp
{
    [LoggerMessage(Level = LogLevel.Error, Message = "request {Path} failed")]
    private static partial void LogFailed(ILogger log, Exception? error, string path);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>
    /// Builds the app; <paramref name="analyst"/> should be the read-only analyst connection. With <paramref name="kafka"/>
    /// (its <c>bootstrap.servers</c> set) and <see cref="DashboardOptions.Live"/>, open pages get changes pushed (<see cref="LiveFeed"/>).
    /// </summary>
    public static WebApplication Create(DashboardOptions options, ClickHouseOptions analyst, TimeProvider time, Action<ILoggingBuilder>? logging = null, KafkaSettings? kafka = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Parse(options.Bind), options.Port));
        builder.Services.AddSingleton(new ClickHouseHttp(analyst));
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(time);
        builder.Services.AddSingleton<DashboardQueries>();
        builder.Services.AddSingleton(new AlertWrites(options, analyst, time));
        builder.Services.AddSingleton(sp => new LiveFeed(kafka, options, sp.GetRequiredService<ClickHouseHttp>(), time, sp.GetRequiredService<ILoggerFactory>().CreateLogger("Pipeline.Dashboard.Live")));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<LiveFeed>());
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.NumberHandling = Json.NumberHandling;
            o.SerializerOptions.Converters.Add(new JsonStringEnumConverter());
        });
        var app = builder.Build();
        app.UseExceptionHandler(e => e.Run(WriteProblemAsync));
        app.Use(async (context, next) =>
        {
            // The page loads nothing from elsewhere: a strict policy makes injected markup inert even if it got in.
            context.Response.Headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'";
            context.Response.Headers.XContentTypeOptions = "nosniff";
            await next();
        });
        MapStatic(app);
        MapApi(app, time);
        return app;
    }

    /// <summary>The address the app listens on, once started.</summary>
    public static string Address(WebApplication app) => app.Urls.First();

    private static void MapApi(WebApplication app, TimeProvider time)
    {
        var api = app.MapGroup("/api");
        api.MapGet("/health", () => Results.Ok(new { status = "ok" }));
        // Server-sent events: status (live, unavailable, off), windows (closed windows of the filter's series), alert, ping.
        api.MapGet("/events", async (HttpContext context, LiveFeed live, IHostApplicationLifetime lifetime) =>
            await live.StreamAsync(context, Filter(context.Request), lifetime.ApplicationStopping));
        api.MapGet("/live", (LiveFeed live) => Results.Json(live.Status, Json));
        api.MapGet("/prompts", (HttpRequest r, DashboardQueries q, CancellationToken ct) =>
            WithSeries(r, q, time, async (range, filter) => await q.PromptsAsync(range, filter, ct), ct));
        api.MapGet("/overview", (HttpRequest r, DashboardQueries q, CancellationToken ct) =>
            WithSeries(r, q, time, async (range, filter) => await q.OverviewAsync(range, filter, ct), ct));
        // Tags (cohorts) read the raw calls: only ranges up to DashboardQueries.TagRangeLimit.
        api.MapGet("/tags", async (HttpRequest r, DashboardQueries q, CancellationToken ct) =>
            await With(r, time, async range =>
            {
                if (range.Span > DashboardQueries.TagRangeLimit) return Results.Json(Array.Empty<TagChoice>(), Json);
                var filter = Filter(r);
                await q.CheckKnownAsync(filter, ct);
                return Results.Json(await q.TagsAsync(range, filter, ct), Json);
            }));
        api.MapGet("/cohort", async (HttpRequest r, DashboardQueries q, CancellationToken ct) =>
            await With(r, time, async range =>
            {
                var tag = r.Query["tag"].ToString();
                var eq = tag.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0) return Problem(400, "tag: give key=value (example: tag=cohort=beta)");
                if (range.Span > DashboardQueries.TagRangeLimit)
                {
                    return Problem(400, $"tag: a tag filter reads the raw calls (the rollups carry no tags), so it answers ranges up to {DashboardQueries.TagRangeLimit.TotalHours:0} hours; this one is {range.Span.TotalHours:0} hours");
                }
                var filter = Filter(r);
                await q.CheckKnownAsync(filter, ct);
                return Results.Json(await q.CohortAsync(range, filter, tag[..eq], tag[(eq + 1)..], ct), Json);
            }));
        api.MapGet("/timeseries", (HttpRequest r, DashboardQueries q, CancellationToken ct) =>
            WithSeries(r, q, time, async (range, filter) => await q.TimeSeriesAsync(range, filter, ct), ct));
        api.MapGet("/prompts/{name}", async (string name, HttpRequest r, DashboardQueries q, CancellationToken ct) =>
            await With(r, time, async range =>
            {
                var filter = Filter(r) with { Prompt = name, Version = null };
                await q.CheckKnownAsync(filter, ct);
                return await q.PromptDetailAsync(range, filter, ct) is { } detail ? Results.Json(detail, Json) : Problem(404, $"no calls of prompt '{name}' in this range");
            }));
        api.MapGet("/compare", async (HttpRequest r, DashboardQueries q, CancellationToken ct) =>
            await With(r, time, async range =>
            {
                var series = r.Query["series"].Where(s => !string.IsNullOrEmpty(s)).Select(s => ParseSeries(s!)).ToList();
                if (series.Count is < 2 or > 3) return Problem(400, "series: give two or three, as prompt@version (example: series=support_answer@1.0&series=support_answer@2.0)");
                // The verdict is an A/B of versions: another prompt is not a version of this one.
                if (series.Select(s => s.Prompt).Distinct(StringComparer.Ordinal).Count() > 1)
                {
                    return Problem(400, $"series: versions of one prompt only ('{series[0].Prompt}' and '{series.First(s => s.Prompt != series[0].Prompt).Prompt}' are different prompts; the Prompts page sets prompts side by side)");
                }
                var scope = Filter(r) with { Prompt = null, Version = null, Model = null };
                await q.CheckKnownAsync(scope, ct);
                return Results.Json(await q.CompareAsync(range, series, scope.Scope, ct), Json);
            }));
        api.MapGet("/alerts", (HttpRequest r, DashboardQueries q, CancellationToken ct) =>
            WithSeries(r, q, time, async (range, filter) => await q.AlertsAsync(range, filter, ct), ct));
        api.MapGet("/alerts/{id}", async (string id, HttpRequest r, DashboardQueries q, AlertWrites writes, CancellationToken ct) =>
            await With(r, time, async _ => await q.AlertDetailAsync(id, writes.Enabled, ct) is { } detail
                ? Results.Json(detail, Json) : Problem(404, $"no alert with id '{id}'")));
        api.MapPost("/alerts/{id}/ack", async (string id, HttpRequest r, DashboardQueries q, AlertWrites writes, CancellationToken ct) =>
            await Write(r, writes, time, async () =>
            {
                var body = await Body<AckRequest>(r, ct);
                if (body is null) return Problem(400, "body: not a JSON object like {\"by\": \"name\", \"note\": \"...\"}");
                if (string.IsNullOrWhiteSpace(body.By)) return Problem(400, "by: say who acknowledges (a name or handle)");
                if ((TextProblem("by", body.By, MaxByLength) ?? TextProblem("note", body.Note, MaxNoteLength)) is { } bad) return Problem(400, bad);
                if (await q.AlertDetailAsync(id, true, ct) is null) return Problem(404, $"no alert with id '{id}'");
                var (ack, _) = await writes.Store!.AcknowledgeAsync(id, body.By.Trim(), body.Note?.Trim() ?? "", ct);
                return Results.Json(new { alertId = id, ackedBy = ack.By, ackedAt = ack.At, note = ack.Note }, Json);
            }));
        api.MapPost("/alerts/{id}/silence", async (string id, HttpRequest r, DashboardQueries q, AlertWrites writes, CancellationToken ct) =>
            await Write(r, writes, time, async () =>
            {
                var body = await Body<SilenceRequest>(r, ct);
                if (body is null) return Problem(400, "body: not a JSON object like {\"by\": \"name\", \"for\": \"2h\", \"reason\": \"...\"}");
                if (string.IsNullOrWhiteSpace(body.By)) return Problem(400, "by: say who silences (a name or handle)");
                if ((TextProblem("by", body.By, MaxByLength) ?? TextProblem("reason", body.Reason, MaxNoteLength)) is { } bad) return Problem(400, bad);
                if (!Pipeline.Schemas.Durations.TryParse(body.For, out var duration, out var error) || duration <= TimeSpan.Zero || duration > Pipeline.Consumers.SuppressionStore.MaxSilence)
                {
                    return Problem(400, $"for: {error ?? "out of range"}; a silence lasts more than 0 and at most {Pipeline.Schemas.Durations.Format(Pipeline.Consumers.SuppressionStore.MaxSilence)} (30m, 2h, 1d)");
                }
                if (await q.AlertDetailAsync(id, true, ct) is not { } detail) return Problem(404, $"no alert with id '{id}'");
                var silence = await writes.Store!.AddSilenceAsync(AlertWrites.MatcherOf(detail.Alert), duration, body.By.Trim(), body.Reason?.Trim() ?? "", ct);
                return Results.Json(new { silenceId = silence.Id, matcher = silence.Matcher.ToString(), startsAt = silence.StartsAt, endsAt = silence.EndsAt }, Json);
            }));
        api.MapGet("/cost", (HttpRequest r, DashboardQueries q, CancellationToken ct) =>
            WithSeries(r, q, time, async (range, filter) => await q.CostAsync(range, filter, ct), ct));
        api.MapGet("/recommendations", (HttpRequest r, DashboardQueries q, CancellationToken ct) =>
            WithSeries(r, q, time, async (range, filter) => await q.RecommendationsAsync(range, filter, ct), ct));
        api.MapGet("/export", async (HttpRequest r, DashboardQueries q, CancellationToken ct) =>
            await With(r, time, async range =>
            {
                var view = r.Query["view"].ToString();
                var format = r.Query["format"].ToString() is { Length: > 0 } f ? f : "csv";
                if (format is not ("csv" or "json")) return Problem(400, $"format: '{format}' is not csv or json");
                var filter = Filter(r);
                await q.CheckKnownAsync(filter, ct);
                var rows = await Export.RowsAsync(q, view, range, filter, ct);
                if (rows is null) return Problem(400, $"view: '{view}' is not one of {string.Join(", ", Export.Views)}");
                var name = $"pipeline-{view}-{range.From:yyyyMMddHHmm}-{range.To:yyyyMMddHHmm}.{format}";
                return format == "csv"
                    ? Results.File(Encoding.UTF8.GetBytes(Export.Csv(rows)), "text/csv; charset=utf-8", name)
                    : Results.File(JsonSerializer.SerializeToUtf8Bytes(rows, Json), "application/json", name);
            }));
    }

    private static async Task<IResult> With(HttpRequest r, TimeProvider time, Func<TimeRange, Task<IResult>> body)
    {
        if (!TimeRange.TryParse(r.Query["range"], r.Query["from"], r.Query["to"], time.GetUtcNow(), out var range, out var error))
        {
            return Problem(400, error!);
        }
        try
        {
            return await body(range);
        }
        catch (UnknownSeriesException ex)
        {
            return Problem(404, ex.Message);
        }
        catch (ClickHouseException ex) when (ex.HttpStatus == 0 || ex.HttpStatus >= 502)
        {
            // Unreachable (0) or a proxy in front saying so; ClickHouse itself answers 500 for a failed query.
            return Problem(503, $"ClickHouse is unavailable: {ex.Message}");
        }
        catch (HttpRequestException ex)
        {
            return Problem(503, $"ClickHouse is unavailable: {ex.Message}");
        }
    }

    /// <summary>A write: refused (403/401) unless <see cref="AlertWrites.Refusal"/> allows it; ClickHouse errors as for reads.</summary>
    private static async Task<IResult> Write(HttpRequest r, AlertWrites writes, TimeProvider time, Func<Task<IResult>> body)
    {
        if (writes.Refusal(r) is { } refusal) return Problem(refusal.Status, refusal.Reason);
        return await With(r, time, async _ => await body());
    }

    private const int MaxByLength = 100;
    private const int MaxNoteLength = 2000;

    /// <summary>
    /// Why a free-text field of a write is refused, or null: what it stores is printed by <c>pipeline alerts list</c>
    /// and the alert page, so it is bounded and holds no control characters (a cold test stored a 3 MB note with a NUL).
    /// </summary>
    internal static string? TextProblem(string field, string? value, int max)
    {
        if (value is null) return null;
        if (value.Length > max) return $"{field}: {value.Length} characters, at most {max}";
        return value.Any(c => char.IsControl(c) && c is not ('\n' or '\t')) ? $"{field}: contains a control character" : null;
    }

    private static async Task<T?> Body<T>(HttpRequest r, CancellationToken ct) where T : class
    {
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(r.Body, Json, ct);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A range and a series filter (404 when it names an unknown prompt), then a JSON body.</summary>
    private static Task<IResult> WithSeries(HttpRequest r, DashboardQueries q, TimeProvider time, Func<TimeRange, SeriesFilter, Task<object>> body, CancellationToken ct) =>
        With(r, time, async range =>
        {
            var filter = Filter(r);
            await q.CheckKnownAsync(filter, ct);
            return Results.Json(await body(range, filter), Json);
        });

    private static SeriesFilter Filter(HttpRequest r) =>
        new(Empty(r.Query["prompt"]), Empty(r.Query["version"]), Empty(r.Query["model"]), Empty(r.Query["environment"]), Empty(r.Query["service"]));

    private static string? Empty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private static SeriesFilter ParseSeries(string s)
    {
        var parts = s.Split('@');
        return new SeriesFilter(parts[0], parts.Length > 1 ? parts[1] : null, parts.Length > 2 ? parts[2] : null);
    }

    private static IResult Problem(int status, string detail) =>
        Results.Json(new { type = "about:blank", title = ReasonPhrases(status), status, detail }, Json, "application/problem+json", status);

    private static string ReasonPhrases(int status) => status switch
    {
        400 => "Bad Request", 401 => "Unauthorized", 403 => "Forbidden", 404 => "Not Found", 503 => "Service Unavailable", _ => "Internal Server Error",
    };

    private static async Task WriteProblemAsync(HttpContext context)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        var status = error is HttpRequestException ? 503 : 500;
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/problem+json";
        var detail = status == 503 ? "ClickHouse is unavailable" : "the request failed; the dashboard log has the details";
        if (context.RequestServices.GetService<ILoggerFactory>()?.CreateLogger("Pipeline.Dashboard") is { } log) LogFailed(log, error, context.Request.Path.Value ?? "");
        await context.Response.WriteAsync(JsonSerializer.Serialize(new { type = "about:blank", title = ReasonPhrases(status), status, detail }, Json));
    }

    private static void MapStatic(WebApplication app)
    {
        var assembly = typeof(DashboardApp).Assembly;
        var types = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [".html"] = "text/html; charset=utf-8", [".js"] = "text/javascript; charset=utf-8", [".css"] = "text/css; charset=utf-8",
        };
        app.MapGet("/", () => Resource(assembly, "index.html", types));
        app.MapGet("/static/{*file}", (string file) => Resource(assembly, file, types));
    }

    private static IResult Resource(Assembly assembly, string file, Dictionary<string, string> types)
    {
        if (file.Contains("..", StringComparison.Ordinal)) return Results.NotFound();
        using var stream = assembly.GetManifestResourceStream("wwwroot/" + file);
        if (stream is null) return Results.NotFound();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return Results.Bytes(copy.ToArray(), types.GetValueOrDefault(Path.GetExtension(file), "application/octet-stream"));
    }
}

/// <summary>CSV and JSON export of the API's views.</summary>
public static class Export
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static readonly string[] Views = ["prompts", "timeseries", "alerts", "cost", "calls", "recommendations"];

    public static async Task<IReadOnlyList<object>?> RowsAsync(DashboardQueries q, string view, TimeRange range, SeriesFilter filter, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(q);
        return view switch
        {
            "prompts" => (await q.PromptsAsync(range, filter, ct)).Cast<object>().ToList(),
            "timeseries" => (await q.TimeSeriesAsync(range, filter, ct)).Points.Cast<object>().ToList(),
            "alerts" => (await q.AlertsAsync(range, filter, ct)).Cast<object>().ToList(),
            "cost" => (await q.CostAsync(range, filter, ct)).ByPrompt.Cast<object>().ToList(),
            "calls" => (await q.CallsAsync(range, filter, 100_000, ct)).Cast<object>().ToList(),
            "recommendations" => (await q.RecommendationsAsync(range, filter, ct)).Cast<object>().ToList(),
            _ => null,
        };
    }

    /// <summary>RFC 4180 CSV with a header; cells that a spreadsheet would run as a formula are prefixed with '.</summary>
    public static string Csv(IReadOnlyList<object> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var sb = new StringBuilder();
        List<string>? header = null;
        foreach (var row in rows)
        {
            var element = row is JsonElement e ? e : JsonSerializer.SerializeToElement(row, Json);
            var fields = element.EnumerateObject().ToList();
            if (header is null)
            {
                header = fields.Select(f => f.Name).ToList();
                sb.AppendJoin(',', header.Select(Cell)).Append("\r\n");
            }
            sb.AppendJoin(',', fields.Select(f => Cell(f.Value.ValueKind switch
            {
                JsonValueKind.String => f.Value.GetString()!,
                JsonValueKind.Null => "",
                JsonValueKind.Number => f.Value.GetRawText(),
                _ => f.Value.GetRawText(),
            }))).Append("\r\n");
        }
        return sb.ToString();
    }

    private static string Cell(string value)
    {
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r' && !double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
        {
            value = "'" + value;
        }
        return value.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }
}
