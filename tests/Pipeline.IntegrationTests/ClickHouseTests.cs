using Pipeline.ClickHouse;

namespace Pipeline.IntegrationTests;

/// <summary>Migrations and users on the real ClickHouse.</summary>
public sealed class ClickHouseTests(ServersFixture servers)
{
    [Fact]
    public async Task Migrate_Twice_IsIdempotent_AndRecordsVersions()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var again = await new Migrator(clickHouse, TimeProvider.System).ApplyAsync(Migrator.Embedded, ct);
        Assert.Empty(again.Applied);
        Assert.Equal(Migrator.Embedded.Count, again.AlreadyApplied.Count);
        Assert.Equal(Migrator.Embedded.Count, await clickHouse.ScalarAsync("SELECT count() FROM schema_migrations FINAL", ct));
    }

    [Fact]
    public async Task Migrate_ChangedAppliedFile_IsRefusedNamingTheFile()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var changed = Migrator.Embedded.Select(m => m.Version == 1 ? m with { Sql = m.Sql + "\n-- edited\n" } : m).ToList();
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => new Migrator(clickHouse, TimeProvider.System).ApplyAsync(changed, ct));
        Assert.Contains("001_calls.sql", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Migrate_NewFile_AppliesOnlyThatOne()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        var extra = Migrator.Embedded.Append(new Migration(999, "probe", "CREATE TABLE IF NOT EXISTS probe (x UInt8) ENGINE = Memory;")).ToList();
        var result = await new Migrator(clickHouse, TimeProvider.System).ApplyAsync(extra, ct);
        Assert.Equal(999, Assert.Single(result.Applied).Version);
        Assert.Equal(0, await clickHouse.ScalarAsync("SELECT count() FROM probe", ct));
    }

    [Fact]
    public async Task Analyst_CanRead_CannotWriteOrDrop()
    {
        if (Environment.GetEnvironmentVariable("PIPELINE_TEST_CLICKHOUSE_URL") is { Length: > 0 })
        {
            Assert.Skip("the analyst user is provisioned by the local ClickHouse; an external server has its own");
        }
        var ct = TestContext.Current.CancellationToken;
        using var writer = await servers.NewDatabaseAsync(ct);
        using var analyst = new ClickHouseHttp(writer.Options.AsAnalyst());
        Assert.Equal(0, await analyst.ScalarAsync("SELECT count() FROM calls", ct));
        foreach (var sql in new[]
                 {
                     "INSERT INTO calls (event_id) VALUES (generateUUIDv4())",
                     "DROP TABLE calls",
                     "CREATE TABLE x (a UInt8) ENGINE = Memory",
                     "ALTER TABLE calls DELETE WHERE 1",
                 })
        {
            var ex = await Assert.ThrowsAsync<ClickHouseException>(() => analyst.ExecuteAsync(sql, ct));
            Assert.Contains("readonly", ex.Message, StringComparison.OrdinalIgnoreCase);
        }
        Assert.Equal(1, await writer.ScalarAsync($"SELECT count() FROM system.tables WHERE database = {ClickHouseHttp.Quote(writer.Options.Database)} AND name = 'calls'", ct));
    }

    [Fact]
    public async Task Quote_HostileStrings_RoundTripInertly()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clickHouse = await servers.NewDatabaseAsync(ct);
        foreach (var value in new[] { "it's", @"back\slash\", "x'; DROP TABLE calls; --", "line\nbreak\ttab", "\u001b[31mred\u001b[0m", "ünï’cødé 生成" })
        {
            var rows = await clickHouse.QueryAsync($"SELECT {ClickHouseHttp.Quote(value)} AS v", ct);
            Assert.Equal(value, rows[0].GetProperty("v").GetString());
        }
        Assert.Equal(0, await clickHouse.ScalarAsync("SELECT count() FROM calls", ct));
    }
}
