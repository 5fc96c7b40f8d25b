using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Pipeline.ClickHouse;
using Pipeline.DevServers;

namespace Pipeline.IntegrationTests;

/// <summary>
/// The local server's users (issue 13, item 9): the analyst is bounded in time, memory, result size and
/// concurrency; ClickHouse's <c>default</c> user needs the generated password and sees none of our data; the
/// writer is unaffected. Runs its own server (own run folder and ports, tight analyst limits), never the shared one.
/// </summary>
public sealed class ClickHouseUsersTests : IAsyncLifetime
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(60) };
    private readonly string _runDir = Directory.CreateTempSubdirectory("pipeline-ch-users-").FullName;
    private LocalClickHouseSettings _settings = null!;
    private LocalClickHouse _server = null!;

    public async ValueTask InitializeAsync()
    {
        _settings = new LocalClickHouseSettings
        {
            RunDir = _runDir, HttpPort = FreePort(), TcpPort = FreePort(),
            AnalystMaxExecutionTime = TimeSpan.FromSeconds(1), AnalystMaxMemoryUsage = 64L << 20, AnalystMaxResultRows = 1000, AnalystMaxConcurrentQueries = 1,
        };
        _server = new LocalClickHouse(_settings, TimeProvider.System);
        await _server.StartAsync(TestContext.Current.CancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.StopAsync(CancellationToken.None);
        try
        {
            Directory.Delete(_runDir, recursive: true);
        }
        catch (IOException)
        {
            // The stopped server may still be closing a log file; a temp folder is harmless.
        }
    }

    [Fact]
    public async Task Analyst_BoundedByItsProfile_WriterUnaffected()
    {
        var ct = TestContext.Current.CancellationToken;
        using var writer = new ClickHouseHttp(new ClickHouseOptions { Url = _settings.HttpUrl, User = _settings.WriterUser, Password = _settings.WriterPassword, Database = "pipeline" });
        await new Migrator(writer, TimeProvider.System).ApplyAsync(Migrator.Embedded, ct);

        // The profile as the analyst sees it (a readonly=1 user cannot change any of it per query).
        var seen = (await Ok(Analyst, "SELECT name, value FROM system.settings WHERE name IN ('readonly', 'max_execution_time', 'max_memory_usage', "
            + "'max_result_rows', 'result_overflow_mode', 'max_concurrent_queries_for_user', 'cancel_http_readonly_queries_on_client_close') FORMAT TSV", ct))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).ToDictionary(p => p[0], p => p[1]);
        Assert.Equal("1", seen["readonly"]);
        Assert.Equal("1", seen["max_execution_time"]);
        Assert.Equal((64L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture), seen["max_memory_usage"]);
        Assert.Equal("1000", seen["max_result_rows"]);
        Assert.Equal("throw", seen["result_overflow_mode"]);
        Assert.Equal("1", seen["max_concurrent_queries_for_user"]);
        // 18.16 does not know the setting (and would refuse every analyst query if the profile named it); newer servers get it.
        if (seen.TryGetValue("cancel_http_readonly_queries_on_client_close", out var cancel)) Assert.Equal("1", cancel);

        // The mistaken endless scan stops at the time limit with the server's own error.
        var timer = Stopwatch.StartNew();
        var scan = await Run(Analyst, "SELECT count() FROM system.numbers", ct);
        Assert.False(scan.Ok);
        Assert.Contains("Code: 159", scan.Body, StringComparison.Ordinal);
        Assert.Contains("Timeout exceeded", scan.Body, StringComparison.OrdinalIgnoreCase);
        Assert.True(timer.Elapsed < TimeSpan.FromSeconds(15), $"took {timer.Elapsed}");

        var memory = await Run(Analyst, "SELECT length(groupArray(number)) FROM (SELECT number FROM system.numbers LIMIT 50000000)", ct);
        Assert.False(memory.Ok);
        Assert.Contains("Memory limit", memory.Body, StringComparison.OrdinalIgnoreCase);

        var rows = await Run(Analyst, "SELECT number FROM system.numbers LIMIT 5000", ct);
        Assert.False(rows.Ok);
        Assert.Contains("Limit for result", rows.Body, StringComparison.OrdinalIgnoreCase);

        // One analyst query at a time (max_concurrent_queries_for_user = 1 here).
        var slow = Run(Analyst, "SELECT count() FROM system.numbers", ct);
        await Task.Delay(300, ct);
        var second = await Run(Analyst, "SELECT 1", ct);
        await slow;
        Assert.False(second.Ok);
        Assert.Contains("Too many simultaneous queries", second.Body, StringComparison.OrdinalIgnoreCase);

        // The analyst reads the pipeline's tables and writes nothing.
        Assert.Equal("0", (await Ok(Analyst, "SELECT count() FROM pipeline.calls", ct)).Trim());
        var insert = await Run(Analyst, "INSERT INTO pipeline.schema_migrations SELECT * FROM pipeline.schema_migrations", ct);
        Assert.False(insert.Ok);
        Assert.Contains("readonly", insert.Body, StringComparison.OrdinalIgnoreCase);

        // The writer keeps its own profile: longer than 1 s, more than 64 MiB, more than 1000 rows, concurrently.
        var longScan = Ok(Writer, "SELECT count() FROM (SELECT number FROM system.numbers LIMIT 4000000000)", ct);
        Assert.Equal("50000000", (await Ok(Writer, "SELECT length(groupArray(number)) FROM (SELECT number FROM system.numbers LIMIT 50000000)", ct)).Trim());
        Assert.Equal(5000, (await Ok(Writer, "SELECT number FROM system.numbers LIMIT 5000", ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal("4000000000", (await longScan).Trim());
    }

    [Fact]
    public async Task DefaultUser_NeedsTheGeneratedPassword_AndSeesNoPipelineData()
    {
        var ct = TestContext.Current.CancellationToken;
        using var writer = new ClickHouseHttp(new ClickHouseOptions { Url = _settings.HttpUrl, User = _settings.WriterUser, Password = _settings.WriterPassword, Database = "pipeline" });
        await new Migrator(writer, TimeProvider.System).ApplyAsync(Migrator.Embedded, ct);

        // No password, or no credentials at all (clickhouse-client's and curl's default): refused.
        Assert.False((await Run(("default", ""), "SELECT 1", ct)).Ok);
        Assert.False((await Run(null, "SELECT count() FROM pipeline.calls", ct)).Ok);

        var file = _settings.DefaultUserPasswordFile;
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }
        var password = (await File.ReadAllTextAsync(file, ct)).Trim();
        Assert.True(password.Length >= 32);
        var asDefault = ("default", password);
        Assert.Equal("1", (await Ok(asDefault, "SELECT 1", ct)).Trim());
        var denied = await Run(asDefault, "SELECT count() FROM pipeline.calls", ct);
        Assert.False(denied.Ok);
        Assert.Contains("pipeline", denied.Body, StringComparison.Ordinal);
        // And the same bounds as the analyst: the endless scan stops.
        Assert.Contains("Code: 159", (await Run(asDefault, "SELECT count() FROM system.numbers", ct)).Body, StringComparison.Ordinal);

        // The password survives a config rewrite (start on a running server rewrites users.xml).
        await _server.StartAsync(ct);
        Assert.Equal(password, (await File.ReadAllTextAsync(file, ct)).Trim());
        Assert.Equal("1", (await Ok(asDefault, "SELECT 1", ct)).Trim());
    }

    private (string, string) Analyst => (_settings.AnalystUser, _settings.AnalystPassword);
    private (string, string) Writer => (_settings.WriterUser, _settings.WriterPassword);

    private async Task<string> Ok((string User, string Password)? user, string sql, CancellationToken ct)
    {
        var (ok, body) = await Run(user, sql, ct);
        Assert.True(ok, body);
        return body;
    }

    private async Task<(bool Ok, string Body)> Run((string User, string Password)? user, string sql, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _settings.HttpUrl) { Content = new StringContent(sql, Encoding.UTF8) };
        if (user is { } u)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{u.User}:{u.Password}")));
        }
        using var response = await Http.SendAsync(request, ct);
        return (response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(ct));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
