using System.CommandLine;
using System.Diagnostics.Metrics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pipeline.Cli.Hosting;
using Pipeline.ClickHouse;
using Pipeline.Consumers;
using Pipeline.Schemas;

namespace Pipeline.Cli;

/// <summary><c>pipeline alert</c> (the worker) and <c>pipeline alerts tail|list|show|ack|silence|silences|unsilence</c>.</summary>
internal static class AlertCommands
{
    private static readonly Option<string?> Rules = new("--rules") { Description = "A YAML rule file (default: Alerting:RulesFile, else the built-in rules)" };
    private static readonly Option<bool> FromBeginning = new("--from-beginning") { Description = "Print the alerts already on the topic too" };
    private static readonly Option<TimeSpan?> ExitWhenIdle = DurationFlag.CreateOptional("--exit-when-idle", "Stop after this long without a new alert (for scripts)");
    private static readonly Option<bool> Json = new("--json") { Description = "One JSON object per alert" };
    private static readonly Option<string?> By = new("--by") { Description = "Who does it (default: the login name)" };
    private static readonly Option<string?> Note = new("--note") { Description = "Why, or what is being done about it" };
    private static readonly Option<string?> Reason = new("--reason") { Description = "Why the series is silenced" };
    private static readonly Option<string> Match = new("--match")
    {
        Description = "Which alerts: prompt=NAME,version=VERSION, optionally environment=, service=, model=, rule= (exact matches)",
        Required = true,
    };
    private static readonly Option<TimeSpan?> For = DurationFlag.CreateOptional("--for", $"How long, at most {Durations.Format(SuppressionStore.MaxSilence)}");
    private static readonly Option<bool> All = new("--all") { Description = "Include silences that have ended" };
    private static readonly Argument<string> AlertId = new("ALERT_ID") { Description = "The incident's alert_id (pipeline alerts list --json)" };
    private static readonly Argument<string> SilenceId = new("SILENCE_ID") { Description = "The id 'pipeline alerts silence' printed (pipeline alerts silences)" };

    public static Command Worker()
    {
        var command = new Command("alert", """
            Run the alert worker: reads closed windows from llm.metrics.1m.v1, evaluates the rules (rolling
            windows against baselines or thresholds), and publishes FIRING/RESOLVED records to llm.alerts.v1
            and the ClickHouse 'alerts' table. Rebuilds open incidents from ClickHouse on start. Settings under
            Alerting: (see 'pipeline config show'); a broken rule file stops it at start with file:line: reason.
            Started while ClickHouse or Kafka is away, it waits for them (unready on /readyz). Stops cleanly
            on Ctrl-C or SIGTERM (commits what it published). With WindowMetrics:PrometheusPort or
            WindowMetrics:OtlpEndpoint set it also exports the windows it reads as Prometheus gauges and OTLP
            GenAI histograms (docs/metrics-export.md).

            Examples:
              pipeline alert
              pipeline alert --rules my-rules.yaml
            """);
        command.Options.Add(Rules);
        WorkerHost.Hosts(command);
        CommandRunner.SetHandler(command, (config, parse, ct) =>
        {
            var options = config.Alerting;
            if (parse.GetValue(Rules) is { } rules) options.RulesFile = rules;
            return WorkerHost.RunAsync<AlertService>(config, "pipeline-alert", services => services
                .AddSingleton(sp => new AlertMetrics(sp.GetRequiredService<IMeterFactory>(), config.Metrics.Instance))
                .AddSingleton(sp =>
                {
                    try
                    {
                        var log = sp.GetRequiredService<ILoggerFactory>().CreateLogger("alert");
                        var windowExport = config.WindowMetrics.Enabled
                            ? new WindowMetricsExporter(config.WindowMetrics, TimeProvider.System, log, ProviderOf(config.Prices)) : null;
                        return new AlertWorker(config.Kafka, sp.GetRequiredService<ClickHouseHttp>(), options, TimeProvider.System,
                            log, sp.GetRequiredService<AlertMetrics>(), windowExport);
                    }
                    catch (Pipeline.Alerting.RuleFileException ex)
                    {
                        throw new ConfigException("Alerting:RulesFile: " + ex.Message);
                    }
                }), ct);
        });
        return command;
    }

    // Windows carry the request model, not the provider: the price table's provider of a model, when only one has it.
    private static Func<string, string?> ProviderOf(Pipeline.Aggregation.PriceTable prices)
    {
        var byModel = prices.Entries.GroupBy(e => e.Model, StringComparer.OrdinalIgnoreCase)
            .Select(g => (Model: g.Key, Providers: g.Select(e => e.Provider.ToLowerInvariant()).Distinct(StringComparer.Ordinal).ToList()))
            .Where(m => m.Providers.Count == 1)
            .ToDictionary(m => m.Model, m => m.Providers[0], StringComparer.OrdinalIgnoreCase);
        return model => byModel.GetValueOrDefault(model);
    }

    public static Command Alerts()
    {
        var tail = new Command("tail", """
            Print alerts from llm.alerts.v1 as they arrive (a private consumer that commits nothing).

            Examples:
              pipeline alerts tail
              pipeline alerts tail --from-beginning --exit-when-idle 5s --json
            """);
        tail.Options.Add(FromBeginning);
        tail.Options.Add(ExitWhenIdle);
        tail.Options.Add(Json);
        CommandRunner.SetHandler(tail, (config, parse, ct) => Task.Run(() =>
        {
            var settings = config.Kafka.Consumer("alerts-tail-" + Guid.NewGuid().ToString("N"));
            settings.AutoOffsetReset = parse.GetValue(FromBeginning) ? AutoOffsetReset.Earliest : AutoOffsetReset.Latest;
            using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(settings).SetLogHandler((_, _) => { }).Build();
            consumer.Subscribe(config.Alerting.AlertsTopic);
            var serializer = new AlertSerializer();
            var idle = parse.GetValue(ExitWhenIdle);
            var lastSeen = TimeProvider.System.GetTimestamp();
            while (!ct.IsCancellationRequested && (idle is null || TimeProvider.System.GetElapsedTime(lastSeen) < idle))
            {
                if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is not { Message.Value: { } value }) continue;
                lastSeen = TimeProvider.System.GetTimestamp();
                Alert a;
                try
                {
                    a = serializer.Deserialize(value);
                }
                catch (EventDecodeException ex)
                {
                    Console.Error.WriteLine($"skipped an undecodable record: {ex.Message}");
                    continue;
                }
                Console.WriteLine(parse.GetValue(Json) ? JsonSerializer.Serialize(ToJson(a)) : Line(a));
            }
            consumer.Close();
            return ExitCodes.Ok;
        }, ct));

        var list = new Command("list", """
            List incidents from the ClickHouse 'alerts' table, newest first. Marks say who acknowledged an incident
            (the latest acknowledgement), the silence that matched it and the incident that inhibited it; with
            --json each record also carries ack_history, every acknowledgement of its incident, oldest first.

            Example: pipeline alerts list --json
            """);
        list.Options.Add(Json);
        CommandRunner.SetHandler(list, async (config, parse, ct) =>
        {
            using var clickHouse = new ClickHouseHttp(config.ClickHouse);
            var rows = await clickHouse.QueryAsync("SELECT * FROM alerts FINAL ORDER BY recorded_at DESC, state DESC LIMIT 200", ct);
            var history = parse.GetValue(Json)
                ? (await new SuppressionStore(clickHouse, TimeProvider.System).AcknowledgementHistoryAsync(
                    rows.Select(r => r.GetProperty("alert_id").GetString() ?? "").ToList(), ct)).ToLookup(k => k.AlertId)
                : null;
            foreach (var r in rows)
            {
                var a = AlertRows.FromRow(r);
                if (history is not null)
                {
                    var json = JsonNode.Parse(r.GetRawText())!.AsObject();
                    json["ack_history"] = new JsonArray([.. history[a.AlertId].Select(k => JsonSerializer.SerializeToNode(ToJson(k)))]);
                    Console.WriteLine(json.ToJsonString());
                    continue;
                }
                Console.WriteLine(string.Join("  ",
                    r.GetProperty("window_end").GetString(), r.GetProperty("state").GetString(), r.GetProperty("severity").GetString(),
                    r.GetProperty("rule_id").GetString(), a.AlertId, Terminal.Plain(r.GetProperty("summary").GetString())) + Marks(a));
            }
            return ExitCodes.Ok;
        });

        var show = new Command("show", """
            Show one incident: its records (FIRING, RESOLVED) with their marks, and every acknowledgement of it, oldest
            first (the latest is the one its records carry and alert workers apply).

            Examples:
              pipeline alerts show 3f2a9c0d1e4b5a6978c0d1e2
              pipeline alerts show 3f2a9c0d1e4b5a6978c0d1e2 --json
            """);
        show.Arguments.Add(AlertId);
        show.Options.Add(Json);
        CommandRunner.SetHandler(show, async (config, parse, ct) =>
        {
            var id = parse.GetValue(AlertId)!.Trim();
            using var clickHouse = new ClickHouseHttp(config.ClickHouse);
            var rows = await clickHouse.QueryAsync($"SELECT * FROM alerts FINAL WHERE alert_id = {ClickHouseHttp.Quote(id)} ORDER BY state", ct);
            if (rows.Count == 0)
            {
                throw new InvalidOperationException($"no alert with id '{id}' (see 'pipeline alerts list --json' for alert ids)");
            }
            var records = rows.Select(AlertRows.FromRow).ToList();
            var acks = await new SuppressionStore(clickHouse, TimeProvider.System).AcknowledgementHistoryAsync([id], ct);
            if (parse.GetValue(Json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new { alert_id = id, records = records.Select(a => ToJson(a)), ack_history = acks.Select(k => ToJson(k)) }));
                return ExitCodes.Ok;
            }
            Console.WriteLine($"{id}  {records[0].RuleId} for {Terminal.Plain(records[0].Series.ToString())}");
            foreach (var a in records) Console.WriteLine("  " + Line(a) + Marks(a));
            Console.WriteLine(acks.Count == 0 ? "  not acknowledged" : $"  acknowledged {acks.Count} time{(acks.Count == 1 ? "" : "s")}:");
            foreach (var k in acks)
            {
                Console.WriteLine($"    {k.At:yyyy-MM-dd HH:mm:ss} UTC  {Terminal.Plain(k.By)}{(k.Note.Length > 0 ? "  " + Terminal.Plain(k.Note) : "")}");
            }
            return ExitCodes.Ok;
        });

        var command = new Command("alerts", "Inspect alerts: tail the alert topic, list incidents; acknowledge incidents and silence series");
        command.Subcommands.Add(tail);
        command.Subcommands.Add(list);
        command.Subcommands.Add(show);
        command.Subcommands.Add(Ack());
        command.Subcommands.Add(SilenceCommand());
        command.Subcommands.Add(Silences());
        command.Subcommands.Add(Unsilence());
        return command;
    }

    private static Command Ack()
    {
        var ack = new Command("ack", """
            Acknowledge an incident: someone is on it. Its re-notify records are no longer published or sent (the
            first FIRING already was; RESOLVED still is), and its records carry acked_by, acked_at and ack_note.
            It stays FIRING until it resolves; a new incident of the same rule and series (a new alert id) is not
            acknowledged. Acknowledging again (a hand-over) makes the new one the incident's acknowledgement and keeps
            the earlier ones in its history (pipeline alerts show ALERT_ID). Recorded in ClickHouse; alert workers pick
            it up within Alerting:SuppressionRefreshInterval.

            Examples:
              pipeline alerts ack 3f2a9c0d1e4b5a6978c0d1e2 --note "rolling back 2.0"
              pipeline alerts ack 3f2a9c0d1e4b5a6978c0d1e2 --by alice
            """);
        ack.Arguments.Add(AlertId);
        ack.Options.Add(Note);
        ack.Options.Add(By);
        CommandRunner.SetHandler(ack, async (config, parse, ct) =>
        {
            var id = parse.GetValue(AlertId)!.Trim();
            using var clickHouse = new ClickHouseHttp(config.ClickHouse);
            var store = new SuppressionStore(clickHouse, TimeProvider.System);
            var before = await store.FindAcknowledgementAsync(id, ct);
            var (record, alert) = await store.AcknowledgeAsync(id, Who(parse), parse.GetValue(Note) ?? "", ct);
            var resolved = alert.State == AlertState.Resolved || alert.ResolvedAt is not null;
            Console.WriteLine($"acknowledged {id} ({alert.RuleId} for {alert.Series}) by {record.By}"
                + (resolved ? "; it has already resolved" : $"; no more re-notifies (alert workers re-read within {Durations.Format(config.Alerting.SuppressionRefreshInterval)})")
                + (before is null ? "" : $"; earlier acknowledgement by {Terminal.Plain(before.By)} kept in its history ('pipeline alerts show {id}')"));
            return ExitCodes.Ok;
        });
        return ack;
    }

    private static Command SilenceCommand()
    {
        var silence = new Command("silence", $"""
            Silence a series for a while: its alerts are still evaluated and recorded (topic and table, marked with
            silence_id), but no webhook is sent and no re-notify record is published while the silence lasts.
            Matchers are exact; every key given must match: prompt and version are required, environment, service,
            model and rule narrow it further. --for takes 30s, 5m, 2h, 7d (at most {Durations.Format(SuppressionStore.MaxSilence)}). Recorded in
            ClickHouse; alert workers pick it up within Alerting:SuppressionRefreshInterval. Prints the silence id.
            A matcher that matches no series seen in metrics_1m over the last {Durations.Format(SuppressionStore.MaxSilence)} (or names a rule not in
            force) is still recorded, with a warning on stderr naming the closest known values; a malformed one
            (a second '=', a wildcard, a regular expression, quotes) is refused with exit code 2.

            Examples:
              pipeline alerts silence --match prompt=support_answer,version=2.0 --for 2h --reason "known slow, rollback at 14:00"
              pipeline alerts silence --match prompt=summarize,version=3.1,environment=staging,rule=latency_p95_regression --for 1d
            """);
        silence.Options.Add(Match);
        silence.Options.Add(For);
        silence.Options.Add(Reason);
        silence.Options.Add(By);
        silence.Options.Add(Json);
        CommandRunner.SetHandler(silence, async (config, parse, ct) =>
        {
            if (!SilenceMatcher.TryParse(parse.GetValue(Match), out var matcher, out var error))
            {
                return Usage($"--match: {error}");
            }
            if (parse.GetValue(For) is not { } duration)
            {
                return Usage("--for is required (30s, 5m, 2h, 7d)");
            }
            if (duration <= TimeSpan.Zero || duration > SuppressionStore.MaxSilence)
            {
                return Usage($"--for: {Durations.Format(duration)} is out of range; a silence lasts more than 0 and at most {Durations.Format(SuppressionStore.MaxSilence)}");
            }
            using var clickHouse = new ClickHouseHttp(config.ClickHouse);
            if (await CoverageWarningAsync(clickHouse, matcher!, config.Alerting.RulesFile, ct) is { } warning)
            {
                Console.Error.WriteLine(warning);
            }
            var s = await new SuppressionStore(clickHouse, TimeProvider.System).AddSilenceAsync(matcher!, duration, Who(parse), parse.GetValue(Reason) ?? "", ct);
            Console.WriteLine(parse.GetValue(Json) ? JsonSerializer.Serialize(ToJson(s, TimeProvider.System.GetUtcNow()))
                : $"silenced {s.Id}: {s.Matcher} until {s.EndsAt:yyyy-MM-dd HH:mm:ss} UTC ({Durations.Format(duration)}); end it early with 'pipeline alerts unsilence {s.Id}'");
            return ExitCodes.Ok;
        });
        return silence;
    }

    private static Command Silences()
    {
        var silences = new Command("silences", """
            List silences: the active and upcoming ones, or with --all also those that ended (expired or unsilenced).

            Examples:
              pipeline alerts silences
              pipeline alerts silences --all --json
            """);
        silences.Options.Add(All);
        silences.Options.Add(Json);
        CommandRunner.SetHandler(silences, async (config, parse, ct) =>
        {
            using var clickHouse = new ClickHouseHttp(config.ClickHouse);
            var store = new SuppressionStore(clickHouse, TimeProvider.System);
            var now = TimeProvider.System.GetUtcNow();
            var list = parse.GetValue(All) ? await store.AllSilencesAsync(ct) : await store.ActiveSilencesAsync(now, ct);
            if (list.Count == 0 && !parse.GetValue(Json))
            {
                Console.WriteLine(parse.GetValue(All) ? "no silences" : "no active silences (--all lists ended ones)");
            }
            foreach (var s in list)
            {
                Console.WriteLine(parse.GetValue(Json) ? JsonSerializer.Serialize(ToJson(s, now)) : string.Join("  ",
                    s.Id, State(s, now).PadRight(7), $"{s.StartsAt:yyyy-MM-dd HH:mm} .. {s.EndsAt:yyyy-MM-dd HH:mm}", s.Matcher.ToString(),
                    Terminal.Plain(s.CreatedBy), Terminal.Plain(s.Reason)));
            }
            return ExitCodes.Ok;
        });
        return silences;
    }

    private static Command Unsilence()
    {
        var unsilence = new Command("unsilence", """
            End a silence now: notifications for its series resume (alert workers re-read within
            Alerting:SuppressionRefreshInterval). Ending one that has already ended changes nothing.

            Example: pipeline alerts unsilence 4be0a1c2d3e4
            """);
        unsilence.Arguments.Add(SilenceId);
        unsilence.Options.Add(By);
        CommandRunner.SetHandler(unsilence, async (config, parse, ct) =>
        {
            var id = parse.GetValue(SilenceId)!.Trim();
            using var clickHouse = new ClickHouseHttp(config.ClickHouse);
            var (silence, ended) = await new SuppressionStore(clickHouse, TimeProvider.System).EndSilenceAsync(id, Who(parse), ct);
            if (silence is null)
            {
                throw new InvalidOperationException($"no silence with id '{id}' (see 'pipeline alerts silences --all')");
            }
            Console.WriteLine(ended ? $"ended silence {id} ({silence.Matcher})" : $"silence {id} had already ended at {silence.EndsAt:yyyy-MM-dd HH:mm:ss} UTC; nothing changed");
            return ExitCodes.Ok;
        });
        return unsilence;
    }

    // How far back a silence's series are looked for: as long as the longest silence.
    private static readonly TimeSpan CoverageRange = SuppressionStore.MaxSilence;

    /// <summary>A warning when the matcher names no series known to metrics_1m recently, or no rule in force; null when it does.</summary>
    private static async Task<string?> CoverageWarningAsync(ClickHouseHttp clickHouse, SilenceMatcher matcher, string? rulesFile, CancellationToken ct)
    {
        var since = TimeProvider.System.GetUtcNow() - CoverageRange;
        var rows = await clickHouse.QueryAsync(
            "SELECT environment, service, prompt_name, prompt_version, request_model FROM metrics_1m " +
            $"WHERE window_start >= {since.ToUnixTimeSeconds()} GROUP BY environment, service, prompt_name, prompt_version, request_model LIMIT 100000", ct);
        var known = rows.Select(r => new SeriesKey(r.GetProperty("environment").GetString() ?? "", r.GetProperty("service").GetString() ?? "",
            r.GetProperty("prompt_name").GetString() ?? "", r.GetProperty("prompt_version").GetString() ?? "", r.GetProperty("request_model").GetString() ?? "")).ToList();
        IReadOnlyCollection<string> rules;
        try
        {
            rules = (string.IsNullOrEmpty(rulesFile) ? Pipeline.Alerting.RuleFile.Defaults : Pipeline.Alerting.RuleFile.Load(rulesFile)).Select(r => r.Id).ToList();
        }
        catch (Pipeline.Alerting.RuleFileException)
        {
            rules = []; // the worker refuses a broken file itself; the silence is still for the series
        }
        return SilenceCoverage.Warning(matcher, known, rules, Durations.Format(CoverageRange));
    }

    private static string Who(ParseResult parse) =>
        parse.GetValue(By) is { Length: > 0 } by ? by.Trim() : Environment.UserName is { Length: > 0 } user ? user : "unknown";

    private static int Usage(string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return ExitCodes.Usage;
    }

    private static string Marks(Alert a) =>
        (a.AckedBy is { } by ? $"  [acked by {Terminal.Plain(by)}]" : "") + (a.SilenceId is { } silence ? $"  [silenced {silence}]" : "")
        + (a.InhibitedBy is { } inhibitor ? $"  [inhibited by {inhibitor}]" : "");

    private static object ToJson(Acknowledgement k) => new { acked_by = k.By, acked_at = k.At, note = k.Note };

    private static string State(Silence s, DateTimeOffset now) => s.IsActiveAt(now) ? "active" : now < s.StartsAt ? "pending" : "ended";

    private static object ToJson(Silence s, DateTimeOffset now) => new
    {
        silence_id = s.Id, state = State(s, now), matchers = s.Matcher.Fields.ToDictionary(kv => kv.Key, kv => kv.Value),
        starts_at = s.StartsAt, ends_at = s.EndsAt, created_by = s.CreatedBy, reason = s.Reason, ended_by = s.EndedBy,
    };

    public static string Line(Alert a) =>
        $"{a.WindowEnd:yyyy-MM-dd HH:mm}  {(a.State == AlertState.Firing ? "FIRING  " : "RESOLVED")}  {a.Severity,-8}  {a.RuleId,-24}  {Terminal.Plain(a.Summary)}";

    private static object ToJson(Alert a) => new
    {
        alert_id = a.AlertId, rule_id = a.RuleId, fingerprint = a.Fingerprint, state = a.State == AlertState.Firing ? "FIRING" : "RESOLVED",
        severity = a.Severity, environment = a.Series.Environment, service = a.Series.Service, prompt_name = a.Series.PromptName,
        prompt_version = a.Series.PromptVersion, request_model = a.Series.RequestModel, metric = a.Metric, observed = a.Observed,
        baseline = a.Baseline, threshold = a.Threshold, window_start = a.WindowStart, window_end = a.WindowEnd, started_at = a.StartedAt,
        resolved_at = a.ResolvedAt, summary = a.Summary, runbook_url = a.RunbookUrl, silence_id = a.SilenceId, acked_by = a.AckedBy,
        acked_at = a.AckedAt, ack_note = a.AckNote, inhibited_by = a.InhibitedBy,
    };
}
