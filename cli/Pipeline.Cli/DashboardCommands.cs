using System.CommandLine;
using System.Text;
using System.Text.Json;
using Pipeline.ClickHouse;
using Pipeline.Dashboard;
using Pipeline.DevServers;

namespace Pipeline.Cli;

/// <summary><c>pipeline dashboard</c> and <c>pipeline export</c>.</summary>
internal static class DashboardCommands
{
    private static readonly Option<int?> Port = new("--port") { Description = "Port (default Dashboard:Port, 5080; 0 picks a free one)" };
    private static readonly Option<string?> Bind = new("--bind") { Description = "Address to listen on (default Dashboard:Bind, 127.0.0.1)" };
    private static readonly Option<bool> Detach = new("--detach") { Description = "Run in the background (stopped by 'pipeline down'); prints the address" };
    private static readonly Option<string> View = new("--view") { Description = $"One of {string.Join(", ", Export.Views)}", Required = true };
    private static readonly Option<string?> From = new("--from") { Description = "Start, ISO 8601 UTC (with --to); default: --range" };
    private static readonly Option<string?> To = new("--to") { Description = "End, ISO 8601 UTC" };
    private static readonly Option<string> Range = new("--range") { Description = "1h, 24h, 7d or 30d (when --from/--to are not given)", DefaultValueFactory = _ => "24h" };
    private static readonly Option<string> Format = new("--format") { Description = "csv or json", DefaultValueFactory = _ => "csv" };
    private static readonly Option<string?> Prompt = new("--prompt") { Description = "Only this prompt" };
    private static readonly Option<string?> Model = new("--model") { Description = "Only this request model" };
    private static readonly Option<string?> Out = new("--out") { Description = "Write to this file instead of standard output" };

    public static Command Dashboard()
    {
        var command = new Command("dashboard", """
            Serve the web dashboard and its JSON API (read-only analyst user) on http://127.0.0.1:5080/:
            overview, performance with anomaly marks, per-prompt breakdown, comparison with A/B verdicts,
            alerts, cost with projection and budget, exports, recommendations. Ctrl+C stops it.

            Examples:
              pipeline dashboard
              pipeline dashboard --port 8080 --set Dashboard:MonthlyBudgetUsd=500
              pipeline dashboard --detach --set ClickHouse:Database=pipeline_demo
            """);
        command.Options.Add(Port);
        command.Options.Add(Bind);
        command.Options.Add(Detach);
        CommandRunner.SetHandler(command, async (config, parse, ct) =>
        {
            var options = config.Dashboard;
            if (parse.GetValue(Port) is { } port) options.Port = port;
            if (parse.GetValue(Bind) is { } bind) options.Bind = bind;
            if (parse.GetValue(Detach))
            {
                var address = await StartDetachedAsync(config, options, parse, [], ct);
                Console.WriteLine($"dashboard   {address}");
                return ExitCodes.Ok;
            }
            await using var app = DashboardApp.Create(options, config.ClickHouse.AsAnalyst(), TimeProvider.System, kafka: config.Kafka.BootstrapServers is null ? null : config.Kafka);
            await app.StartAsync(ct);
            var url = DashboardApp.Address(app);
            var runDir = Path.Combine(config.RunDir, "dashboard");
            Directory.CreateDirectory(runDir);
            await File.WriteAllTextAsync(Path.Combine(runDir, "address"), url, ct);
            Console.WriteLine($"dashboard on {url} (database '{config.ClickHouse.Database}', analyst '{config.ClickHouse.AnalystUser}'); Ctrl+C stops it");
            Console.WriteLine(!options.Live ? "live push off (Dashboard:Live=false): pages poll every 30 s"
                : config.Kafka.BootstrapServers is { } kafka ? $"live push from {options.MetricsTopic} and {options.AlertsTopic} at {kafka}"
                : "live push off: Kafka is not configured (Kafka:bootstrap.servers): pages poll every 30 s");
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
            }
            await app.StopAsync(CancellationToken.None);
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command ExportCommand()
    {
        var command = new Command("export", """
            Export a dashboard view for a time range as CSV or JSON (the same data as /api/export).

            Examples:
              pipeline export --view prompts --range 7d
              pipeline export --view timeseries --from 2026-11-23T00:00:00Z --to 2026-11-24T00:00:00Z --format json --out day.json
              pipeline export --view calls --prompt support_answer --range 1h --out calls.csv
              pipeline export --view prompts --environment prod --service checkout
              pipeline export --view alerts --model gpt-4o --range 7d
            """);
        foreach (var o in new Option[] { View, From, To, Range, Format, Prompt, Model, Out }) command.Options.Add(o);
        ScopeFlags.AddTo(command);
        CommandRunner.SetHandler(command, async (config, parse, ct) =>
        {
            if (!TimeRange.TryParse(parse.GetValue(Range), parse.GetValue(From), parse.GetValue(To), TimeProvider.System.GetUtcNow(), out var range, out var error))
            {
                await Console.Error.WriteLineAsync($"error: --{error}");
                return ExitCodes.Usage;
            }
            var format = parse.GetValue(Format)!;
            if (format is not ("csv" or "json"))
            {
                await Console.Error.WriteLineAsync($"error: --format: '{Terminal.Plain(format)}' is not csv or json");
                return ExitCodes.Usage;
            }
            using var clickHouse = new ClickHouseHttp(config.ClickHouse.AsAnalyst());
            var queries = new DashboardQueries(clickHouse, config.Dashboard, TimeProvider.System);
            var scope = ScopeFlags.Read(parse);
            var filter = new SeriesFilter(parse.GetValue(Prompt), null, parse.GetValue(Model), scope.Environment, scope.Service);
            try
            {
                await queries.CheckKnownAsync(filter, ct);
            }
            catch (UnknownSeriesException ex)
            {
                await Console.Error.WriteLineAsync($"error: {(parse.GetValue(Prompt) is not null ? "--prompt" : parse.GetValue(Model) is not null ? "--model" : "--environment/--service")}: {Terminal.Plain(ex.Message)}");
                return ExitCodes.Usage;
            }
            var rows = await Export.RowsAsync(queries, parse.GetValue(View)!, range, filter, ct);
            if (rows is null)
            {
                await Console.Error.WriteLineAsync($"error: --view: '{Terminal.Plain(parse.GetValue(View)!)}' is not one of {string.Join(", ", Export.Views)}");
                return ExitCodes.Usage;
            }
            var text = format == "csv" ? Export.Csv(rows) : JsonSerializer.Serialize(rows, JsonOptions);
            if (parse.GetValue(Out) is { } path)
            {
                await File.WriteAllTextAsync(path, text, new UTF8Encoding(false), ct);
                await Console.Error.WriteLineAsync($"export: {rows.Count} rows of '{parse.GetValue(View)}' written to {path}");
            }
            else
            {
                Console.Out.Write(text);
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private static bool PortIsFree(string bind, int port)
    {
        if (port == 0) return true;
        try
        {
            var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Parse(bind), port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    /// <summary>Stops a dashboard started with --detach; false when none was running.</summary>
    public static async Task<bool> StopDetachedAsync(PipelineConfig config, CancellationToken ct)
    {
        var pidFile = Path.Combine(config.RunDir, "dashboard", "pid");
        if (DetachedProcess.ReadPidFile(pidFile) is not { } pid || !DetachedProcess.IsAlive(pid)) return false;
        await DetachedProcess.StopAsync(pid, TimeSpan.FromSeconds(5), TimeProvider.System, ct);
        File.Delete(pidFile);
        return true;
    }

    /// <summary>Starts the dashboard in the background (replacing one already running); returns its address.</summary>
    public static async Task<string> StartDetachedAsync(PipelineConfig config, DashboardOptions options, ParseResult parse, IReadOnlyList<string> extraSets, CancellationToken ct)
    {
        await StopDetachedAsync(config, ct);
        var runDir = Path.Combine(config.RunDir, "dashboard");
        Directory.CreateDirectory(runDir);
        var addressFile = Path.Combine(runDir, "address");
        File.Delete(addressFile);
        // The same program, in the foreground mode, with the same configuration sources.
        var self = Environment.ProcessPath!;
        var command = new List<string>();
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") command.AddRange([self, typeof(DashboardCommands).Assembly.Location]);
        else command.Add(self);
        // Something else on the configured port (another checkout's dashboard): take a free one rather than fail.
        var port = PortIsFree(options.Bind, options.Port) ? options.Port : 0;
        command.AddRange(["dashboard", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", options.Bind]);
        if (parse.GetValue(GlobalOptions.Config) is { } file) command.AddRange(["--config", Path.GetFullPath(file)]);
        foreach (var s in parse.GetValue(GlobalOptions.Set) ?? []) command.AddRange(["--set", s]);
        command.AddRange(["--set", $"Local:RunDir={config.RunDir}"]);
        foreach (var s in extraSets) command.AddRange(["--set", s]);
        var pid = DetachedProcess.Start(command, Path.Combine(runDir, "dashboard.log"), config.Home);
        await File.WriteAllTextAsync(Path.Combine(runDir, "pid"), pid.ToString(System.Globalization.CultureInfo.InvariantCulture), ct);
        for (var i = 0; i < 300; i++)
        {
            if (File.Exists(addressFile) && await File.ReadAllTextAsync(addressFile, ct) is { Length: > 0 } address) return address;
            if (!DetachedProcess.IsAlive(pid)) break;
            await Task.Delay(100, ct);
        }
        throw new InvalidOperationException($"the dashboard did not start; see {Path.Combine(runDir, "dashboard.log")}");
    }
}
