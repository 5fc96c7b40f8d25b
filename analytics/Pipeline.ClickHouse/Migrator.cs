using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Pipeline.ClickHouse;

/// <summary>One versioned migration file, <c>NNN_name.sql</c>.</summary>
public sealed record Migration(int Version, string Name, string Sql)
{
    /// <summary>SHA-256 of the file's text; an applied migration whose file changed is refused.</summary>
    public string Checksum => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Sql.ReplaceLineEndings("\n"))));

    /// <summary>The file's statements, split on semicolons that end a line; comment lines dropped.</summary>
    public IReadOnlyList<string> Statements()
    {
        var withoutComments = string.Join('\n', Sql.ReplaceLineEndings("\n").Split('\n')
            .Where(l => !l.TrimStart().StartsWith("--", StringComparison.Ordinal)));
        return Regex.Split(withoutComments, @";[ \t]*(?:\n|$)")
            .Select(s => s.Trim())
            .Where(s => s.Length > 0)
            .ToArray();
    }
}

/// <summary>What <see cref="Migrator.ApplyAsync"/> did.</summary>
public sealed record MigrationResult(IReadOnlyList<Migration> Applied, IReadOnlyList<Migration> AlreadyApplied);

/// <summary>
/// Applies <c>analytics/clickhouse/migrations/NNN_name.sql</c> in order, recording each in
/// <c>schema_migrations</c>. Idempotent; refuses to run when an applied file has changed.
/// </summary>
public sealed partial class Migrator(ClickHouseHttp clickHouse, TimeProvider time)
{
    /// <summary>The migrations embedded in this assembly, in version order.</summary>
    public static IReadOnlyList<Migration> Embedded { get; } = LoadEmbedded();

    /// <summary>Creates the database if needed, then applies every pending migration.</summary>
    public async Task<MigrationResult> ApplyAsync(IReadOnlyList<Migration> migrations, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(migrations);
        var db = ClickHouseHttp.QuoteIdentifier(clickHouse.Options.Database);
        await clickHouse.ExecuteAsync($"CREATE DATABASE IF NOT EXISTS {db}", cancellationToken, useDatabase: false);
        await clickHouse.ExecuteAsync("""
            CREATE TABLE IF NOT EXISTS schema_migrations
            (version UInt32, name String, checksum String, applied_at DateTime)
            ENGINE = ReplacingMergeTree ORDER BY version
            """, cancellationToken);
        var rows = await clickHouse.QueryAsync("SELECT version, name, checksum FROM schema_migrations FINAL ORDER BY version", cancellationToken);
        var applied = rows.ToDictionary(r => r.GetProperty("version").GetInt32(), r => r.GetProperty("checksum").GetString()!);
        var done = new List<Migration>();
        var skipped = new List<Migration>();
        foreach (var m in migrations.OrderBy(m => m.Version))
        {
            if (applied.TryGetValue(m.Version, out var checksum))
            {
                if (checksum != m.Checksum)
                {
                    throw new InvalidOperationException(
                        $"migration {m.Version:D3}_{m.Name}.sql was changed after it was applied (checksum {checksum[..12]} in schema_migrations, {m.Checksum[..12]} now); add a new migration instead of editing an applied one");
                }
                skipped.Add(m);
                continue;
            }
            foreach (var statement in m.Statements())
            {
                await clickHouse.ExecuteAsync(statement, cancellationToken);
            }
            var now = time.GetUtcNow().ToUnixTimeSeconds();
            await clickHouse.ExecuteAsync(
                $"INSERT INTO schema_migrations VALUES ({m.Version}, {ClickHouseHttp.Quote(m.Name)}, {ClickHouseHttp.Quote(m.Checksum)}, {now})",
                cancellationToken);
            done.Add(m);
        }
        return new MigrationResult(done, skipped);
    }

    /// <summary>Parses <c>NNN_name.sql</c> file names; anything else is an error naming the file.</summary>
    public static Migration Parse(string fileName, string sql)
    {
        var match = FileNamePattern().Match(Path.GetFileName(fileName));
        if (!match.Success)
        {
            throw new InvalidOperationException($"migration file '{fileName}' must be named NNN_name.sql");
        }
        return new Migration(int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), match.Groups[2].Value, sql);
    }

    private static List<Migration> LoadEmbedded()
    {
        var asm = typeof(Migrator).Assembly;
        var list = new List<Migration>();
        foreach (var name in asm.GetManifestResourceNames().Where(n => n.StartsWith("migrations/", StringComparison.Ordinal)))
        {
            using var stream = asm.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream);
            list.Add(Parse(name, reader.ReadToEnd()));
        }
        var duplicate = list.GroupBy(m => m.Version).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new InvalidOperationException($"two migrations share version {duplicate.Key:D3}");
        }
        return list.OrderBy(m => m.Version).ToList();
    }

    [GeneratedRegex(@"^(\d{3})_([a-z0-9_]+)\.sql$")]
    private static partial Regex FileNamePattern();
}
