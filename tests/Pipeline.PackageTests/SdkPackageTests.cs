using System.Globalization;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pipeline.Producers;

namespace Pipeline.PackageTests;

/// <summary>
/// The SDK as a service team gets it: <c>Pipeline.Producers</c> from the local feed, a generic host with
/// <c>AddPipelineProducer(configuration)</c> and a chat client wrapped with <c>UsePipelineMetrics</c>, the
/// <c>Pipeline.Cli</c> tool's aggregator between the real broker and the real ClickHouse, and an exact
/// reconciliation in <c>calls FINAL</c>. Only the LLM provider is a fake.
/// </summary>
public sealed class SdkPackageTests
{
    private const int Calls = 60;
    private const int StreamEvery = 4;

    [Fact]
    public async Task HostWithPackagedSdk_CallsThroughChatClient_ReconcileExactlyInClickHouse()
    {
        var ct = TestContext.Current.CancellationToken;
        var servers = TestServers.FromEnvironment();
        var run = Guid.NewGuid().ToString("N")[..12];
        var names = new RunNames(run);
        var home = Directory.CreateTempSubdirectory("pipeline-package-test-");
        using var clickHouse = new ClickHouseQuery(servers);
        var cli = new PipelineCli(servers, home.FullName, names);
        await Kafka.CreateTopicsAsync(servers.KafkaBootstrap, [names.Topic, names.DeadLetterTopic, names.MetricsTopic]);
        PipelineCli.Worker? aggregator = null;
        try
        {
            var migrate = await cli.RunAsync(["migrate"], ct);
            Assert.True(migrate.ExitCode == 0, $"pipeline migrate exited {migrate.ExitCode}:\n{migrate.Output}");
            var provider = new FakeChatClient();
            await RunServiceAsync(servers, names, home.FullName, provider, ct);

            // After the service, so that the topic exists on every broker (the dev broker creates it on first use).
            aggregator = cli.Start(["aggregate"], Path.Combine(AppContext.BaseDirectory, $"aggregate-{run}.log"));

            var totals = await WaitForCallsAsync(clickHouse, names, aggregator, ct);
            Assert.Equal(Calls, totals.Count);
            Assert.Equal(Calls, totals.UniqueEvents);
            Assert.Equal(provider.InputTokens, totals.InputTokens);
            Assert.Equal(provider.OutputTokens, totals.OutputTokens);
            Assert.Equal(Calls / StreamEvery, totals.WithTimeToFirstToken);
            Assert.Equal(Calls, totals.FromConfiguredService);

            var exit = await aggregator.StopAsync();
            Assert.True(exit == 0, $"pipeline aggregate exited {exit} on SIGTERM:\n{aggregator.LogTail()}");
        }
        finally
        {
            if (aggregator is not null)
            {
                await aggregator.StopAsync();
                aggregator.Dispose();
            }
            await clickHouse.ExecuteAsync($"DROP DATABASE IF EXISTS {names.Database}", CancellationToken.None);
            await Kafka.DeleteTopicsAsync(servers.KafkaBootstrap, [names.Topic, names.DeadLetterTopic, names.MetricsTopic]);
            home.Delete(recursive: true);
        }
    }

    /// <summary>What a service's Program.cs does: appsettings.json, one line for the SDK, one for the chat client.</summary>
    private static async Task RunServiceAsync(TestServers servers, RunNames names, string home, FakeChatClient provider, CancellationToken ct)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Pipeline:Producer:BootstrapServers"] = servers.KafkaBootstrap,
            ["Pipeline:Producer:Topic"] = names.Topic,
            ["Pipeline:Producer:SpillDirectory"] = Path.Combine(home, "spill"),
        });
        var logs = new LogCapture();
        builder.Logging.AddProvider(logs);
        builder.Services.AddPipelineProducer(builder.Configuration);
        builder.Services.AddHealthChecks().AddPipelineProducer();
        builder.Services.AddChatClient(provider).UsePipelineMetrics(o => { o.PromptName = names.Prompt; o.PromptVersion = "1.0"; });

        using var host = builder.Build();
        await host.StartAsync(ct);
        var chat = host.Services.GetRequiredService<IChatClient>();
        for (var i = 0; i < Calls; i++)
        {
            if (i % StreamEvery == StreamEvery - 1)
            {
                await foreach (var update in chat.GetStreamingResponseAsync($"question {i}", cancellationToken: ct))
                {
                    Assert.NotNull(update);
                }
            }
            else
            {
                var response = await chat.GetResponseAsync($"question {i}", cancellationToken: ct);
                Assert.Equal("ok", response.Text);
            }
        }
        var producer = host.Services.GetRequiredService<LlmCallProducer>();
        Assert.Equal(0, await producer.FlushAsync(TimeSpan.FromSeconds(60), ct));
        Assert.Equal(Calls, producer.Delivered);
        Assert.Equal(0, producer.Spilled);
        var health = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(ct);
        Assert.Equal(HealthStatus.Healthy, health.Status);
        await host.StopAsync(ct);

        // What the team sees: one start-up line naming where events go, and nothing at Error or worse.
        var sdk = logs.Lines.Where(l => l.Category.StartsWith("Pipeline.", StringComparison.Ordinal)).ToList();
        var started = Assert.Single(sdk, l => l.Message.StartsWith("Pipeline producer started:", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Information, started.Level);
        Assert.Contains($"topic {names.Topic} at {servers.KafkaBootstrap}", started.Message, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(home, "spill"), started.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(sdk, l => l.Level >= LogLevel.Error);
    }

    private static async Task<CallTotals> WaitForCallsAsync(ClickHouseQuery clickHouse, RunNames names, PipelineCli.Worker aggregator, CancellationToken ct)
    {
        var sql = $"""
            SELECT count(), uniqExact(event_id), sum(input_tokens), sum(output_tokens), countIf(isNotNull(time_to_first_token_ms)),
                   countIf(environment = 'package-test' AND service = 'package-test-app')
            FROM {names.Database}.calls FINAL WHERE prompt_name = '{names.Prompt}'
            """;
        var deadline = TimeProvider.System.GetTimestamp();
        CallTotals totals = default;
        while (TimeProvider.System.GetElapsedTime(deadline) < TimeSpan.FromSeconds(120))
        {
            Assert.False(aggregator.HasExited, $"pipeline aggregate stopped early:\n{aggregator.LogTail()}");
            var cells = (await clickHouse.QueryAsync(sql, ct)).Trim().Split('\t').Select(c => long.Parse(c, CultureInfo.InvariantCulture)).ToArray();
            totals = new CallTotals(cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]);
            if (totals.Count >= Calls) return totals;
            await Task.Delay(TimeSpan.FromMilliseconds(250), ct);
        }
        Assert.Fail($"{totals.Count} of {Calls} calls reached {names.Database}.calls in 120 s; aggregator log:\n{aggregator.LogTail()}");
        return totals;
    }

    private readonly record struct CallTotals(long Count, long UniqueEvents, long InputTokens, long OutputTokens, long WithTimeToFirstToken, long FromConfiguredService);
}

/// <summary>A database, topics, consumer group and prompt name of this run only.</summary>
internal sealed record RunNames(string Run)
{
    public string Database => "pkg_" + Run;
    public string Topic => $"pkg.calls.{Run}";
    public string DeadLetterTopic => $"pkg.dlq.{Run}";
    public string MetricsTopic => $"pkg.metrics.{Run}";
    public string GroupId => $"pkg-aggregator-{Run}";
    public string Prompt => "package_test_" + Run;
}
