using System.Security.Cryptography;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Consumers;

namespace Pipeline.IntegrationTests;

/// <summary>
/// A bad record too large for the DLQ, alone on an otherwise idle partition (found from outside: it was
/// committed past before its dead letter was delivered, and vanished): a stub with its size and hash lands on
/// the DLQ before the offset moves.
/// </summary>
public sealed class DeadLetterStubTests(ServersFixture servers)
{
    [Fact]
    public async Task OversizedBadRecordAlone_StubOnDlqBeforeCommit()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var topic = await servers.NewTopicAsync("huge", 1, ct);
        var dlq = await servers.NewTopicAsync("dlq", 1, ct);
        var huge = new byte[1_500_000];
        new Random(3).NextBytes(huge);
        huge[0] = 0; huge[1] = 0; huge[2] = 0; huge[3] = 0; huge[4] = 1;
        var config = servers.Kafka.Producer();
        config.MessageMaxBytes = 5_000_000;
        using (var producer = new ProducerBuilder<byte[]?, byte[]?>(config).Build())
        {
            await producer.ProduceAsync(topic, new Message<byte[]?, byte[]?> { Key = "k"u8.ToArray(), Value = huge }, ct);
        }
        var options = new AggregatorOptions
        {
            Topic = topic, GroupId = "g-" + topic, DeadLetterTopic = dlq, MetricsTopic = await servers.NewTopicAsync("metrics", 1, ct),
            FlushInterval = TimeSpan.FromMilliseconds(200),
        };
        using var worker = new AggregatorWorker(servers.Kafka, clickHouse, options, TimeProvider.System, NullLogger.Instance);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = Task.Factory.StartNew(() => worker.RunAsync(stop.Token), TaskCreationOptions.LongRunning).Unwrap();
        using var committed = new ConsumerBuilder<byte[]?, byte[]?>(servers.Kafka.Consumer("g-" + topic)).Build();
        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(60);
        while (committed.Committed([new TopicPartition(topic, 0)], TimeSpan.FromSeconds(5)).Single().Offset.Value < 1)
        {
            Assert.True(TimeProvider.System.GetUtcNow() < deadline, "the offset was never committed");
            await Task.Delay(200, ct);
        }
        // Committed: the stub must already be on the DLQ (read without waiting for more).
        using var reader = new ConsumerBuilder<byte[]?, byte[]?>(servers.Kafka.Consumer("read-" + Guid.NewGuid().ToString("N"))).Build();
        reader.Assign(new TopicPartitionOffset(dlq, 0, Offset.Beginning));
        var m = reader.Consume(TimeSpan.FromSeconds(10));
        Assert.NotNull(m);
        Assert.Null(m.Message.Value);
        Assert.True(m.Message.Headers.TryGetLastBytes(AggregatorWorker.StubHeader, out var stub));
        var text = Encoding.UTF8.GetString(stub);
        Assert.Contains($"size={huge.Length}", text, StringComparison.Ordinal);
        Assert.Contains(Convert.ToHexStringLower(SHA256.HashData(huge)), text, StringComparison.Ordinal);
        Assert.True(m.Message.Headers.TryGetLastBytes(AggregatorWorker.SourceHeader, out var source));
        Assert.Equal($"{topic}/0/0", Encoding.UTF8.GetString(source));
        await stop.CancelAsync();
        await run;

        // What an operator sees: the stub labelled as one, with the original's size and hash, never "0 B".
        var home = Directory.CreateTempSubdirectory("pipeline-dlq-stub-").FullName;
        try
        {
            string[] settings = ["--set", $"Kafka:bootstrap.servers={servers.Bootstrap}", "--set", $"Aggregator:DeadLetterTopic={dlq}",
                "--set", $"Aggregator:Topic={topic}", "--set", $"Local:RunDir={home}"];
            var shown = await PipelineProcess.RunAsync(["dlq", "show", .. settings], home);
            Assert.Equal(0, shown.ExitCode);
            var line = Assert.Single(shown.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains($"STUB (original not kept: size={huge.Length} sha256=", line, StringComparison.Ordinal);
            Assert.DoesNotContain(" 0 B", line, StringComparison.Ordinal);
            var json = await PipelineProcess.RunAsync(["dlq", "show", "--json", .. settings], home);
            using var doc = System.Text.Json.JsonDocument.Parse(json.Stdout);
            Assert.Contains(Convert.ToHexStringLower(SHA256.HashData(huge)), doc.RootElement.GetProperty("stub").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }
}
