using System.Text.RegularExpressions;
using Pipeline.ClickHouse;

namespace Pipeline.IntegrationTests;

/// <summary>Every SQL block of docs/runbooks.md runs, as the read-only analyst, against a migrated database.</summary>
public sealed partial class RunbookQueriesTests(ServersFixture servers)
{
    /// <summary>The ```sql blocks of docs/runbooks.md, in order.</summary>
    public static IReadOnlyList<string> Queries() =>
        SqlBlock().Matches(File.ReadAllText(Path.Combine(ServersFixture.RepoRoot, "docs", "runbooks.md"))).Select(m => m.Groups[1].Value.Trim()).ToList();

    [Fact]
    public async Task EveryRunbookQuery_RunsAsTheAnalyst()
    {
        var ct = TestContext.Current.CancellationToken;
        using var writer = await servers.NewDatabaseAsync(ct);
        using var analyst = new ClickHouseHttp(writer.Options.AsAnalyst());
        var queries = Queries();
        Assert.True(queries.Count >= 3 * 13, $"only {queries.Count} queries in docs/runbooks.md");
        var failures = new List<string>();
        foreach (var sql in queries)
        {
            try
            {
                await analyst.QueryAsync(sql, ct);
            }
            catch (ClickHouseException ex)
            {
                failures.Add($"{ex.Message}\n{sql}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    [GeneratedRegex(@"```sql\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex SqlBlock();
}
