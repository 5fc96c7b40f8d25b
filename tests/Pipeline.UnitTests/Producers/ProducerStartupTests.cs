using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Producers;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.UnitTests.Producers;

/// <summary>
/// The SDK as a host sees it: started with the host, every misconfiguration found at start-up naming the key,
/// nothing that fails a caller afterwards. The broker is an address nobody listens on, so events spill.
/// </summary>
public sealed class ProducerStartupTests : IDisposable
{
    private readonly string _spill = Path.Combine(Path.GetTempPath(), "pipeline-startup-test-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_spill)) Directory.Delete(_spill, recursive: true);
    }

    [Fact]
    public async Task EnvironmentStyleKafkaKey_ReadsUnderscoreAsDot_AndTheHostStarts()
    {
        using var host = Host(("Kafka:linger_ms", "5"), ("Kafka:batch_num_messages", "500"));
        await host.StartAsync(TestContext.Current.CancellationToken);
        var options = host.Services.GetRequiredService<IOptions<ProducerOptions>>().Value;
        var config = KafkaSender.Config(options);
        Assert.Equal(5, config.LingerMs);
        Assert.Equal(500, config.BatchNumMessages);
        Assert.True(host.Services.GetRequiredService<ILlmCallTracker>().Track(Call()));
        await host.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public void KafkaKeys_SameRuleInTheSdkAndTheCli()
    {
        var given = new Dictionary<string, string> { ["linger_ms"] = "5", ["socket_keepalive_enable"] = "true", ["log_level"] = "3", ["client.id"] = "svc" };
        var sdk = KafkaSender.Config(new ProducerOptions { BootstrapServers = "b:1", Kafka = given }).ToDictionary(kv => kv.Key, kv => kv.Value);
        var cli = new Pipeline.Consumers.KafkaSettings(given.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value))).All;
        foreach (var (key, value) in cli) Assert.Equal(value, sdk[key]);
        Assert.Equal(["client.id", "linger.ms", "log_level", "socket.keepalive.enable"], cli.Keys.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("Kafka:lingerms", "5", "Pipeline:Producer:Kafka:lingerms")]
    [InlineData("Kafka:linger_ms", "minus one", "Pipeline:Producer:Kafka:linger_ms")]
    [InlineData("Kafka:enable_idempotence", "false", "Pipeline:Producer:Kafka:enable_idempotence")]
    [InlineData("LogRepeatInterval", "2.00:00:00", "Pipeline:Producer:LogRepeatInterval")]
    public async Task BadSetting_FailsHostStart_NamingTheKey(string key, string value, string named)
    {
        using var host = Host((key, value));
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains(named, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SpilDirectory", "/tmp/x", "SpilDirectory")]
    [InlineData("Samplng:DefaultRate", "0.01", "Samplng")]
    [InlineData("BootstrapServers", "kafka1:notaport", "Pipeline:Producer:BootstrapServers")]
    [InlineData("BootstrapServers", "localhost", "Pipeline:Producer:BootstrapServers")]
    [InlineData("Kafka:bootstrap_servers", "other:9092", "Pipeline:Producer:Kafka:bootstrap_servers")]
    public async Task MistypedOrContradictorySetting_FailsHostStart_NamingIt(string key, string value, string named)
    {
        using var host = Host((key, value));
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains(named, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SpillDirectoryThatCannotBeMade_FailsHostStart_NamingIt()
    {
        Directory.CreateDirectory(_spill);
        var file = Path.Combine(_spill, "a-file");
        await File.WriteAllTextAsync(file, "not a folder", TestContext.Current.CancellationToken);
        using var host = Host(("SpillDirectory", Path.Combine(file, "spill")));
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.StartsWith("Pipeline:Producer:SpillDirectory: cannot keep a spill in", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SpillFolderLostWhileRunning_TheSenderGoesOn_DropsAreCountedAndLogged_NothingThrows()
    {
        var ct = TestContext.Current.CancellationToken;
        var logs = new CapturingLoggerProvider();
        using var host = Host(logs, ("SpillSegmentBytes", "4096"), ("QueueCapacity", "5"));
        await host.StartAsync(ct);
        var producer = host.Services.GetRequiredService<LlmCallProducer>();
        var tracker = host.Services.GetRequiredService<ILlmCallTracker>();
        for (var i = 0; i < 20; i++) tracker.Track(Call());
        await WaitAsync(() => producer.Outstanding == producer.SpilledOnDisk, ct);
        // The folder goes away under the running producer and a file takes its name: no segment can be made.
        var own = producer.SpillDirectory;
        Directory.Delete(own, recursive: true);
        await File.WriteAllTextAsync(own, "in the way", ct);
        for (var i = 0; i < 60; i++) tracker.Track(Call() with { PromptName = "long-enough-to-fill-a-segment-" + new string('x', 100) });
        await WaitAsync(() => producer.Dropped > 0 && producer.Outstanding <= producer.SpilledOnDisk, ct);
        Assert.Equal(0, producer.Rejected); // a disk failure is a drop, not a bad call
        Assert.Contains(logs.Lines, l => l.Level == LogLevel.Error && l.Message.StartsWith("spill write failed", StringComparison.Ordinal));
        // The folder comes back: the sender, still alive, spills again.
        File.Delete(own);
        Directory.CreateDirectory(own);
        var dropped = producer.Dropped;
        var spilled = producer.Spilled;
        for (var i = 0; i < 10; i++) tracker.Track(Call());
        await WaitAsync(() => producer.Spilled >= spilled + 10, ct);
        Assert.Equal(dropped, producer.Dropped);
        await host.StopAsync(ct); // and stopping does not throw either
    }

    private static async Task WaitAsync(Func<bool> condition, CancellationToken ct)
    {
        for (var i = 0; i < 300 && !condition(); i++) await Task.Delay(100, ct);
        Assert.True(condition(), "condition not met within 30 s");
    }

    [Fact]
    public async Task SameKeyTwice_AsUnderscoreAndDot_FailsNamingBoth()
    {
        using var host = Host(("Kafka:linger_ms", "5"), ("Kafka:linger.ms", "7"));
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains("linger_ms", ex.Message, StringComparison.Ordinal);
        Assert.Contains("linger.ms", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TwoHostsOnOneSpillDirectory_BothStart_EachInItsOwnSubfolder_NoCallFails()
    {
        var ct = TestContext.Current.CancellationToken;
        using var a = Host();
        using var b = Host();
        await a.StartAsync(ct);
        await b.StartAsync(ct);
        var pa = a.Services.GetRequiredService<LlmCallProducer>();
        var pb = b.Services.GetRequiredService<LlmCallProducer>();
        Assert.NotEqual(pa.SpillDirectory, pb.SpillDirectory);
        Assert.Equal(Path.GetFullPath(_spill), Path.GetDirectoryName(pa.SpillDirectory));
        for (var i = 0; i < 50; i++)
        {
            Assert.True(a.Services.GetRequiredService<ILlmCallTracker>().Track(Call()));
            Assert.True(b.Services.GetRequiredService<ILlmCallTracker>().Track(Call()));
        }
        await a.StopAsync(ct);
        await b.StopAsync(ct);
        Assert.Equal(0, pa.Rejected + pa.Dropped + pb.Rejected + pb.Dropped);
        // Nothing was delivered (no broker): all 100 are on disk, in two folders.
        Assert.Equal(100, Directory.GetFiles(_spill, "*.spill", SearchOption.AllDirectories).Sum(f => SpillStore.Read(f).Records.Count));
    }

    [Fact]
    public async Task LeftoverOfAStoppedProcess_IsTakenOverAtStart_WithoutAnyCall()
    {
        var ct = TestContext.Current.CancellationToken;
        using (var first = Host())
        {
            await first.StartAsync(ct);
            for (var i = 0; i < 30; i++) first.Services.GetRequiredService<ILlmCallTracker>().Track(Call());
            await first.StopAsync(ct);
        }
        using var second = Host();
        await second.StartAsync(ct); // no Track: the start alone finds the leftover
        var producer = second.Services.GetRequiredService<LlmCallProducer>();
        Assert.Equal(30, producer.SpilledOnDisk);
        Assert.True(producer.IsSpilling);
        Assert.Equal(30, producer.Outstanding);
        await second.StopAsync(ct);
    }

    [Fact]
    public async Task StartUp_LogsOneLineSayingWhereItSendsAndSpills()
    {
        var ct = TestContext.Current.CancellationToken;
        var logs = new CapturingLoggerProvider();
        using var host = Host(logs);
        await host.StartAsync(ct);
        var line = Assert.Single(logs.Lines, l => l.Message.StartsWith("Pipeline producer started", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Information, line.Level);
        Assert.Contains("topic llm.calls.v1 at 127.0.0.1:1", line.Message, StringComparison.Ordinal);
        Assert.Contains(Path.GetFullPath(_spill), line.Message, StringComparison.Ordinal);
        await host.StopAsync(ct);
    }

    [Fact]
    public async Task BrokerDown_RepeatedLibrdkafkaLines_CollapsedToOnePerInterval()
    {
        var ct = TestContext.Current.CancellationToken;
        var logs = new CapturingLoggerProvider();
        using var host = Host(logs, ("LogRepeatInterval", "00:00:02"), ("Kafka:reconnect.backoff.ms", "10"), ("Kafka:reconnect.backoff.max.ms", "50"));
        await host.StartAsync(ct);
        host.Services.GetRequiredService<ILlmCallTracker>().Track(Call());
        await Task.Delay(TimeSpan.FromSeconds(7), ct);
        await host.StopAsync(ct);
        var kafka = logs.Lines.Where(l => l.Message.StartsWith("librdkafka", StringComparison.Ordinal) && l.Level >= LogLevel.Warning).ToList();
        Assert.NotEmpty(kafka); // the broker is down, librdkafka says so
        // Reconnecting every 10-50 ms, librdkafka reports the refused connection dozens of times a second;
        // through the router each kind of line appears at most once per 2 s: 4 times in 7 s, plus one.
        foreach (var shape in kafka.GroupBy(l => new string(l.Message.Where(c => !char.IsAsciiDigit(c)).ToArray()).Split(" (")[0]))
        {
            Assert.InRange(shape.Count(), 1, 5);
        }
        // How many lines librdkafka itself repeats depends on its own suppression and the machine's load, so the
        // "N alike held back" count is checked on a fake clock below, not here.
    }

    [Fact]
    public void LogRouter_OnAFakeClock_LetsOneLinePerIntervalThrough_AndCountsTheRest()
    {
        var time = new FakeTimeProvider();
        var logs = new CapturingLoggerProvider();
        var router = new KafkaLogRouter(logs.CreateLogger("k"), time, TimeSpan.FromSeconds(2));
        for (var i = 0; i < 100; i++)
        {
            router.Log(LogLevel.Warning, "FAIL", $"127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after {i}ms in state CONNECT)");
            time.Advance(TimeSpan.FromMilliseconds(50)); // 5 s in all
        }
        router.Log(LogLevel.Warning, "REQTMOUT", "a different line");
        Assert.Equal(4, logs.Lines.Count); // at 0, 2 and 4 s, and the different line
        Assert.Contains("(39 alike held back since the last)", logs.Lines[1].Message, StringComparison.Ordinal);
        Assert.Equal(LogLevel.Warning, KafkaLogRouter.LevelOf(Confluent.Kafka.SyslogLevel.Error));
        Assert.Equal(LogLevel.Debug, KafkaLogRouter.LevelOf(Confluent.Kafka.SyslogLevel.Debug));
    }

    [Fact]
    public async Task EveryCounter_IsReportedFromZero_AndDefaultsFilledIn_AreNotCountedAsClamped()
    {
        var ct = TestContext.Current.CancellationToken;
        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == ProducerMetrics.MeterName && i.Name.StartsWith("pipeline.producer.events.", StringComparison.Ordinal)) l.EnableMeasurementEvents(i);
        };
        listener.SetMeasurementEventCallback<long>((i, v, _, _) =>
        {
            lock (seen) seen[i.Name] = seen.GetValueOrDefault(i.Name) + v;
        });
        listener.Start();
        await using var producer = new LlmCallProducer(new ProducerOptions { BootstrapServers = "127.0.0.1:1", SpillDirectory = _spill, DefaultEnvironment = "prod", DrainTimeout = TimeSpan.Zero });
        lock (seen)
        {
            foreach (var name in new[] { "accepted", "sent", "spilled", "replayed", "dropped", "rejected", "clamped", "failed", "sampled_out" })
            {
                Assert.True(seen.ContainsKey("pipeline.producer.events." + name), name + " was not reported from zero");
            }
        }
        Assert.True(producer.Track(Call() with { Environment = "", Service = "", EventId = Guid.Empty }));
        Assert.True(producer.Track(Call() with { QualityScore = 7 }));
        Assert.Equal(2, producer.Accepted);
        Assert.Equal(1, producer.Clamped); // the quality score, not the filled-in environment, service and id
        lock (seen) Assert.Equal(1, seen["pipeline.producer.events.clamped"]);
    }

    [Fact]
    public async Task HealthCheck_IsDegradedWhileSpilling()
    {
        var ct = TestContext.Current.CancellationToken;
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(Settings([]));
        builder.Services.AddPipelineProducer(builder.Configuration);
        builder.Services.AddHealthChecks().AddPipelineProducer();
        using var host = builder.Build();
        await host.StartAsync(ct);
        host.Services.GetRequiredService<ILlmCallTracker>().Track(Call());
        var health = host.Services.GetRequiredService<HealthCheckService>();
        HealthReport report;
        var deadline = TimeProvider.System.GetTimestamp();
        do
        {
            report = await health.CheckHealthAsync(ct);
            if (report.Status == HealthStatus.Degraded) break;
            await Task.Delay(200, ct);
        }
        while (TimeProvider.System.GetElapsedTime(deadline) < TimeSpan.FromSeconds(60));
        Assert.Equal(HealthStatus.Degraded, report.Status);
        Assert.Contains("disk spill", report.Entries["pipeline-producer"].Description, StringComparison.Ordinal);
        await host.StopAsync(ct);
    }

    [Fact]
    public void StartCall_OnAnyTracker_RecordsTheExceptionThatLeftTheScope_AndTheCurrentTraceId()
    {
        var tracker = new Recording();
        using var activity = new Activity("request").SetIdFormat(ActivityIdFormat.W3C).Start();
        try
        {
            using var call = tracker.StartCall("rag_answer", "1.4", "gpt-4o", "openai");
            throw new HttpRequestException("Too Many Requests", null, HttpStatusCode.TooManyRequests);
        }
        catch (HttpRequestException)
        {
        }
        var recorded = Assert.Single(tracker.Calls);
        Assert.Equal(Outcome.Error, recorded.Outcome);
        Assert.Equal(ErrorType.RateLimited, recorded.ErrorType);
        Assert.Equal(429, recorded.HttpStatus);
        Assert.Equal(activity.TraceId.ToHexString(), recorded.TraceId);
    }

    [Fact]
    public async Task StartCall_AnExceptionCaughtElsewhere_DoesNotLeakIntoAnotherScope()
    {
        var tracker = new Recording();
        // An exception outside any scope, then a scope that ends without an outcome: "other", not that exception.
        try
        {
            throw new TimeoutException("unrelated");
        }
        catch (TimeoutException)
        {
        }
        await Task.Run(() =>
        {
            using var call = tracker.StartCall("p", "1", "m", "openai");
        }, TestContext.Current.CancellationToken);
        using (var ok = tracker.StartCall("p", "1", "m", "openai")) ok.Succeed(10, 5);
        Assert.Equal(ErrorType.Other, tracker.Calls[0].ErrorType);
        Assert.Equal(Outcome.Success, tracker.Calls[1].Outcome);
        Assert.Null(tracker.Calls[1].ErrorType);
    }

    [Fact]
    public void UnreachableRegistry_DoesNotFailStart_EventsWaitOnDisk()
    {
        using var producer = new LlmCallProducer(new ProducerOptions
        {
            BootstrapServers = "127.0.0.1:1", SpillDirectory = _spill, SchemaRegistryUrl = "http://127.0.0.1:1", DrainTimeout = TimeSpan.Zero,
        });
        Assert.Equal(0, producer.SchemaId);
        Assert.True(producer.IsSpilling);
        Assert.True(producer.Track(Call()));
    }

    private IHost Host(params (string Key, string Value)[] settings) => Host(null, settings);

    private IHost Host(CapturingLoggerProvider? logs, params (string Key, string Value)[] settings)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        if (logs is not null) builder.Logging.AddProvider(logs);
        builder.Configuration.AddInMemoryCollection(Settings(settings));
        builder.Services.AddPipelineProducer(builder.Configuration);
        return builder.Build();
    }

    private Dictionary<string, string?> Settings((string Key, string Value)[] settings)
    {
        var all = new Dictionary<string, string?>
        {
            ["Pipeline:Producer:BootstrapServers"] = "127.0.0.1:1",
            ["Pipeline:Producer:SpillDirectory"] = _spill,
            ["Pipeline:Producer:DeliveryTimeout"] = "00:00:01",
            ["Pipeline:Producer:DrainTimeout"] = "00:00:00",
        };
        foreach (var (k, v) in settings) all["Pipeline:Producer:" + k] = v;
        return all;
    }

    private static LlmCall Call() => Samples.MinimalCall() with { EventId = Guid.NewGuid(), OccurredAt = TimeProvider.System.GetUtcNow() };

    private sealed class Recording : ILlmCallTracker
    {
        public List<LlmCall> Calls { get; } = [];
        public bool Track(LlmCall llmCall)
        {
            Calls.Add(llmCall);
            return true;
        }
    }
}

/// <summary>Every log line written through the loggers it creates.</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly List<(LogLevel Level, string Message)> _lines = [];

    public IReadOnlyList<(LogLevel Level, string Message)> Lines
    {
        get
        {
            lock (_lines) return _lines.ToList();
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (owner._lines) owner._lines.Add((logLevel, formatter(state, exception)));
        }
    }
}
