using System.CommandLine;
using Pipeline.Cli;
using Pipeline.Cli.Hosting;

var root = new RootCommand("""
    Pipeline: watch how LLM prompts behave in production (Kafka + ClickHouse).

    Examples:
      pipeline up                 start the local ClickHouse and dev broker
      pipeline status             show both servers and their addresses
      pipeline migrate            create or upgrade the ClickHouse tables
      pipeline smoke              send one event through the whole pipeline
      pipeline demo               a scenario with an incident, end to end: alerts, health, report
      pipeline eval               how well the alert rules catch a suite of incidents (make eval)
      pipeline aggregate          run an aggregator worker
      pipeline alert              run the alert worker
      pipeline top                live health per prompt version
      pipeline dlq list           what the aggregator dead-lettered, and why (then show, replay)
      pipeline reports send       email a report now (schedules: pipeline reports run, docs/reports.md)
      pipeline down               stop the local servers
    """);
root.Options.Add(GlobalOptions.Config);
root.Options.Add(GlobalOptions.Set);
root.Subcommands.Add(ServerCommands.Up());
root.Subcommands.Add(ServerCommands.Down());
root.Subcommands.Add(ServerCommands.Status());
root.Subcommands.Add(MigrateCommand.Create());
root.Subcommands.Add(MaintenanceCommands.Rollup());
root.Subcommands.Add(MaintenanceCommands.Retention());
root.Subcommands.Add(MaintenanceCommands.Maintain());
root.Subcommands.Add(SmokeCommand.Create());
root.Subcommands.Add(AggregateCommand.Create());
root.Subcommands.Add(AlertCommands.Worker());
root.Subcommands.Add(AlertCommands.Alerts());
root.Subcommands.Add(DlqCommands.Create());
root.Subcommands.Add(LoadGenCommand.Create());
root.Subcommands.Add(TopCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
root.Subcommands.Add(ReportCommand.Create());
root.Subcommands.Add(ReportsCommands.Create());
root.Subcommands.Add(DashboardCommands.Dashboard());
root.Subcommands.Add(DashboardCommands.ExportCommand());
root.Subcommands.Add(IngestCommand.Create());
root.Subcommands.Add(ConfigCommand.Create());

// Tables keep their columns when output goes to a file or a pipe (make demo, CI logs).
if (Console.IsOutputRedirected)
{
    Spectre.Console.AnsiConsole.Profile.Width = 200;
}

var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    foreach (var error in parse.Errors)
    {
        Console.Error.WriteLine($"error: {error.Message}");
    }
    Console.Error.WriteLine("run 'pipeline --help' (or 'pipeline COMMAND --help') for usage");
    return ExitCodes.Usage;
}
// The worker commands run a generic host that handles Ctrl-C and SIGTERM itself and drains the worker;
// System.CommandLine's handler would end the process 2 s after the signal.
var invocation = new InvocationConfiguration();
if (WorkerHost.HandlesSignals(parse)) invocation.ProcessTerminationTimeout = null;
return await parse.InvokeAsync(invocation);
