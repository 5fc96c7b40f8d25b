using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.ClickHouse;
using Pipeline.Consumers;
using Pipeline.DevServers;

namespace Pipeline.IntegrationTests;

/// <summary>
/// ClickHouse killed (SIGKILL) while the aggregator is writing, restarted seconds later: the worker
/// retries, resumes, and the results reconcile exactly. Uses a ClickHouse of its own so no other test
/// sees the outage.
/// </summary>
public sealed class ClickHouseOutageTests(ServersFixture servers)
{
    [Fact]
    public async Task ClickHouseKilledDuringLoad_WorkerRetriesAndReconcilesExactly()
    {
        var ct = TestContext.Current.CancellationToken;
        if (!LocalClickHouse.IsInstalled)
        {
            Assert.Skip("needs the local clickhouse-server package to run a private instance");
        }
        var runDir = Directory.CreateTempSubdirectory("pipeline-ch-outage-").FullName;
        var settings = new LocalClickHouseSettings { RunDir = runDir, HttpPort = FreePort(), TcpPort = FreePort() };
        var local = new LocalClickHouse(settings, TimeProvider.System);
        await local.StartAsync(ct);
        try
        {
            var options = new ClickHouseOptions { Url = settings.HttpUrl, User = settings.WriterUser, Password = settings.WriterPassword, Database = "outage" };
            using var clickHouse = new ClickHouseHttp(options);
            await new Migrator(clickHouse, TimeProvider.System).ApplyAsync(Migrator.Embedded, ct);
            var topic = await servers.NewTopicAsync("calls", 4, ct);
            var scenario = AggregationScenario.Create(6000, TimeProvider.System.GetUtcNow().AddMinutes(-3), minutes: 8, seed: 31);
            var aggregator = new AggregatorOptions
            {
                Topic = topic, GroupId = "g-" + topic, MetricsTopic = await servers.NewTopicAsync("metrics", 1, ct),
                DeadLetterTopic = await servers.NewTopicAsync("dlq", 1, ct), MaxBatchRows = 500, FlushInterval = TimeSpan.FromMilliseconds(100),
                Windowing = new() { IdleTimeout = TimeSpan.FromSeconds(1) },
            };
            using var worker = new AggregatorWorker(servers.Kafka, clickHouse, aggregator, TimeProvider.System, NullLogger.Instance);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();

            // Half the events, then the outage while the worker is busy, then the rest during the outage.
            var ordered = scenario.Events.OrderBy(e => e.OccurredAt).ToList();
            await AggregationScenario.ProduceAsync(servers, topic, ordered.Take(3000), ct);
            for (var i = 0; i < 300 && worker.EventsWritten == 0; i++) await Task.Delay(50, ct);
            var pid = DetachedProcess.ReadPidFile(Path.Combine(runDir, "clickhouse.pid"))!.Value;
            DetachedProcess.Kill(pid, 9);
            await AggregationScenario.ProduceAsync(servers, topic, ordered.Skip(3000), ct);
            await Task.Delay(TimeSpan.FromSeconds(5), ct);
            Assert.False(run.IsCompleted, "the worker stopped during the outage: " + run.Exception?.GetBaseException().Message);
            await local.StartAsync(ct);

            for (var i = 0; i < 600 && await clickHouse.ScalarAsync("SELECT sum(calls) FROM metrics_1m FINAL", ct) < scenario.Events.Count; i++)
            {
                await Task.Delay(100, ct);
            }
            await stop.CancelAsync();
            await run;
            await scenario.AssertReconciledAsync(clickHouse, ct);
        }
        finally
        {
            await local.StopAsync(CancellationToken.None);
            Directory.Delete(runDir, recursive: true);
        }
    }

    /// <summary>A loopback port free at the time of asking.</summary>
    internal static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
