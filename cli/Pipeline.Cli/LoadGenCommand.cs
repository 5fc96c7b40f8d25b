using System.CommandLine;
using Pipeline.LoadGen;
using Pipeline.Producers;
using Pipeline.Schemas;

namespace Pipeline.Cli;

/// <summary><c>pipeline loadgen</c>: realistic traffic and incident scenarios.</summary>
internal static class LoadGenCommand
{
    private static readonly Option<string> ScenarioName = new("--scenario")
    {
        Description = "A built-in scenario (see --list) or the path of a scenario file (YAML or JSON)",
        DefaultValueFactory = _ => "release-regression",
    };
    private static readonly Option<TimeSpan> EndAgo = DurationFlag.Create("--end-ago",
        "Event time of the scenario's end, this long before now (the scenario's minutes are laid out before it)", TimeSpan.FromMinutes(2));
    private static readonly Option<int> Seed = new("--seed") { Description = "Random seed: the same seed over the same minutes gives the same events, event ids included", DefaultValueFactory = _ => 42 };
    private static readonly Option<bool> List = new("--list") { Description = "List the scenarios and exit" };
    private static readonly Option<double> Rate = new("--rate") { Description = "Most calls published per second (0: as fast as the broker takes them)", DefaultValueFactory = _ => 0 };
    private static readonly Option<long> Events = new("--events") { Description = "Stop after this many calls (0: the whole scenario)", DefaultValueFactory = _ => 0 };
    private static readonly Option<TimeSpan?> Duration = DurationFlag.CreateOptional("--duration",
        "Event-time span of the scenario, overriding its minutes (cuts it, or runs its last phase longer); at least 1m");

    public static Command Create()
    {
        var command = new Command("loadgen", """
            Publish a scenario's calls to llm.calls.v1 through the SDK, as fast as the broker takes them, with
            event times laid out over the scenario's minutes (a 90-minute day replays in seconds).

            Examples:
              pipeline loadgen --list
              pipeline loadgen --scenario release-regression
              pipeline loadgen --scenario steady --end-ago 10m --seed 7
              pipeline loadgen --scenario producers/Pipeline.LoadGen/scenarios/busy-day.yaml --duration 2h --rate 2000
              pipeline loadgen --scenario steady --events 10000
            """);
        command.Options.Add(ScenarioName);
        command.Options.Add(EndAgo);
        command.Options.Add(Seed);
        command.Options.Add(List);
        command.Options.Add(Rate);
        command.Options.Add(Events);
        command.Options.Add(Duration);
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
            Scenario scenario;
            try
            {
                scenario = Scenario.Resolve(name);
            }
            catch (ScenarioFileException ex)
            {
                await Console.Error.WriteLineAsync($"error: --scenario: {Terminal.Plain(ex.Message)}");
                return ExitCodes.Usage;
            }
            if (parse.GetValue(Duration) is { } duration)
            {
                if (duration < TimeSpan.FromMinutes(1))
                {
                    await Console.Error.WriteLineAsync($"error: --duration: {Durations.Format(duration)} is shorter than 1m");
                    return ExitCodes.Usage;
                }
                scenario = scenario.WithMinutes((int)Math.Ceiling(duration.TotalMinutes));
            }
            if (parse.GetValue(Rate) < 0 || parse.GetValue(Events) < 0)
            {
                await Console.Error.WriteLineAsync("error: --rate and --events must not be negative");
                return ExitCodes.Usage;
            }
            await SmokeCommand.RequireServersAsync(config, ct);
            var produced = await ProduceAsync(config, scenario, TimeProvider.System.GetUtcNow() - parse.GetValue(EndAgo), parse.GetValue(Seed),
                parse.GetValue(Rate), parse.GetValue(Events), Console.Error, ct);
            Console.WriteLine($"loadgen: {produced} calls of scenario '{scenario.Name}' ({scenario.Description}) published to {config.Aggregator.Topic}");
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Task<long> ProduceAsync(PipelineConfig config, Scenario scenario, DateTimeOffset end, int seed, CancellationToken ct) =>
        ProduceAsync(config, scenario, end, seed, rate: 0, limit: 0, progress: null, ct);

    /// <summary>Publishes the scenario, at most <paramref name="rate"/> calls a second, reporting progress every second.</summary>
    public static async Task<long> ProduceAsync(PipelineConfig config, Scenario scenario, DateTimeOffset end, int seed, double rate, long limit, TextWriter? progress, CancellationToken ct)
    {
        var time = TimeProvider.System;
        await using var producer = new LlmCallProducer(config.Kafka.All, config.Aggregator.Topic);
        var start = time.GetTimestamp();
        var lastReport = start;
        long n = 0;
        foreach (var call in scenario.Generate(end, seed))
        {
            if (limit > 0 && n >= limit || ct.IsCancellationRequested) break;
            producer.Track(call);
            n++;
            if (rate > 0)
            {
                // Pace against the schedule, not the previous call, so short stalls are made up.
                var ahead = TimeSpan.FromSeconds(n / rate) - time.GetElapsedTime(start);
                if (ahead > TimeSpan.FromMilliseconds(5)) await Task.Delay(ahead, time, ct).ConfigureAwait(false);
            }
            if (progress is not null && (n & 1023) == 0 && time.GetElapsedTime(lastReport) >= TimeSpan.FromSeconds(1))
            {
                lastReport = time.GetTimestamp();
                var seconds = time.GetElapsedTime(start).TotalSeconds;
                progress.WriteLine(FormattableString.Invariant($"loadgen: {n:N0} calls, {n / seconds:N0}/s, event time {call.OccurredAt:HH:mm}, delivered {producer.Delivered:N0}"));
            }
        }
        if (await producer.FlushAsync(TimeSpan.FromMinutes(2), ct).ConfigureAwait(false) > 0 || producer.Delivered < n)
        {
            throw new ServerUnavailableException($"Kafka at {config.Kafka.BootstrapServers} acknowledged {producer.Delivered} of {n} calls");
        }
        return n;
    }
}
