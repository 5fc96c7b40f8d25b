using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using Pipeline.Aggregation;
using Pipeline.Consumers;
using Pipeline.Consumers.Otlp;

namespace Pipeline.IntegrationTests;

/// <summary>
/// The closed windows out again (docs/metrics-export.md): the alert worker's Prometheus endpoint read by a
/// text-format parser nobody here wrote (npm parse-prometheus-text-format), and its OTLP push received by a test
/// OTLP/HTTP receiver, both with the numbers of <c>metrics_1m</c>. The receiver's protobuf decoding (our own
/// minimal .proto) is itself checked against the OpenTelemetry .NET SDK's OTLP exporter.
/// </summary>
public sealed class WindowMetricsExportTests(ServersFixture servers)
{
    private static readonly string PromText = Path.Combine(ServersFixture.RepoRoot, "tests", "prom-text");

    [Fact]
    public async Task AlertWorkerExport_PrometheusAndOtlp_MatchMetrics1m()
    {
        var ct = TestContext.Current.CancellationToken;
        if (!File.Exists(Path.Combine(PromText, "node_modules", "parse-prometheus-text-format", "package.json")))
        {
            Assert.Skip($"npm parse-prometheus-text-format is not installed in {PromText} (make deps installs it): export test not run");
        }
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var calls = await servers.NewTopicAsync("calls", 2, ct);
        var metricsTopic = await servers.NewTopicAsync("metrics", 1, ct);
        var scenario = AggregationScenario.Create(600, TimeProvider.System.GetUtcNow().AddMinutes(-3), 5, seed: 11);
        var aggregator = new AggregatorOptions
        {
            Topic = calls, GroupId = "g-" + calls, MetricsTopic = metricsTopic, DeadLetterTopic = await servers.NewTopicAsync("dlq", 1, ct),
            FlushInterval = TimeSpan.FromMilliseconds(200), Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1) },
        };
        // The last 60 events come after their windows were written: late revisions, which OTLP must send as deltas.
        foreach (var (events, expected) in new[] { (scenario.Events.Take(540), 540), (scenario.Events.Skip(540), 600) })
        {
            await AggregationScenario.ProduceAsync(servers, calls, events, ct);
            using (await WorkerHarness.RunUntilAsync(servers, clickHouse, aggregator,
                async () => await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) >= expected, TimeSpan.FromSeconds(60), ct)) { }
        }
        Assert.True(await clickHouse.ScalarAsync("SELECT count() FROM metrics_1m WHERE revision > 1", ct) > 0, "no late revision to export");

        using var receiver = new OtlpReceiver();
        var options = new WindowMetricsOptions
        {
            PrometheusPort = FreePort(), OtlpEndpoint = receiver.Url, OtlpExportInterval = TimeSpan.FromMilliseconds(200), MaxSeries = 100,
        };
        var export = new WindowMetricsExporter(options, TimeProvider.System, NullLogger.Instance, m => m.StartsWith("gpt-", StringComparison.Ordinal) ? "openai" : null);
        var alerting = new AlertWorkerOptions { MetricsTopic = metricsTopic, AlertsTopic = await servers.NewTopicAsync("alerts", 1, ct), GroupId = "g-" + metricsTopic };
        using var worker = new AlertWorker(servers.Kafka, clickHouse, alerting, TimeProvider.System, NullLogger.Instance, windowExport: export);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();
        var total = (ulong)await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct);
        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(60);
        // Every window (late revisions too) read by the worker and pushed: the deltas received add up to all calls.
        ulong Received() => receiver.Requests.SelectMany(r => r.ResourceMetrics).SelectMany(rm => rm.ScopeMetrics).SelectMany(sm => sm.Metrics)
            .Where(m => m.Name == "gen_ai.client.operation.duration").SelectMany(m => m.Histogram.DataPoints).Aggregate(0UL, (a, p) => a + p.Count);
        while (Received() < total || export.Metrics.OtlpPending > 0)
        {
            Assert.False(run.IsCompleted, "the worker stopped: " + run.Exception?.GetBaseException().Message);
            Assert.True(TimeProvider.System.GetUtcNow() < deadline, $"timed out: {worker.WindowsEvaluated} windows read, {Received()} of {total} calls received, {export.Metrics.OtlpPending} pending");
            await Task.Delay(200, ct);
        }

        string scrape;
        using (var http = new HttpClient())
        {
            scrape = await http.GetStringAsync(export.PrometheusUrl, ct);
        }
        await stop.CancelAsync();
        await run;

        // Prometheus: the latest closed window of each series, as metrics_1m has it.
        var families = ParsePrometheus(scrape);
        var latest = await clickHouse.QueryAsync("""
            SELECT environment, service, prompt_name, prompt_version, request_model, calls, errors,
                   latency_p50_ms, latency_p95_ms, latency_p99_ms, cost_usd, toUnixTimestamp(window_start) AS start
            FROM metrics_1m FINAL
            WHERE (environment, service, prompt_name, prompt_version, request_model, window_start) IN
                  (SELECT environment, service, prompt_name, prompt_version, request_model, max(window_start)
                   FROM metrics_1m GROUP BY environment, service, prompt_name, prompt_version, request_model)
            """, ct);
        Assert.Equal(6, latest.Count);
        Assert.Equal(6, Gauge(families, "pipeline_window_series", _ => true));
        Assert.Equal(0, Gauge(families, "pipeline_window_series_dropped_total", _ => true));
        foreach (var row in latest)
        {
            bool Of(Dictionary<string, string> l) => l["environment"] == S(row, "environment") && l["service"] == S(row, "service")
                && l["prompt_name"] == S(row, "prompt_name") && l["prompt_version"] == S(row, "prompt_version") && l["model"] == S(row, "request_model")
                && l["provider"] == "openai";
            var label = $"{S(row, "prompt_version")}/{S(row, "request_model")}";
            Assert.True(D(row, "calls") == Gauge(families, "pipeline_window_calls", Of), label);
            Assert.True(D(row, "errors") == Gauge(families, "pipeline_window_errors", Of), label);
            Assert.Equal(D(row, "errors") / D(row, "calls"), Gauge(families, "pipeline_window_error_ratio", Of), 12);
            Assert.Equal(D(row, "latency_p50_ms") / 1000, Gauge(families, "pipeline_window_latency_seconds", l => Of(l) && l["quantile"] == "0.5"), 12);
            Assert.Equal(D(row, "latency_p95_ms") / 1000, Gauge(families, "pipeline_window_latency_seconds", l => Of(l) && l["quantile"] == "0.95"), 12);
            Assert.Equal(D(row, "latency_p99_ms") / 1000, Gauge(families, "pipeline_window_latency_seconds", l => Of(l) && l["quantile"] == "0.99"), 12);
            Assert.Equal(D(row, "cost_usd"), Gauge(families, "pipeline_window_cost_usd", Of), 12);
            Assert.Equal(D(row, "start"), Gauge(families, "pipeline_window_start_seconds", Of));
        }

        // OTLP: every window's deltas (a late revision sends only what it added) add up to its metrics_1m row.
        var points = receiver.Requests.SelectMany(r => r.ResourceMetrics.SelectMany(rm => rm.ScopeMetrics.SelectMany(sm => sm.Metrics
            .SelectMany(m => m.Histogram.DataPoints.Select(p => (Metric: m.Name, Unit: m.Unit, Resource: rm.Resource, Point: p)))))).ToList();
        Assert.All(points, p => Assert.Equal(p.Metric == "gen_ai.client.operation.duration" ? "s" : "{token}", p.Unit));
        var windows = await clickHouse.QueryAsync("""
            SELECT environment, service, prompt_name, prompt_version, request_model, toUnixTimestamp(window_start) AS start,
                   calls, latency_sum_ms, latency_sketch, input_tokens, output_tokens
            FROM metrics_1m FINAL
            """, ct);
        Assert.Equal(windows.Count, points.Where(p => p.Metric == "gen_ai.client.operation.duration")
            .Select(p => (Key(p.Resource, p.Point), p.Point.StartTimeUnixNano)).Distinct().Count());
        foreach (var row in windows)
        {
            var key = string.Join('|', S(row, "environment"), S(row, "service"), S(row, "prompt_name"), S(row, "prompt_version"), S(row, "request_model"));
            var start = (ulong)D(row, "start") * 1_000_000_000;
            var mine = points.Where(p => p.Point.StartTimeUnixNano == start && Key(p.Resource, p.Point) == key).ToList();
            var duration = mine.Where(p => p.Metric == "gen_ai.client.operation.duration").Select(p => p.Point).ToList();
            Assert.True((ulong)D(row, "calls") == duration.Aggregate(0UL, (a, p) => a + p.Count), key);
            Assert.Equal(D(row, "latency_sum_ms") / 1000, duration.Sum(p => p.Sum), 6);
            Assert.All(duration, p => Assert.Equal(WindowMetrics.DurationBounds, p.ExplicitBounds));
            Assert.All(duration, p => Assert.Equal(start + 60_000_000_000, p.TimeUnixNano));
            var buckets = WindowMetrics.DurationBuckets(QuantileSketch.FromStored(S(row, "latency_sketch")));
            Assert.Equal(buckets.Select(b => (ulong)b), Enumerable.Range(0, buckets.Length).Select(i => duration.Aggregate(0UL, (a, p) => a + p.BucketCounts[i])));
            foreach (var (type, column) in new[] { ("input", "input_tokens"), ("output", "output_tokens") })
            {
                var tokens = mine.Where(p => p.Metric == "gen_ai.client.token.usage" && Attr(p.Point, "gen_ai.token.type") == type).Select(p => p.Point).ToList();
                Assert.Equal(D(row, column), tokens.Sum(p => p.Sum));
                Assert.True((ulong)D(row, "calls") == tokens.Aggregate(0UL, (a, p) => a + p.Count), key + " " + type);
            }
        }
    }

    [Fact]
    public async Task PipelineAlert_WindowMetricsSettings_ServeTheEndpoint()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var metricsTopic = await servers.NewTopicAsync("metrics", 1, ct);
        var port = FreePort();
        string[] args =
        [
            "alert",
            "--set", $"ClickHouse:Url={servers.ClickHouse.Url}", "--set", $"ClickHouse:User={servers.ClickHouse.User}",
            "--set", $"ClickHouse:Password={servers.ClickHouse.Password}", "--set", $"ClickHouse:Database={clickHouse.Options.Database}",
            "--set", $"Kafka:bootstrap.servers={servers.Bootstrap}", "--set", $"Alerting:MetricsTopic={metricsTopic}",
            "--set", $"Alerting:AlertsTopic={await servers.NewTopicAsync("alerts", 1, ct)}", "--set", $"Alerting:GroupId=g-{metricsTopic}",
            "--set", $"WindowMetrics:PrometheusPort={port}", "--set", "WindowMetrics:MaxSeries=7",
        ];
        var home = Directory.CreateTempSubdirectory("pipeline-window-metrics-").FullName;
        using var process = PipelineProcess.Start(args, home);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        string? text = null;
        try
        {
            for (var i = 0; i < 150 && text is null; i++)
            {
                Assert.False(process.HasExited, "pipeline alert exited: " + PipelineProcess.Tail(process));
                try
                {
                    text = await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics"), ct);
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(200, ct);
                }
            }
        }
        finally
        {
            PipelineProcess.Kill9(process);
            Directory.Delete(home, recursive: true);
        }
        Assert.True(text is not null, "no answer on the window-metrics port: " + PipelineProcess.Tail(process));
        Assert.Equal(7, Gauge(ParsePrometheusIfInstalled(text) ?? default, "pipeline_window_series_limit", _ => true, text));
    }

    [Fact]
    public async Task OtlpReceiverProto_DecodesTheOpenTelemetrySdksOwnExport()
    {
        var ct = TestContext.Current.CancellationToken;
        using var receiver = new OtlpReceiver();
        using var meter = new Meter("Pipeline.ProtoCheck");
        var histogram = meter.CreateHistogram<double>("gen_ai.client.operation.duration", "s");
        var counter = meter.CreateCounter<long>("probe.calls", "{call}");
        using (var provider = Sdk.CreateMeterProviderBuilder().AddMeter(meter.Name)
            .AddView("gen_ai.client.operation.duration", new ExplicitBucketHistogramConfiguration { Boundaries = [0.1, 1, 10] })
            .AddOtlpExporter((o, reader) =>
            {
                o.Endpoint = new Uri(receiver.Url, "v1/metrics");
                o.Protocol = OtlpExportProtocol.HttpProtobuf;
                reader.TemporalityPreference = MetricReaderTemporalityPreference.Delta;
            }).Build())
        {
            foreach (var v in new[] { 0.05, 0.5, 0.7, 5, 50 }) histogram.Record(v, new KeyValuePair<string, object?>("gen_ai.prompt.name", "answer"));
            counter.Add(7);
            Assert.True(provider.ForceFlush(10_000));
        }
        var metrics = receiver.Requests.SelectMany(r => r.ResourceMetrics).SelectMany(rm => rm.ScopeMetrics)
            .Where(sm => sm.Scope.Name == meter.Name).SelectMany(sm => sm.Metrics).ToList();
        var h = Assert.Single(metrics, m => m.Name == "gen_ai.client.operation.duration");
        Assert.Equal("s", h.Unit);
        Assert.Equal(Pipeline.Consumers.Otlp.AggregationTemporality.Delta, h.Histogram.AggregationTemporality);
        var point = Assert.Single(h.Histogram.DataPoints);
        Assert.Equal(5UL, point.Count);
        Assert.Equal(56.25, point.Sum, 9);
        Assert.Equal([0.1, 1, 10], point.ExplicitBounds);
        Assert.Equal([1UL, 2, 1, 1], point.BucketCounts);
        Assert.Equal(0.05, point.Min);
        Assert.Equal(50, point.Max);
        Assert.Equal("answer", Attr(point, "gen_ai.prompt.name"));
        var sum = Assert.Single(metrics, m => m.Name == "probe.calls");
        Assert.True(sum.Sum.IsMonotonic);
        Assert.Equal(7, Assert.Single(sum.Sum.DataPoints).AsInt);
        await Task.CompletedTask.WaitAsync(ct);
    }

    private static string Key(Resource resource, HistogramDataPoint p)
    {
        string R(string k) => resource.Attributes.Single(a => a.Key == k).Value.StringValue;
        return string.Join('|', R("deployment.environment.name"), R("service.name"), Attr(p, "gen_ai.prompt.name"), Attr(p, "gen_ai.prompt.version"), Attr(p, "gen_ai.request.model"));
    }

    private static string? Attr(HistogramDataPoint p, string key) => p.Attributes.FirstOrDefault(a => a.Key == key)?.Value.StringValue;

    private static string S(JsonElement row, string name) => row.GetProperty(name).GetString()!;

    private static double D(JsonElement row, string name)
    {
        var e = row.GetProperty(name);
        return e.ValueKind == JsonValueKind.String ? double.Parse(e.GetString()!, CultureInfo.InvariantCulture) : e.GetDouble();
    }

    private static double Gauge(JsonElement families, string name, Func<Dictionary<string, string>, bool> labels, string text)
    {
        if (families.ValueKind == JsonValueKind.Array) return Gauge(families, name, labels);
        var line = text.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal));
        return double.Parse(line[(name.Length + 1)..], CultureInfo.InvariantCulture);
    }

    private static JsonElement? ParsePrometheusIfInstalled(string text) =>
        File.Exists(Path.Combine(PromText, "node_modules", "parse-prometheus-text-format", "package.json")) ? ParsePrometheus(text) : null;

    private static double Gauge(JsonElement families, string name, Func<Dictionary<string, string>, bool> labels)
    {
        var family = families.EnumerateArray().Single(f => f.GetProperty("name").GetString() == name);
        var matching = family.GetProperty("metrics").EnumerateArray()
            .Where(m => labels(m.TryGetProperty("labels", out var l) ? l.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!) : []))
            .ToList();
        Assert.True(matching.Count == 1, $"{name}: {matching.Count} samples match");
        return double.Parse(matching[0].GetProperty("value").GetString()!, CultureInfo.InvariantCulture);
    }

    private static JsonElement ParsePrometheus(string text)
    {
        var psi = new ProcessStartInfo("node") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = PromText };
        psi.ArgumentList.Add(Path.Combine(PromText, "parse.js"));
        using var process = Process.Start(psi)!;
        process.StandardInput.Write(text);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(30_000), "parse.js did not finish");
        Assert.True(process.ExitCode == 0, $"parse.js exited {process.ExitCode}: {stderr}\n{text}");
        using var doc = JsonDocument.Parse(stdout);
        return doc.RootElement.Clone();
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>An OTLP/HTTP receiver for metrics: decodes each protobuf ExportMetricsServiceRequest posted to /v1/metrics.</summary>
    private sealed class OtlpReceiver : IDisposable
    {
        private readonly HttpListener _listener = new();

        public OtlpReceiver()
        {
            var port = FreePort();
            Url = new Uri($"http://127.0.0.1:{port}/");
            _listener.Prefixes.Add(Url.ToString());
            _listener.Start();
            _ = Task.Run(ServeAsync);
        }

        public Uri Url { get; }
        public ConcurrentQueue<ExportMetricsServiceRequest> Requests { get; } = new();

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
                var ok = ctx.Request.HttpMethod == "POST" && ctx.Request.Url?.AbsolutePath == "/v1/metrics" && ctx.Request.ContentType == "application/x-protobuf";
                ctx.Response.StatusCode = ok ? 200 : 400;
                if (ok)
                {
                    using var body = new MemoryStream();
                    await ctx.Request.InputStream.CopyToAsync(body);
                    Requests.Enqueue(ExportMetricsServiceRequest.Parser.ParseFrom(body.ToArray()));
                    var answer = Google.Protobuf.MessageExtensions.ToByteArray(new ExportMetricsServiceResponse());
                    ctx.Response.ContentType = "application/x-protobuf";
                    await ctx.Response.OutputStream.WriteAsync(answer);
                }
                ctx.Response.Close();
            }
        }

        public void Dispose() => _listener.Close();
    }
}
