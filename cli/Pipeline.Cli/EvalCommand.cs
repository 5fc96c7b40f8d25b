using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Pipeline.DevServers;
using Pipeline.Schemas;

namespace Pipeline.Cli;

/// <summary>
/// <c>pipeline eval</c>: plays the evaluation suite through the real pipeline and prints how the alert rules
/// in force do: incidents caught, by which rule, how fast, and false alerts per 1,000 series-hours.
/// </summary>
internal static class EvalCommand
{
    private static readonly string[] WorstCases = ["latency +20%", "quality -5%"];
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
    private static readonly Option<string> Seeds = new("--seeds") { Description = "Seeds to run, comma-separated (each a full run)", DefaultValueFactory = _ => "1,2,3" };
    private static readonly Option<int> Days = new("--days") { Description = "Days of steady traffic before the incidents (1 to 14)", DefaultValueFactory = _ => 3 };
    private static readonly Option<int> Series = new("--series") { Description = "Series in all, incident series included (13 to 500)", DefaultValueFactory = _ => 50 };
    private static readonly Option<bool> ShortSuite = new("--short") { Description = "The CI version: an hour of steady traffic over 5 series and three incidents (ignores --days and --series)" };
    private static readonly Option<string?> Json = new("--json") { Description = "Also write the results, machine-readable, to this file" };
    private static readonly Option<bool> Keep = new("--keep") { Description = "Keep each seed's database (<ClickHouse:Database>_eval_<run>_s<seed>) instead of dropping it" };

    public static Command Create()
    {
        var command = new Command("eval", """
            Play the evaluation suite through the real pipeline (load generator -> broker -> aggregator -> alert
            worker -> ClickHouse, the default rules only) and print one table: each incident, whether it was caught
            and by which rule, the detection delay in minutes (event time, after the end of its first affected
            minute), and false alerts per 1,000 series-hours. Days of steady, day-shaped traffic (1% late, 0.5%
            duplicated) come first, then the incidents on the same series' timeline. Each seed runs in a database
            of its own, dropped afterwards. Exit code 1 when a run does not reconcile (calls FINAL differs from the
            events produced). Terms and the latest results: docs/detection.md.

            Examples:
              pipeline eval                       # the whole suite: 3 days x 50 series, seeds 1,2,3 (about 45 minutes on 2 cores)
              pipeline eval --days 1              # what make eval runs (about 18 minutes on 2 cores)
              pipeline eval --short --seeds 1     # the CI version, about 30 seconds
              pipeline eval --days 1 --series 20 --json eval.json
            """);
        command.Options.Add(Seeds);
        command.Options.Add(Days);
        command.Options.Add(Series);
        command.Options.Add(ShortSuite);
        command.Options.Add(Json);
        command.Options.Add(Keep);
        CommandRunner.SetHandler(command, async (config, parse, ct) =>
        {
            var seeds = new List<int>();
            foreach (var part in parse.GetValue(Seeds)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed))
                {
                    await Console.Error.WriteLineAsync($"error: --seeds: '{part}' is not a number");
                    return ExitCodes.Usage;
                }
                seeds.Add(seed);
            }
            var (days, series) = (parse.GetValue(Days), parse.GetValue(Series));
            if (seeds.Count == 0 || days is < 1 or > 14 || series is < 13 or > 500)
            {
                await Console.Error.WriteLineAsync("error: --seeds needs at least one seed, --days 1 to 14, --series 13 to 500");
                return ExitCodes.Usage;
            }
            await SmokeCommand.RequireServersAsync(config, ct);
            var suite = parse.GetValue(ShortSuite) ? EvalSuite.Short() : EvalSuite.Full(days, series);
            var time = TimeProvider.System;
            var runId = time.GetUtcNow().ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
            var topics = await CreateTopicsAsync(config, runId, ct);
            var now = time.GetUtcNow();
            var end = suite.EndAtOrBefore(new DateTimeOffset(now.UtcTicks - now.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero).AddMinutes(-2));
            foreach (var line in suite.Describe(end.AddMinutes(-suite.Minutes)))
            {
                Console.WriteLine(line);
            }
            Console.WriteLine($"seeds {string.Join(",", seeds)}; default rules only; ClickHouse {SecretMask.MaskUrl(config.ClickHouse.Url)} database {config.ClickHouse.Database}_eval_{runId}_s<seed>; topics eval.{runId}.*");
            var runner = new EvalRunner(config.Kafka, config.ClickHouse, topics, Console.Error) { KeepDatabase = parse.GetValue(Keep), AggregatorBase = config.Aggregator };
            var runs = new List<EvalRun>();
            try
            {
                foreach (var seed in seeds)
                {
                    var run = await runner.RunAsync(suite, seed, end, runId, ct);
                    runs.Add(run);
                    Console.WriteLine(RunLine(run));
                }
            }
            catch (EvalFailedException ex)
            {
                await Console.Error.WriteLineAsync($"error: eval seed {seeds[runs.Count]}: {ex.Message}");
                return ExitCodes.Failed;
            }
            Console.Write(Table(suite, runs));
            if (parse.GetValue(Json) is { } path)
            {
                await File.WriteAllTextAsync(path, ToJson(suite, runs), ct);
                Console.WriteLine($"results written to {path}");
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    internal static string RunLine(EvalRun r) => string.Create(CultureInfo.InvariantCulture,
        $"seed {r.Seed}: {r.Sent:N0} calls sent ({r.Distinct:N0} distinct, {r.Sent - r.Distinct:N0} duplicates), calls FINAL {r.CallsFinal:N0}; {r.PlannedLate:N0} sent late, {r.AggregatorLate:N0} late by the aggregator; "
        + $"unconsumed at most {r.MaxUnconsumedCalls:N0} calls and {r.MaxUnconsumedWindows:N0} windows of at most {r.MaxWindowBytes:N0} bytes (each under 2 MiB in all); {r.WindowsEvaluated:N0} windows evaluated; {r.Elapsed.TotalMinutes:0.0} min");

    /// <summary>The table, then the summary lines (the last lines of the output).</summary>
    internal static string Table(EvalSuite suite, IReadOnlyList<EvalRun> runs)
    {
        var b = new StringBuilder();
        var seeds = string.Join(",", runs.Select(r => r.Seed));
        b.AppendLine(CultureInfo.InvariantCulture, $"| incident | series | caught (seeds {seeds}) | by rule | delay, min (seeds {seeds}) | note |");
        b.AppendLine("|---|---|---|---|---|---|");
        foreach (var (incident, k) in suite.Incidents.Select((i, k) => (i, k)))
        {
            var s = suite.Streams[incident.Stream];
            var outcomes = runs.Select(r => r.Score.Incidents[k]).ToList();
            var caught = outcomes.Count(o => o.Caught);
            var rules = string.Join(", ", outcomes.Where(o => o.Caught).Select(o => o.Rule).Distinct());
            var delays = string.Join(", ", outcomes.Select(o => o.DelayMinutes is { } d ? d.ToString("0", CultureInfo.InvariantCulture) : "-"));
            var notes = new List<string>();
            var unrelated = outcomes.Count(o => o.Caught && !o.ByRelatedMetric);
            if (unrelated > 0) notes.Add($"in {unrelated} of {outcomes.Count} seeds the first FIRING in its span was on another metric (noise, not a detection of this change)");
            if (caught < outcomes.Count) notes.Add(incident.AwaitsIssue14 ? "expected to be caught once issue 14's detectors land" : $"missed in {outcomes.Count - caught} of {outcomes.Count} seeds");
            var note = string.Join("; ", notes);
            b.AppendLine(CultureInfo.InvariantCulture, $"| {incident.Id} | {s.PromptName}@{s.PromptVersion} | {(caught == 0 ? "no" : "yes")} ({caught}/{outcomes.Count}) | {(rules.Length == 0 ? "-" : rules)} | {delays} | {note} |");
        }
        foreach (var r in runs)
        {
            var byRule = string.Join(", ", r.Score.FalseAlerts.GroupBy(a => a.RuleId).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} {g.Count()}"));
            b.AppendLine(CultureInfo.InvariantCulture, $"| false alerts, seed {r.Seed} | all series | {r.Score.FalseAlerts.Count} in {r.Score.SteadySeriesHours:N0} series-hours | {(byRule.Length == 0 ? "-" : byRule)} | | {r.Score.FalseAlertsPer1000SeriesHours:0.00} per 1,000 series-hours |");
        }
        var all = runs.SelectMany(r => r.Score.Incidents).ToList();
        var delaysCaught = all.Where(o => o.DelayMinutes is not null).Select(o => o.DelayMinutes!.Value).Order().ToList();
        var falseAlerts = runs.Sum(r => r.Score.FalseAlerts.Count);
        var hours = runs.Sum(r => r.Score.SteadySeriesHours);
        b.AppendLine(CultureInfo.InvariantCulture, $"incidents caught {all.Count(o => o.Caught)} of {all.Count} ({suite.Incidents.Count} incidents x {runs.Count} seeds)");
        b.AppendLine(CultureInfo.InvariantCulture, $"median detection delay: {(delaysCaught.Count == 0 ? "-" : Median(delaysCaught).ToString("0.#", CultureInfo.InvariantCulture) + " min")}");
        foreach (var id in WorstCases.Where(id => suite.Incidents.Any(i => i.Id == id)))
        {
            var cases = all.Where(o => o.Id == id).ToList();
            var worst = cases.All(o => o.Caught) ? cases.Max(o => o.DelayMinutes!.Value).ToString("0", CultureInfo.InvariantCulture) + " min" : $"not caught in {cases.Count(o => !o.Caught)} of {cases.Count} seeds";
            b.AppendLine(CultureInfo.InvariantCulture, $"worst delay, {id}: {worst}");
        }
        b.AppendLine(CultureInfo.InvariantCulture, $"false alerts per 1,000 series-hours: {(hours <= 0 ? 0 : falseAlerts * 1000 / hours):0.00} ({falseAlerts} in {hours:N0} series-hours)");
        return b.ToString();
    }

    private static double Median(List<double> sorted) => sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;

    internal static string ToJson(EvalSuite suite, IReadOnlyList<EvalRun> runs) => JsonSerializer.Serialize(new
    {
        suite = suite.Name,
        series = suite.Streams.Count,
        steady_minutes = suite.SteadyMinutes,
        incident_minutes = suite.IncidentMinutes,
        late_fraction = suite.LateFraction,
        duplicate_fraction = suite.DuplicateFraction,
        runs = runs.Select(r => new
        {
            seed = r.Seed,
            start = r.Start,
            sent = r.Sent,
            distinct = r.Distinct,
            calls_final = r.CallsFinal,
            late_sent = r.PlannedLate,
            late_counted = r.AggregatorLate,
            max_unconsumed_calls = r.MaxUnconsumedCalls,
            max_unconsumed_windows = r.MaxUnconsumedWindows,
            elapsed_s = r.Elapsed.TotalSeconds,
            incidents = r.Score.Incidents.Select(o => new { id = o.Id, caught = o.Caught, rule = o.Rule, delay_min = o.DelayMinutes, by_related_metric = o.ByRelatedMetric, awaits_issue_14 = suite.Incidents.Single(i => i.Id == o.Id).AwaitsIssue14 }),
            false_alerts = r.Score.FalseAlerts.Select(a => new { rule = a.RuleId, metric = a.Metric, series = $"{a.PromptName}@{a.PromptVersion}", window_end = a.WindowEnd }),
            steady_series_hours = r.Score.SteadySeriesHours,
            false_alerts_per_1000_series_hours = r.Score.FalseAlertsPer1000SeriesHours,
        }),
    }, Indented);

    /// <summary>Fresh topics for this invocation: through the dev broker's control channel when Kafka is the dev broker (it has no admin API), else CreateTopics.</summary>
    private static async Task<EvalTopics> CreateTopicsAsync(PipelineConfig config, string runId, CancellationToken ct)
    {
        var topics = new EvalTopics($"eval.{runId}.calls", $"eval.{runId}.dlq", $"eval.{runId}.metrics", $"eval.{runId}.alerts");
        var specs = new[] { (topics.Calls, 12), (topics.DeadLetters, 3), (topics.Metrics, 6), (topics.Alerts, 3) };
        var portFile = Path.Combine(config.BrokerRunDir, "control.port");
        if (config.KafkaFromDevBroker && File.Exists(portFile))
        {
            var port = int.Parse((await File.ReadAllTextAsync(portFile, ct)).Trim(), CultureInfo.InvariantCulture);
            foreach (var (name, partitions) in specs)
            {
                var reply = await DevBrokerControl.SendAsync(port, string.Create(CultureInfo.InvariantCulture, $"create-topic {name} {partitions}"), ct);
                if (!reply.StartsWith("ok", StringComparison.Ordinal)) throw new ServerUnavailableException($"the dev broker did not create {name}: {reply}");
            }
            return topics;
        }
        using var admin = new AdminClientBuilder(new AdminClientConfig(config.Kafka.All.ToDictionary())).SetLogHandler((_, _) => { }).Build();
        await admin.CreateTopicsAsync(specs.Select(s => new TopicSpecification { Name = s.Item1, NumPartitions = s.Item2, ReplicationFactor = 1 }));
        ct.ThrowIfCancellationRequested();
        return topics;
    }
}
