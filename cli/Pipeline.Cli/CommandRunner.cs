using System.CommandLine;
using Pipeline.ClickHouse;
using Pipeline.Schemas;

namespace Pipeline.Cli;

/// <summary>Options every command accepts.</summary>
internal static class GlobalOptions
{
    public static readonly Option<string?> Config = new("--config")
    {
        Description = "A JSON configuration file, read after appsettings.json and before environment variables",
        Recursive = true,
    };

    public static readonly Option<string[]> Set = new("--set")
    {
        Description = "Override one setting, highest precedence: --set ClickHouse:Url=http://host:8123/ (repeatable)",
        Recursive = true,
        AllowMultipleArgumentsPerToken = false,
    };
}

/// <summary>Runs a command body with the shared error handling: one clear line and a trustworthy exit code.</summary>
internal static class CommandRunner
{
    public static void SetHandler(Command command, Func<PipelineConfig, ParseResult, CancellationToken, Task<int>> body)
    {
        command.SetAction(async (parse, cancellationToken) =>
        {
            PipelineConfig config;
            try
            {
                config = PipelineConfig.Load(parse.GetValue(GlobalOptions.Config), parse.GetValue(GlobalOptions.Set) ?? []);
            }
            catch (ConfigException ex)
            {
                await Console.Error.WriteLineAsync($"config error: {SecretMask.MaskText(ex.Message)}");
                return ExitCodes.Config;
            }
            try
            {
                return await body(config, parse, cancellationToken);
            }
            catch (ConfigException ex)
            {
                await Console.Error.WriteLineAsync($"config error: {SecretMask.MaskText(ex.Message)}");
                return ExitCodes.Config;
            }
            catch (ClickHouseException ex) when (ex.HttpStatus == 0)
            {
                await Console.Error.WriteLineAsync($"error: {SecretMask.MaskText(ex.Message)}");
                return ExitCodes.Unavailable;
            }
            catch (ServerUnavailableException ex)
            {
                await Console.Error.WriteLineAsync($"error: {SecretMask.MaskText(ex.Message)}");
                return ExitCodes.Unavailable;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                await Console.Error.WriteLineAsync("cancelled");
                return 130;
            }
            catch (OperationCanceledException ex)
            {
                // Not our token: a timeout (an HTTP request to ClickHouse, a Kafka call). Still one line, never a silent exit 1.
                await Console.Error.WriteLineAsync($"error: timed out: {SecretMask.MaskText(ex.Message)}");
                return ExitCodes.Failed;
            }
            catch (Exception ex) when (ex is InvalidOperationException or ClickHouseException or IOException)
            {
                await Console.Error.WriteLineAsync($"error: {SecretMask.MaskText(ex.Message)}");
                return ExitCodes.Failed;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A bug: still one line and a non-zero exit, never a stack trace on a user's terminal.
                await Console.Error.WriteLineAsync($"error: unexpected {ex.GetType().Name}: {ex.Message}");
                return ExitCodes.Failed;
            }
        });
    }
}

/// <summary>A server the command needs does not answer; the message names it and how to start it.</summary>
internal sealed class ServerUnavailableException(string message) : Exception(message);
