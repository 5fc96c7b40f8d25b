using System.CommandLine;

namespace Pipeline.Cli;

/// <summary><c>pipeline config show</c>: the effective configuration, secrets masked.</summary>
internal static class ConfigCommand
{
    public static Command Create()
    {
        var show = new Command("show", """
            Print the effective configuration after all sources (defaults, appsettings.json, --config,
            PIPELINE__ environment variables, --set), with passwords and secrets masked.

            Example: PIPELINE__ClickHouse__Database=staging pipeline config show
            """);
        CommandRunner.SetHandler(show, (config, _, _) =>
        {
            foreach (var (k, v) in config.Describe())
            {
                Console.WriteLine($"{k} = {v}");
            }
            return Task.FromResult(ExitCodes.Ok);
        });
        var command = new Command("config", "Inspect the configuration");
        command.Subcommands.Add(show);
        return command;
    }
}
