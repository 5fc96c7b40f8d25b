using System.CommandLine;
using Pipeline.LoadGen;
using Pipeline.Producers;

namespace Pipeline.Cli;

/// <summary><c>pipeline loadgen</c>: realistic traffic and incident scenarios.</summary>
internal static class LoadGenCommand
{
    private static readonly Option<string> ScenarioName = new("--scenario")
    {
        Description = "steady, release-regression, provider-outage, traffic-spike or cost-jump",
        DefaultValueFactory = _ => "release-regression",
    };
    private static readonly Option<TimeSpan> EndAgo = new("--end-ago")
    {
        Description = "Event time of the scenario's end, this long before now (the scenario's minutes are laid out before it)",
        DefaultValueFactory = _ => TimeSpan.FromMinutes(2),
    };
    private static readonly Option<int> Seed = new("--seed") { Description = "Random seed (same seed, same events)", DefaultValueFactory = _ => 42 };
    private static readonly Option<bool> List = new("--list") { Description = "List the scenarios and exit" };

    public static Command Create()
    {
        var command = new Command("loadgen", """
            Publish a scenario's calls to llm.calls.v1 through the SDK, as fast as the broker takes them, with
            event times laid out over the scenario's minutes (a 90-minute day replays in seconds).

            Examples:
              pipeline loadgen --list
              pipeline loadgen --scenario release-regression
              pipeline loadgen --scenario steady --end-ago 00:10:00 --seed 7
            """);
        command.Options.Add(ScenarioName);
        command.Options.Add(EndAgo);
        command.Options.Add(Seed);
        command.Options.Add(List);
        CommandRunner.SetHandler(command, async (config, parse, ct) =>
        {
            if (parse.GetValue(List))
            {
                foreach (var s in Scenario.All.Values)
                {
                    Console.WriteLine($"{s.Name,-20} {s.Minutes} min  {s.Description}");
                }
                return ExitCodes.Ok;
            }
            var name = parse.GetValue(ScenarioName)!;
            if (!Scenario.All.TryGetValue(name, out var scenario))
            {
                await Console.Error.WriteLineAsync($"error: --scenario: unknown scenario '{Terminal.Plain(name)}' (known: {string.Join(", ", Scenario.All.Keys)})");
                return ExitCodes.Usage;
            }
            await SmokeCommand.RequireServersAsync(config, ct);
            var produced = Produce(config, scenario, TimeProvider.System.GetUtcNow() - parse.GetValue(EndAgo), parse.GetValue(Seed));
            Console.WriteLine($"loadgen: {produced} calls of scenario '{scenario.Name}' ({scenario.Description}) published to {config.Aggregator.Topic}");
            return ExitCodes.Ok;
        });
        return command;
    }

    public static long Produce(PipelineConfig config, Scenario scenario, DateTimeOffset end, int seed)
    {
        using var producer = new LlmCallProducer(config.Kafka.All, config.Aggregator.Topic);
        long n = 0;
        foreach (var call in scenario.Generate(end, seed))
        {
            producer.Track(call);
            n++;
        }
        if (producer.Flush(TimeSpan.FromMinutes(2)) > 0 || producer.Delivered < n)
        {
            throw new ServerUnavailableException($"Kafka at {config.Kafka.BootstrapServers} acknowledged {producer.Delivered} of {n} calls");
        }
        return n;
    }
}
