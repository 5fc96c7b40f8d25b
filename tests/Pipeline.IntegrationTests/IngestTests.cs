using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Time.Testing;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Pipeline.ClickHouse;
using Pipeline.Consumers;
using Pipeline.DevServers;
using Pipeline.Ingest;
using Pipeline.Ingest.Otlp.Collector;
using Pipeline.Producers;
using static Pipeline.UnitTests.Ingest.OtlpSpans;
using RpcStatus = Pipeline.Ingest.Otlp.Rpc.Status;

namespace Pipeline.IntegrationTests;

/// <summary>
/// <c>pipeline ingest</c> in process, on real sockets, publishing through the SDK to the dev broker, read by the real
/// aggregator into ClickHouse: the OpenTelemetry .NET SDK with Microsoft.Extensions.AI's <c>UseOpenTelemetry()</c>
/// over OTLP/HTTP and OTLP/gRPC, the OTLP answers (401, 403, 413, 400, 429, partial success), duplicates, and a
/// Kafka outage.
/// </summary>
public sealed class IngestTests(ServersFixture servers) : IDisposable
{
    private readonly string _spill = Path.Combine(Path.GetTempPath(), "pipeline-ingest-test-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_spill)) Directory.Delete(_spill, recursive: true);
    }

    [Fact]
    public async Task OpenTelemetrySdk_ChatClientSpans_OverHttpAndGrpc_EachLandsOnceWithItsFields()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 2, ct);
        var (host, producer) = await StartAsync(servers.Kafka.All, topic, new IngestOptions(), TimeProvider.System, ct);
        var expected = new List<ExpectedCall>();
        await using (producer)
        await using (host)
        {
            foreach (var (protocol, endpoint, service) in new[]
            {
                (OtlpExportProtocol.HttpProtobuf, host.HttpUrl!, "svc-http"), (OtlpExportProtocol.Grpc, host.GrpcUrl!, "svc-grpc"),
            })
            {
                var source = "ingest-test-" + Guid.NewGuid().ToString("N");
                using (var tracing = Sdk.CreateTracerProviderBuilder().AddSource(source)
                    .ConfigureResource(r => r.AddService(service).AddAttributes([new("deployment.environment.name", "prod")]))
                    .AddOtlpExporter(o => { o.Endpoint = endpoint; o.Protocol = protocol; })
                    .Build())
                {
                    using var client = new ChatClientBuilder(new FakeChatClient(expected, service))
                        .UseOpenTelemetry(sourceName: source)
                        // What a service does to name its prompt: tag the GenAI span (Activity.Current inside UseOpenTelemetry).
                        .Use(async (messages, options, next, token) =>
                        {
                            Activity.Current?.SetTag("gen_ai.prompt.name", options?.AdditionalProperties?["prompt"] as string);
                            Activity.Current?.SetTag("gen_ai.prompt.version", "3");
                            await next(messages, options, token);
                        })
                        .Build();
                    for (var i = 0; i < 24; i++)
                    {
                        var options = new ChatOptions { AdditionalProperties = new() { ["prompt"] = "support_answer" } };
                        try
                        {
                            if (i % 5 == 0)
                            {
                                await foreach (var _ in client.GetStreamingResponseAsync("hello", options, ct)) { }
                            }
                            else
                            {
                                await client.GetResponseAsync("hello", options, ct);
                            }
                        }
                        catch (TimeoutException)
                        {
                        }
                    }
                    Assert.True(tracing.ForceFlush(30_000), $"the {protocol} exporter did not flush");
                }
            }
            Assert.Equal(48, expected.Count);
            Assert.Equal(0, await producer.FlushAsync(TimeSpan.FromSeconds(30), ct));
            Assert.Equal(48, host.Ingest.Accepted);
            Assert.Equal(0, host.Ingest.Rejected);
        }

        var rows = await AggregateAsync(servers.Kafka, clickHouse, topic, 48, ct);
        Assert.Equal(48, rows.Count);
        Assert.Equal(48, await clickHouse.ScalarAsync("SELECT count() FROM calls FINAL", ct));
        var byId = rows.ToDictionary(r => Guid.Parse(r.GetProperty("id").GetString()!));
        Assert.Equal(expected.Select(e => e.EventId).Order(), byId.Keys.Order());
        foreach (var e in expected)
        {
            var r = byId[e.EventId];
            Assert.Equal((e.Service, "prod", "openai", "gpt-4o-mini", "chat", "support_answer", "3", e.TraceId),
                (S(r, "service"), S(r, "environment"), S(r, "provider"), S(r, "request_model"), S(r, "operation"), S(r, "prompt_name"), S(r, "prompt_version"), S(r, "trace_id")));
            Assert.Equal(e.Failed ? ("ERROR", "TIMEOUT") : ("SUCCESS", ""), (S(r, "outcome"), S(r, "error_type")));
            Assert.Equal((e.InputTokens, e.OutputTokens), (StoredValues.Count(r, "input_tokens"), StoredValues.Count(r, "output_tokens")));
            if (!e.Failed) Assert.Equal("gpt-4o-mini-2024-07-18", S(r, "response_model"));
            Assert.True(r.GetProperty("latency_ms").GetDouble() > 0);
            Assert.Equal(e.Streamed && !e.Failed, r.GetProperty("ttft").ValueKind == System.Text.Json.JsonValueKind.Number);
        }
    }

    [Fact]
    public async Task NodeOpenTelemetrySdk_OverProtoAndJson_EverySpanLandsOnce()
    {
        var ct = TestContext.Current.CancellationToken;
        var script = Path.Combine(ServersFixture.RepoRoot, "tests", "otel-node", "send_spans.js");
        if (!Directory.Exists(Path.Combine(ServersFixture.RepoRoot, "tests", "otel-node", "node_modules", "@opentelemetry", "sdk-trace-node")))
        {
            Assert.Skip("npm @opentelemetry/sdk-trace-node and its OTLP exporters are not installed in tests/otel-node (make deps installs them): Node SDK not run");
        }
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 2, ct);
        var (host, producer) = await StartAsync(servers.Kafka.All, topic, new IngestOptions(), TimeProvider.System, ct);
        var expected = new Dictionary<Guid, (string Service, string TraceId, int Index)>();
        await using (producer)
        await using (host)
        {
            foreach (var protocol in new[] { "proto", "json" })
            {
                var ids = Path.GetTempFileName();
                try
                {
                    var (exit, stdout, stderr) = await RunNodeAsync([script, "--url", host.HttpUrl!.ToString(), "--protocol", protocol, "--count", "30",
                        "--service", "node-" + protocol, "--ids-file", ids], ct);
                    Assert.True(exit == 0, $"send_spans.js --protocol {protocol} exited {exit}: {stdout}{stderr}");
                    var lines = (await File.ReadAllLinesAsync(ids, ct)).Where(l => l.Length > 0).ToList();
                    Assert.Equal(30, lines.Count);
                    for (var i = 0; i < lines.Count; i++)
                    {
                        var parts = lines[i].Split(' ');
                        expected.Add(SpanMapper.EventId(Convert.FromHexString(parts[0]), Convert.FromHexString(parts[1])), ("node-" + protocol, parts[0], i));
                    }
                }
                finally
                {
                    File.Delete(ids);
                }
            }
            Assert.Equal(0, await producer.FlushAsync(TimeSpan.FromSeconds(30), ct));
            Assert.Equal((60L, 0L), (host.Ingest.Accepted, host.Ingest.Rejected));
        }

        var rows = await AggregateAsync(servers.Kafka, clickHouse, topic, 60, ct);
        Assert.Equal(60, await clickHouse.ScalarAsync("SELECT count() FROM calls FINAL", ct));
        var byId = rows.ToDictionary(r => Guid.Parse(r.GetProperty("id").GetString()!));
        Assert.Equal(expected.Keys.Order(), byId.Keys.Order());
        foreach (var (id, (service, traceId, i)) in expected)
        {
            var r = byId[id];
            var failed = i % 6 == 5; // as send_spans.js fails them
            Assert.Equal((service, "staging", "openai", "gpt-4o-mini", "chat", "node_answer", "7", traceId),
                (S(r, "service"), S(r, "environment"), S(r, "provider"), S(r, "request_model"), S(r, "operation"), S(r, "prompt_name"), S(r, "prompt_version"), S(r, "trace_id")));
            Assert.Equal(failed ? ("ERROR", "RATE_LIMITED", "") : ("SUCCESS", "", "gpt-4o-mini-2024-07-18"), (S(r, "outcome"), S(r, "error_type"), S(r, "response_model")));
            Assert.Equal(failed ? (0L, 0L) : (200L + i, 20L + i), (StoredValues.Count(r, "input_tokens"), StoredValues.Count(r, "output_tokens")));
        }
    }

    [Fact]
    public async Task ApiKeys_WrongKey401_OtherService403_NothingWritten_KeyEnvironmentWins()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 1, ct);
        var options = new IngestOptions
        {
            ApiKeys = [new IngestApiKey { Name = "checkout-team", Sha256 = Sha("right-key"), Environment = "prod-eu", Services = ["checkout"] }],
        };
        var (host, producer) = await StartAsync(servers.Kafka.All, topic, options, TimeProvider.System, ct);
        var now = TimeProvider.System.GetUtcNow();
        await using (producer)
        await using (host)
        {
            using var http = new HttpClient();
            var good = Protobuf(Now(Request(Chat(101, 1)), now));
            var (status, message) = await PostAsync(http, host.HttpUrl!, good, "wrong-key", ct);
            Assert.Equal((HttpStatusCode.Unauthorized, "unknown API key"), (status, message));
            (status, message) = await PostAsync(http, host.HttpUrl!, good, null, ct);
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            Assert.Contains("Authorization: Bearer", message, StringComparison.Ordinal);
            var billing = Protobuf(Now(Request([Attr("service.name", "billing")], Chat(102, 1)), now));
            (status, message) = await PostAsync(http, host.HttpUrl!, billing, "right-key", ct);
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Contains("service.name 'billing': key 'checkout-team' may write only as checkout", message, StringComparison.Ordinal);
            // The span claims prod; the key says prod-eu.
            (status, _) = await PostAsync(http, host.HttpUrl!, good, "right-key", ct);
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(0, await producer.FlushAsync(TimeSpan.FromSeconds(30), ct));
            Assert.Equal(1, host.Ingest.Accepted);
        }
        var rows = await AggregateAsync(servers.Kafka, clickHouse, topic, 1, ct);
        var row = Assert.Single(rows);
        Assert.Equal(("prod-eu", "checkout"), (S(row, "environment"), S(row, "service")));
    }

    [Fact]
    public async Task HttpAnswers_TooLarge413_Malformed400WithReason_RateLimit429_PartialSuccess()
    {
        var ct = TestContext.Current.CancellationToken;
        var topic = await servers.NewTopicAsync("calls", 1, ct);
        // A clock that stands still: the bucket never refills, so the third request is over the limit whatever the machine's speed.
        var time = new FakeTimeProvider(TimeProvider.System.GetUtcNow());
        var (host, producer) = await StartAsync(servers.Kafka.All, topic, new IngestOptions { RequestsPerSecond = 1, RequestBurst = 3 }, time, ct);
        await using (producer)
        await using (host)
        {
            using var http = new HttpClient();
            var (status, message) = await PostAsync(http, host.HttpUrl!, new byte[10 << 20], null, ct);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
            Assert.Contains("larger than Ingest:MaxBodyBytes", message, StringComparison.Ordinal);

            (status, message) = await PostAsync(http, host.HttpUrl!, [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], null, ct);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.StartsWith("malformed OTLP protobuf ExportTraceServiceRequest: ", message, StringComparison.Ordinal);
            Assert.DoesNotContain(" at ", message, StringComparison.Ordinal);

            // One good span, one GenAI span without a start time, one plain HTTP span: 200, one rejected, the HTTP span ignored.
            var bad = Chat(201, 2);
            var request = Now(Request(Chat(201, 1), bad, Span(201, 3, "GET /", 5)), time.GetUtcNow());
            request.ResourceSpans[0].ScopeSpans[0].Spans[1].StartTimeUnixNano = 0;
            using (var content = new ByteArrayContent(Protobuf(request)))
            {
                content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
                using var response = await http.PostAsync(host.HttpUrl, content, ct);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var answer = ExportTraceServiceResponse.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync(ct));
                Assert.Equal(1, answer.PartialSuccess.RejectedSpans);
                Assert.Contains("start_time_unix_nano: not set", answer.PartialSuccess.ErrorMessage, StringComparison.Ordinal);
            }
            Assert.Equal((1L, 1L, 1L), (host.Ingest.Accepted, host.Ingest.Rejected, host.Ingest.Ignored));

            (status, message) = await PostAsync(http, host.HttpUrl!, Protobuf(request), null, ct);
            Assert.Equal(HttpStatusCode.TooManyRequests, status);
            Assert.Contains("Ingest:RequestsPerSecond", message, StringComparison.Ordinal);
            Assert.Equal(0, await producer.FlushAsync(TimeSpan.FromSeconds(30), ct));
        }
    }

    [Fact]
    public async Task SameSpansTwice_ProtobufThenJson_CountOnce()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("calls", 2, ct);
        var (host, producer) = await StartAsync(servers.Kafka.All, topic, new IngestOptions(), TimeProvider.System, ct);
        var request = Now(Request(Enumerable.Range(1, 5).Select(i => Chat(300 + i, i, 100 + i)).ToArray()), TimeProvider.System.GetUtcNow());
        await using (producer)
        await using (host)
        {
            using var http = new HttpClient();
            Assert.Equal(HttpStatusCode.OK, (await PostAsync(http, host.HttpUrl!, Protobuf(request), null, ct)).Status);
            // The exporter's retry, this time as OTLP/JSON (hex ids): the same five events.
            using var json = new StringContent(Json(request), Encoding.UTF8, "application/json");
            using var response = await http.PostAsync(host.HttpUrl, json, ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("{ }", (await response.Content.ReadAsStringAsync(ct)).Trim());
            Assert.Equal(0, await producer.FlushAsync(TimeSpan.FromSeconds(30), ct));
            Assert.Equal(10, host.Ingest.Accepted);
        }
        var rows = await AggregateAsync(servers.Kafka, clickHouse, topic, 5, ct);
        Assert.Equal(5, rows.Count);
        Assert.Equal(5, await clickHouse.ScalarAsync("SELECT count() FROM calls FINAL", ct));
        Assert.Equal(Enumerable.Range(1, 5).Select(i => 100.0 + i), rows.Select(r => r.GetProperty("latency_ms").GetDouble()).Order());
    }

    [Fact]
    public async Task KafkaOutage_SpansAccepted_DeliveredAfter_NoneLostNoneTwice()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var broker = DevBrokerHost.Start(1, null, [("calls", 2), ("metrics", 1), ("dlq", 1)]);
        var kafka = new KafkaSettings([new("bootstrap.servers", broker.Bootstrap), new("session.timeout.ms", "6000")]);
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var options = new IngestOptions { SpillDirectory = _spill };
        var (host, producer) = await StartAsync(kafka.All, "calls", options, TimeProvider.System, ct, deliveryTimeout: TimeSpan.FromSeconds(3));
        var now = TimeProvider.System.GetUtcNow();
        await using (producer)
        await using (host)
        {
            using var http = new HttpClient();
            Assert.Equal(HttpStatusCode.OK, (await PostAsync(http, host.HttpUrl!, Protobuf(Now(Request(Batch(400, 20)), now)), null, ct)).Status);
            Assert.Equal(0, await producer.FlushAsync(TimeSpan.FromSeconds(30), ct));
            Assert.Equal("ok", await DevBrokerControl.SendAsync(broker.ControlPort, "down all", ct));
            for (var b = 1; b <= 4; b++)
            {
                // Kafka is away: every request is still answered 200 (no 5xx storm), the events go to the spill.
                Assert.Equal(HttpStatusCode.OK, (await PostAsync(http, host.HttpUrl!, Protobuf(Now(Request(Batch(400 + b, 20)), now)), null, ct)).Status);
            }
            var deadline = TimeProvider.System.GetUtcNow().AddSeconds(60);
            while (producer.Spilled < 80 && TimeProvider.System.GetUtcNow() < deadline) await Task.Delay(100, ct);
            Assert.True(producer.Spilled >= 80, $"spilled {producer.Spilled}");
            Assert.Equal("ok", await DevBrokerControl.SendAsync(broker.ControlPort, "up all", ct));
            Assert.Equal(0, await producer.FlushAsync(TimeSpan.FromSeconds(90), ct));
            Assert.Equal(100, host.Ingest.Accepted);
            Assert.Equal(0, producer.Dropped);
        }
        var rows = await AggregateAsync(kafka, clickHouse, "calls", 100, ct, "metrics", "dlq");
        Assert.Equal(100, rows.Count);
        Assert.Equal(100, await clickHouse.ScalarAsync("SELECT count() FROM calls FINAL", ct));
        Assert.Equal(100, await clickHouse.ScalarAsync("SELECT uniqExact(event_id) FROM calls", ct));
        Assert.Equal(Enumerable.Range(400, 5).SelectMany(b => Enumerable.Range(1, 20).Select(i => SpanMapper.EventId(TraceId(b), SpanId(i)))).Order(),
            rows.Select(r => Guid.Parse(r.GetProperty("id").GetString()!)).Order());
    }

    private static Pipeline.Ingest.Otlp.Trace.Span[] Batch(int trace, int n) => Enumerable.Range(1, n).Select(i => Chat(trace, i, 50 + i)).ToArray();

    private async Task<(IngestApp.Host Host, LlmCallProducer Producer)> StartAsync(IReadOnlyDictionary<string, string> kafka, string topic, IngestOptions options,
        TimeProvider time, CancellationToken ct, TimeSpan? deliveryTimeout = null)
    {
        options.Http = "127.0.0.1:0";
        options.Grpc = "127.0.0.1:0";
        Assert.Empty(Pipeline.Schemas.SettingsValidator.Validate(options, IngestOptions.Section));
        var producerOptions = IngestProducer.Options(options, kafka, topic, _spill);
        if (deliveryTimeout is { } d) producerOptions = producerOptions with { DeliveryTimeout = d };
        var producer = new LlmCallProducer(producerOptions, new FileLogger("ingest"));
        var host = IngestApp.Create(options, producer, producerOptions, time);
        await host.StartAsync(ct);
        return (host, producer);
    }

    /// <summary>Runs the aggregator until <paramref name="count"/> calls are in ClickHouse; returns the rows.</summary>
    private async Task<IReadOnlyList<System.Text.Json.JsonElement>> AggregateAsync(KafkaSettings kafka, ClickHouseHttp clickHouse, string topic, int count,
        CancellationToken ct, string? metricsTopic = null, string? dlqTopic = null)
    {
        var options = new AggregatorOptions
        {
            Topic = topic, GroupId = "g-" + topic + Guid.NewGuid().ToString("N")[..6],
            MetricsTopic = metricsTopic ?? await servers.NewTopicAsync("metrics", 1, ct),
            DeadLetterTopic = dlqTopic ?? await servers.NewTopicAsync("dlq", 1, ct), FlushInterval = TimeSpan.FromMilliseconds(200),
        };
        using var worker = new AggregatorWorker(kafka, clickHouse, options, TimeProvider.System, new FileLogger("ingest-aggregator"));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();
        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(90);
        while (await clickHouse.ScalarAsync("SELECT count() FROM calls FINAL", ct) < count && worker.DeadLettered == 0)
        {
            Assert.False(run.IsCompleted, "the worker stopped: " + run.Exception?.GetBaseException().Message);
            Assert.True(TimeProvider.System.GetUtcNow() < deadline, $"timed out; {worker.RecordsConsumed} consumed");
            await Task.Delay(200, ct);
        }
        await stop.CancelAsync();
        await run;
        Assert.Equal(0, worker.DeadLettered);
        return await clickHouse.QueryAsync("SELECT toString(event_id) AS id, environment, service, operation, provider, request_model, response_model, "
            + "prompt_name, prompt_version, trace_id, toString(outcome) AS outcome, error_type, input_tokens, output_tokens, latency_ms, "
            + "time_to_first_token_ms AS ttft FROM calls FINAL", ct);
    }

    private static async Task<(int Exit, string Stdout, string Stderr)> RunNodeAsync(string[] args, CancellationToken ct)
    {
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    private static async Task<(HttpStatusCode Status, string Message)> PostAsync(HttpClient http, Uri url, byte[] body, string? key, CancellationToken ct)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = content };
        // As exporters of large batches do: the receiver can refuse (413, 401) before the body is sent.
        request.Headers.ExpectContinue = true;
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await http.SendAsync(request, ct);
        var bytes = await response.Content.ReadAsByteArrayAsync(ct);
        return (response.StatusCode, response.IsSuccessStatusCode ? "" : RpcStatus.Parser.ParseFrom(bytes).Message);
    }

    /// <summary>Moves every span to start at <paramref name="now"/> (plus its index in ms), keeping durations.</summary>
    private static ExportTraceServiceRequest Now(ExportTraceServiceRequest request, DateTimeOffset now)
    {
        var i = 0UL;
        foreach (var span in request.ResourceSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans))
        {
            var duration = span.EndTimeUnixNano - span.StartTimeUnixNano;
            span.StartTimeUnixNano = (ulong)now.ToUnixTimeMilliseconds() * 1_000_000UL + i++ * 1_000_000UL;
            span.EndTimeUnixNano = span.StartTimeUnixNano + duration;
        }
        return request;
    }

    private static byte[] Protobuf(ExportTraceServiceRequest request) => request.ToByteArray();

    /// <summary>OTLP/JSON as an OTLP client writes it: protobuf's JSON mapping with hex ids.</summary>
    private static string Json(ExportTraceServiceRequest request)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(JsonFormatter.Default.Format(request))!;
        foreach (var span in node["resourceSpans"]!.AsArray().SelectMany(r => r!["scopeSpans"]!.AsArray()).SelectMany(s => s!["spans"]!.AsArray()))
        {
            foreach (var f in new[] { "traceId", "spanId", "parentSpanId" })
            {
                if (span![f] is { } v) span[f] = Convert.ToHexStringLower(Convert.FromBase64String(v.GetValue<string>()));
            }
            span!["kind"] = 3;
        }
        return node.ToJsonString();
    }

    private static string Sha(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private static string S(System.Text.Json.JsonElement row, string name) => row.GetProperty(name).GetString()!;

    private sealed record ExpectedCall(Guid EventId, string TraceId, string Service, long InputTokens, long OutputTokens, bool Failed, bool Streamed);

    /// <summary>The provider: answers with usage, fails every seventh call with a timeout; records the span each call ran in.</summary>
    private sealed class FakeChatClient(List<ExpectedCall> expected, string service) : IChatClient
    {
        private int _n;

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            var (i, failed) = Record(streamed: false);
            if (failed) throw new TimeoutException("the provider did not answer");
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok"))
            {
                ModelId = "gpt-4o-mini-2024-07-18", Usage = new UsageDetails { InputTokenCount = 100 + i, OutputTokenCount = 10 + i },
            });
        }

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            var (i, failed) = Record(streamed: true);
            if (failed) throw new TimeoutException("the provider did not answer");
            yield return new ChatResponseUpdate(ChatRole.Assistant, "o") { ModelId = "gpt-4o-mini-2024-07-18" };
            await Task.Delay(5, cancellationToken);
            yield return new ChatResponseUpdate(ChatRole.Assistant, [new TextContent("k"), new UsageContent(new UsageDetails { InputTokenCount = 100 + i, OutputTokenCount = 10 + i })])
            {
                ModelId = "gpt-4o-mini-2024-07-18",
            };
        }

        private (int Index, bool Failed) Record(bool streamed)
        {
            var i = _n++;
            var failed = i % 7 == 3;
            var activity = Activity.Current!;
            Span<byte> trace = stackalloc byte[16], span = stackalloc byte[8];
            activity.TraceId.CopyTo(trace);
            activity.SpanId.CopyTo(span);
            expected.Add(new ExpectedCall(SpanMapper.EventId(trace, span), activity.TraceId.ToHexString(), service,
                failed ? 0 : 100 + i, failed ? 0 : 10 + i, failed, streamed));
            return (i, failed);
        }

        public object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata("openai", new Uri("https://api.openai.example/"), "gpt-4o-mini") : null;

        public void Dispose()
        {
        }
    }
}
