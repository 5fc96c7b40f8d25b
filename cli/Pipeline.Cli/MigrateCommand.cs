using System.CommandLine;
using Pipeline.ClickHouse;
using Pipeline.Schemas;

namespace Pipeline.Cli;

/// <summary><c>pipeline migrate</c>: apply ClickHouse migrations.</summary>
internal static class MigrateCommand
{
    public static Command Create()
    {
        var command = new Command("migrate", """
            Create the database and apply pending migrations from analytics/clickhouse/migrations, in order,
            recording each in schema_migrations. Idempotent; refuses to run when an applied file changed.

            Examples:
              pipeline migrate
              pipeline migrate --set ClickHouse:Database=staging
            """);
        CommandRunner.SetHandler(command, async (config, _, ct) =>
        {
            using var clickHouse = new ClickHouseHttp(config.ClickHouse);
            var result = await new Migrator(clickHouse, TimeProvider.System).ApplyAsync(Migrator.Embedded, ct);
            foreach (var m in result.Applied)
            {
                Console.WriteLine($"applied  {m.Version:D3}_{m.Name}");
            }
            Console.WriteLine($"database '{config.ClickHouse.Database}' at {SecretMask.MaskUrl(config.ClickHouse.Url)}: {result.Applied.Count} applied, {result.AlreadyApplied.Count} already applied");
            return ExitCodes.Ok;
        });
        return command;
    }
}
