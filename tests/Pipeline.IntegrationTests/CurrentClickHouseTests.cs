using System.Diagnostics;
using System.Text.Json;

namespace Pipeline.IntegrationTests;

/// <summary>
/// Every migration, rollup template, analyst view and documented query on current ClickHouse (26.x, npm
/// chdb, in-process), on generated data. The local server is 18.16; this proves the SQL is not tied to it.
/// Skips, saying why, where Node or the chdb package is missing (`make deps` installs both).
/// </summary>
public sealed class CurrentClickHouseTests
{
    [Fact]
    public async Task EveryMigrationViewAndQuery_RunsOnCurrentClickHouse()
    {
        var ct = TestContext.Current.CancellationToken;
        var root = ServersFixture.RepoRoot;
        var chdb = Path.Combine(root, "tests", "chdb");
        if (!Directory.Exists(Path.Combine(chdb, "node_modules", "chdb")))
        {
            Assert.Skip($"npm package chdb is not installed in {chdb} (run `make deps`, which needs the npm registry): current-ClickHouse check not run");
        }
        // The runbooks' queries too, one file each (check.mjs runs every .sql of a directory).
        var runbooks = Directory.CreateTempSubdirectory("pipeline-runbook-sql-").FullName;
        var documented = RunbookQueriesTests.Queries();
        for (var i = 0; i < documented.Count; i++)
        {
            await File.WriteAllTextAsync(Path.Combine(runbooks, $"runbook_{i:D2}.sql"), documented[i] + "\n", ct);
        }
        var psi = new ProcessStartInfo("node") { WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(chdb, "check.mjs"), "analytics/clickhouse/migrations", "analytics/clickhouse/rollups", "analytics/queries", runbooks })
        {
            psi.ArgumentList.Add(a);
        }
        Process process;
        try
        {
            process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Skip("node is not installed (run `make deps`): current-ClickHouse check not run");
            return;
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct);
            var lines = (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
            var version = lines.First(l => l.TryGetProperty("clickhouse", out _)).GetProperty("clickhouse").GetString()!;
            Assert.True(int.Parse(version.Split('.')[0], System.Globalization.CultureInfo.InvariantCulture) >= 24, $"chdb runs ClickHouse {version}, not a current one");
            var failures = lines.Where(l => l.TryGetProperty("ok", out var ok) && !ok.GetBoolean()).Select(l => l.ToString()).ToList();
            Assert.True(failures.Count == 0, string.Join('\n', failures) + await stderr);
            Assert.Equal(0, process.ExitCode);
            Assert.Equal(documented.Count, lines.Count(l => l.TryGetProperty("file", out var f) && f.GetString()!.StartsWith(runbooks, StringComparison.Ordinal)));
            // Every kind ran: migrations, queries (incl. rollups) and all views, with rows.
            var results = lines.Where(l => l.TryGetProperty("ok", out _)).ToList();
            Assert.Contains(results, l => l.GetProperty("kind").GetString() == "migration");
            Assert.Contains(results, l => l.GetProperty("file").GetString()!.Contains("rollups", StringComparison.Ordinal));
            var views = results.Where(l => l.GetProperty("kind").GetString() == "view").ToList();
            Assert.Equal(Directory.GetFiles(Path.Combine(root, "analytics", "queries"), "*.sql").Length,
                results.Count(l => l.GetProperty("kind").GetString() == "query" && l.GetProperty("file").GetString()!.StartsWith("analytics/queries", StringComparison.Ordinal)));
            Assert.True(views.Count >= 11, $"only {views.Count} views ran");
            Assert.All(views, v => Assert.True(v.GetProperty("rows").GetInt32() > 0, $"{v.GetProperty("file")} returned no rows on the seeded data"));
        }
    }
}
