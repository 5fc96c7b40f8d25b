using System.Diagnostics;
using System.Net.Http.Headers;
using Google.Protobuf;
using Pipeline.DevServers;
using Pipeline.Ingest;
using Pipeline.Producers;
using Pipeline.Tests;
using static Pipeline.UnitTests.Ingest.OtlpSpans;

namespace Pipeline.Benchmarks;

/// <summary>
/// <c>ingest [spans]</c>: spans/s through <c>pipeline ingest</c> (OTLP/HTTP protobuf, 4 concurrent exporters, 500 spans
/// a request, until Kafka acknowledged every event) next to the SDK's own Track + flush events/s, same run, same broker.
/// </summary>
internal static class IngestThroughput
{
    public static async Task<int> RunAsync(int spans)
    {
        await using var broker = DevBrokerHost.Start(1, null, [("sdk", 6), ("ingest", 6)]);
        var spill = Path.Combine(Path.GetTempPath(), "pipeline-bench-ingest-" + Guid.NewGuid().ToString("N"));
        try
        {
            var kafka = new Dictionary<string, string> { ["bootstrap.servers"] = broker.Bootstrap, ["log_level"] = "0" };
            var now = DateTimeOffset.FromUnixTimeMilliseconds(TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds());
            double sdkRate;
            await using (var producer = new LlmCallProducer(new ProducerOptions { Topic = "sdk", Kafka = kafka, SpillDirectory = Path.Combine(spill, "sdk") }))
            {
                var calls = Enumerable.Range(0, spans).Select(i => Samples.FullCall(now.AddMilliseconds(i)) with { EventId = Guid.NewGuid() }).ToList();
                var sw = Stopwatch.StartNew();
                foreach (var c in calls) producer.Track(c);
                if (await producer.FlushAsync(TimeSpan.FromMinutes(2)) > 0) throw new InvalidOperationException("SDK flush timed out");
                sdkRate = spans / sw.Elapsed.TotalSeconds;
            }

            var options = new IngestOptions { Http = "127.0.0.1:0", Grpc = "", RequestsPerSecond = 1_000_000, RequestBurst = 1_000_000 };
            var producerOptions = IngestProducer.Options(options, kafka, "ingest", Path.Combine(spill, "ingest"));
            double ingestRate;
            await using (var producer = new LlmCallProducer(producerOptions))
            await using (var host = IngestApp.Create(options, producer, producerOptions, TimeProvider.System))
            {
                await host.StartAsync(CancellationToken.None);
                const int perRequest = 500;
                var bodies = Enumerable.Range(0, spans / perRequest).Select(b =>
                {
                    var request = Request(Enumerable.Range(0, perRequest).Select(i => Chat(b + 1, i + 1, 100 + i)).ToArray());
                    foreach (var s in request.ResourceSpans[0].ScopeSpans[0].Spans)
                    {
                        var d = s.EndTimeUnixNano - s.StartTimeUnixNano;
                        s.StartTimeUnixNano = (ulong)now.ToUnixTimeMilliseconds() * 1_000_000UL;
                        s.EndTimeUnixNano = s.StartTimeUnixNano + d;
                    }
                    return request.ToByteArray();
                }).ToList();
                using var http = new HttpClient();
                var next = -1;
                var sw = Stopwatch.StartNew();
                await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
                {
                    int i;
                    while ((i = Interlocked.Increment(ref next)) < bodies.Count)
                    {
                        using var content = new ByteArrayContent(bodies[i]);
                        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
                        using var response = await http.PostAsync(host.HttpUrl, content);
                        response.EnsureSuccessStatusCode();
                    }
                }));
                if (await producer.FlushAsync(TimeSpan.FromMinutes(2)) > 0) throw new InvalidOperationException("ingest flush timed out");
                ingestRate = host.Ingest.Accepted / sw.Elapsed.TotalSeconds;
                if (host.Ingest.Accepted != bodies.Count * perRequest) throw new InvalidOperationException($"accepted {host.Ingest.Accepted} of {bodies.Count * perRequest}");
            }
            Console.WriteLine(FormattableString.Invariant($"SDK publish (Track + flush), events/s ({spans} events): {sdkRate:N0}"));
            Console.WriteLine(FormattableString.Invariant($"pipeline ingest, OTLP/HTTP protobuf, 4 exporters x 500 spans/request, spans/s until acked: {ingestRate:N0} ({ingestRate / sdkRate:P0} of the SDK's)"));
            return 0;
        }
        finally
        {
            if (Directory.Exists(spill)) Directory.Delete(spill, recursive: true);
        }
    }
}
