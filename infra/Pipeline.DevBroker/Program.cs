using System.Runtime.InteropServices;
using Pipeline.DevServers;

const string Banner = """
    Pipeline dev broker: FOR DEVELOPMENT AND TESTS ONLY, NOT FOR PRODUCTION.
    It runs librdkafka's mock Kafka cluster: no durability, no replication, and each partition
    keeps only about 5 MiB (older records are silently dropped). Use real Apache Kafka
    (infra/docker-compose.yml) for anything that matters.
    """;

const string Help = Banner + """

    Usage: Pipeline.DevBroker [--run-dir DIR] [--brokers N] [--topic NAME:PARTITIONS ...]

      --run-dir DIR     where to write 'bootstrap', 'control.port' and 'pid' (default .run/broker)
      --brokers N       number of mock brokers (default 1)
      --topic T:P       an extra topic to create at start (repeatable); the pipeline's topics are always created

    Control channel: one line per command on TCP 127.0.0.1:<control.port>, one line back ('ok ...' or 'error ...'):
      ping | status | create-topic NAME PARTITIONS | down ID|all | up ID|all | rtt ID|all MS
      errors API_KEY COUNT ERROR_CODE | clear-errors API_KEY | shutdown

    Normally started by './pipeline up' and stopped by './pipeline down'.
    """;

var runDir = Path.GetFullPath(".run/broker");
var brokers = 1;
var topics = new List<(string Name, int Partitions)>();
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "-h" or "--help":
            Console.WriteLine(Help);
            return 0;
        case "--run-dir" when i + 1 < args.Length:
            runDir = Path.GetFullPath(args[++i]);
            break;
        case "--brokers" when i + 1 < args.Length && int.TryParse(args[i + 1], out var n) && n is > 0 and < 16:
            brokers = n;
            i++;
            break;
        case "--topic" when i + 1 < args.Length && ParseTopic(args[i + 1]) is { } t:
            topics.Add(t);
            i++;
            break;
        default:
            Console.Error.WriteLine($"error: unknown or invalid argument '{args[i]}' (see --help)");
            return 2;
    }
}

Console.Error.WriteLine(Banner);
await using var host = DevBrokerHost.Start(brokers, runDir, topics);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; host.RequestStop(); });
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; host.RequestStop(); });
Console.Error.WriteLine($"dev broker up: bootstrap {host.Bootstrap}, control 127.0.0.1:{host.ControlPort}, run dir {runDir}");
await host.Stopped;
Console.Error.WriteLine("dev broker stopping");
return 0;

static (string, int)? ParseTopic(string spec)
{
    var parts = spec.Split(':');
    return parts.Length == 2 && parts[0].Length > 0 && int.TryParse(parts[1], out var p) && p > 0 ? (parts[0], p) : null;
}
