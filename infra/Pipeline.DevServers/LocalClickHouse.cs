using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;

namespace Pipeline.DevServers;

/// <summary>Where and how the local ClickHouse runs. Defaults suit a laptop and CI.</summary>
public sealed record LocalClickHouseSettings
{
    /// <summary>Folder for config, data, logs and the PID file (git-ignored).</summary>
    public required string RunDir { get; init; }
    /// <summary>HTTP port on 127.0.0.1. Default 18123, so a system ClickHouse on 8123 is left alone.</summary>
    public int HttpPort { get; init; } = 18123;
    /// <summary>Native TCP port on 127.0.0.1 (for clickhouse-client). Default 19000.</summary>
    public int TcpPort { get; init; } = 19000;
    /// <summary>User the pipeline writes with.</summary>
    public string WriterUser { get; init; } = "pipeline";
    /// <summary>Password of <see cref="WriterUser"/>.</summary>
    public string WriterPassword { get; init; } = "pipeline-dev";
    /// <summary>Read-only user for analysts and dashboards (readonly=1).</summary>
    public string AnalystUser { get; init; } = "analyst";
    /// <summary>Password of <see cref="AnalystUser"/>.</summary>
    public string AnalystPassword { get; init; } = "analyst-dev";
    /// <summary>Longest an analyst query (dashboards, reports, SQL) runs before the server stops it. Default 60 s.</summary>
    public TimeSpan AnalystMaxExecutionTime { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Memory one analyst query may use. Default 2 GiB.</summary>
    public long AnalystMaxMemoryUsage { get; init; } = 2L << 30;
    /// <summary>Rows an analyst query may return (more is an error, never a silent cut). Default 1,000,000.</summary>
    public long AnalystMaxResultRows { get; init; } = 1_000_000;
    /// <summary>Analyst queries running at once (all its clients together). Default 8.</summary>
    public int AnalystMaxConcurrentQueries { get; init; } = 8;

    /// <summary>
    /// The generated password of ClickHouse's built-in <c>default</c> user (read-only, analyst limits, no access
    /// to the pipeline's databases), created on first start. Nothing in the pipeline uses that user.
    /// </summary>
    public string DefaultUserPasswordFile => Path.Combine(RunDir, "default-user.password");

    /// <summary>Base URL of the HTTP interface.</summary>
    public Uri HttpUrl => new($"http://127.0.0.1:{HttpPort}/");
}

/// <summary>Status of one local server.</summary>
public sealed record ServerStatus(string Name, bool Up, string Address, int? Pid, string Detail);

/// <summary>
/// Debian's <c>clickhouse-server</c> run as a plain process with a config of ours: installs it when
/// missing, listens on 127.0.0.1 only, creates a writer and a read-only analyst user. Idempotent.
/// </summary>
public sealed class LocalClickHouse(LocalClickHouseSettings settings, TimeProvider time, Action<string>? log = null)
{
    private const string ServerBinary = "/usr/sbin/clickhouse-server";
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly Action<string> _log = log ?? (_ => { });

    private string PidFile => Path.Combine(settings.RunDir, "clickhouse.pid");

    /// <summary>True when the server binary is present.</summary>
    public static bool IsInstalled => File.Exists(ServerBinary);

    /// <summary>Installs clickhouse-server and clickhouse-client from Debian when missing.</summary>
    public async Task EnsureInstalledAsync(CancellationToken cancellationToken)
    {
        if (IsInstalled) return;
        _log("installing clickhouse-server and clickhouse-client from Debian (apt-get)...");
        var asRoot = Environment.UserName == "root";
        var prefix = asRoot ? Array.Empty<string>() : ["sudo", "-n"];
        string[][] steps =
        [
            [.. prefix, "apt-get", "update", "-qq"],
            [.. prefix, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", "--no-install-recommends", "clickhouse-server", "clickhouse-client"],
        ];
        foreach (var step in steps)
        {
            var (code, output) = await DetachedProcess.RunAsync(step[0], step[1..], cancellationToken);
            if (code != 0)
            {
                throw new InvalidOperationException($"'{string.Join(' ', step)}' failed ({code}): {Tail(output, 5)}");
            }
        }
        if (!IsInstalled)
        {
            throw new InvalidOperationException($"apt-get finished but {ServerBinary} is missing");
        }
    }

    /// <summary>Starts the server unless it already runs; waits until <c>/ping</c> answers.</summary>
    public async Task<ServerStatus> StartAsync(CancellationToken cancellationToken)
    {
        var status = await GetStatusAsync(cancellationToken);
        if (status.Up)
        {
            if (File.Exists(Path.Combine(settings.RunDir, "users.xml")))
            {
                // Users and profiles reload live; this keeps a running server's users current.
                WriteConfig(await OptionalSettingsAsync(cancellationToken));
            }
            return status;
        }
        await EnsureInstalledAsync(cancellationToken);
        Directory.CreateDirectory(settings.RunDir);
        if (DetachedProcess.ReadPidFile(PidFile) is { } stale && DetachedProcess.IsAlive(stale))
        {
            // Alive but not answering: a hung or half-started server of ours. Replace it.
            await DetachedProcess.StopAsync(stale, TimeSpan.FromSeconds(10), time, cancellationToken);
        }
        File.Delete(PidFile);
        var configPath = WriteConfig();
        var logPath = Path.Combine(settings.RunDir, "log", "stdout.log");
        var pid = DetachedProcess.Start([ServerBinary, $"--config-file={configPath}"], logPath, settings.RunDir);
        await File.WriteAllTextAsync(PidFile, pid.ToString(CultureInfo.InvariantCulture), cancellationToken);
        var deadline = time.GetUtcNow() + TimeSpan.FromSeconds(60);
        while (time.GetUtcNow() < deadline)
        {
            if (await PingAsync(cancellationToken))
            {
                if (await OptionalSettingsAsync(cancellationToken) is { Count: > 0 } optional)
                {
                    // A server newer than 18.16: the profiles gain the settings it knows (users.xml reloads live).
                    WriteConfig(optional);
                }
                return await GetStatusAsync(cancellationToken);
            }
            if (!DetachedProcess.IsAlive(pid))
            {
                break;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(100), time, cancellationToken);
        }
        var errorLog = Path.Combine(settings.RunDir, "log", "error.log");
        var detail = File.Exists(errorLog) ? Tail(await File.ReadAllTextAsync(errorLog, cancellationToken), 5) : "";
        throw new InvalidOperationException($"ClickHouse did not answer on {settings.HttpUrl}ping; see {errorLog}. {detail}");
    }

    /// <summary>Stops the server started from this run folder; harmless when it is not running.</summary>
    public async Task<bool> StopAsync(CancellationToken cancellationToken)
    {
        if (DetachedProcess.ReadPidFile(PidFile) is not { } pid)
        {
            return false;
        }
        var stopped = await DetachedProcess.StopAsync(pid, TimeSpan.FromSeconds(15), time, cancellationToken);
        if (stopped)
        {
            File.Delete(PidFile);
        }
        return stopped;
    }

    /// <summary>Whether the server answers, with its version and PID.</summary>
    public async Task<ServerStatus> GetStatusAsync(CancellationToken cancellationToken)
    {
        var pid = DetachedProcess.ReadPidFile(PidFile) is { } p && DetachedProcess.IsAlive(p) ? p : (int?)null;
        var address = settings.HttpUrl.ToString();
        if (!await PingAsync(cancellationToken))
        {
            return new ServerStatus("clickhouse", false, address, pid, "not answering; start it with './pipeline up'");
        }
        var version = await QueryAsync("SELECT version()", cancellationToken);
        return new ServerStatus("clickhouse", true, address, pid, $"version {version.Trim()}, writer '{settings.WriterUser}', analyst '{settings.AnalystUser}'");
    }

    /// <summary>Runs a statement as the writer user and returns the response body.</summary>
    public async Task<string> QueryAsync(string sql, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, settings.HttpUrl) { Content = new StringContent(sql, Encoding.UTF8) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{settings.WriterUser}:{settings.WriterPassword}")));
        using var response = await Http.SendAsync(request, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        return response.IsSuccessStatusCode ? body : throw new InvalidOperationException($"ClickHouse {(int)response.StatusCode}: {Tail(body, 3)}");
    }

    private async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var response = await Http.GetAsync(new Uri(settings.HttpUrl, "ping"), cancellationToken);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>
    /// Profile settings only some servers know. 18.16 accepts an unknown setting in a profile at start but then
    /// refuses every query of its users ("Unknown setting"), so these are added only when the running server
    /// lists them in <c>system.settings</c>. <c>cancel_http_readonly_queries_on_client_close</c> (19.2+) stops a
    /// read-only query when its HTTP client goes away; on 18.16 <c>max_execution_time</c> is the bound.
    /// </summary>
    internal static readonly IReadOnlyDictionary<string, object> AnalystSettingsWhereSupported = new Dictionary<string, object>(StringComparer.Ordinal)
    {
        ["cancel_http_readonly_queries_on_client_close"] = 1,
    };

    private async Task<IReadOnlySet<string>> OptionalSettingsAsync(CancellationToken cancellationToken)
    {
        var names = string.Join(", ", AnalystSettingsWhereSupported.Keys.Select(k => $"'{k}'"));
        var body = await QueryAsync($"SELECT name FROM system.settings WHERE name IN ({names})", cancellationToken);
        return body.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>Writes config.xml and users.xml under the run folder; returns the config path.</summary>
    /// <param name="optionalSettings">Names from <see cref="AnalystSettingsWhereSupported"/> the server supports.</param>
    internal string WriteConfig(IReadOnlySet<string>? optionalSettings = null)
    {
        var dir = settings.RunDir;
        foreach (var sub in new[] { "data", "tmp", "user_files", "format_schemas", "log" })
        {
            Directory.CreateDirectory(Path.Combine(dir, sub));
        }
        string P(string sub) => Path.Combine(dir, sub) + "/";
        var config = new XElement("yandex",
            new XElement("logger",
                new XElement("level", "warning"),
                new XElement("log", Path.Combine(dir, "log", "server.log")),
                new XElement("errorlog", Path.Combine(dir, "log", "error.log")),
                new XElement("size", "50M"),
                new XElement("count", "2")),
            new XElement("http_port", settings.HttpPort),
            new XElement("tcp_port", settings.TcpPort),
            new XElement("listen_host", "127.0.0.1"),
            new XElement("max_concurrent_queries", 100),
            new XElement("uncompressed_cache_size", 1L << 30),
            new XElement("mark_cache_size", 512L << 20),
            new XElement("path", P("data")),
            new XElement("tmp_path", P("tmp")),
            new XElement("user_files_path", P("user_files")),
            new XElement("format_schema_path", P("format_schemas")),
            new XElement("users_config", Path.Combine(dir, "users.xml")),
            new XElement("default_profile", "default"),
            new XElement("default_database", "default"),
            new XElement("timezone", "UTC"),
            new XElement("mlock_executable", "false"));
        var analystProfile = new XElement("readonly",
            new XElement("readonly", 1),
            new XElement("output_format_json_quote_64bit_integers", 0),
            new XElement("allow_experimental_low_cardinality_type", 1),
            // Bounds for people and dashboards: a runaway query stops with a clear error instead of holding the server.
            new XElement("max_execution_time", (long)Math.Ceiling(settings.AnalystMaxExecutionTime.TotalSeconds)),
            new XElement("timeout_overflow_mode", "throw"),
            new XElement("max_memory_usage", settings.AnalystMaxMemoryUsage),
            new XElement("max_result_rows", settings.AnalystMaxResultRows),
            new XElement("result_overflow_mode", "throw"),
            new XElement("max_concurrent_queries_for_user", settings.AnalystMaxConcurrentQueries));
        foreach (var (name, value) in AnalystSettingsWhereSupported)
        {
            if (optionalSettings?.Contains(name) == true) analystProfile.Add(new XElement(name, value));
        }
        var users = new XElement("yandex",
            new XElement("profiles",
                new XElement("default",
                    new XElement("allow_experimental_low_cardinality_type", 1),
                    new XElement("max_memory_usage", 8L << 30)),
                analystProfile),
            new XElement("users",
                // ClickHouse's built-in user: nothing of ours uses it, so it gets a generated password, the analyst
                // limits and only the empty 'default' database (system tables stay readable, as on every server).
                User("default", DefaultUserPassword(), "readonly", allowDatabases: ["default"]),
                User(settings.WriterUser, settings.WriterPassword, "default"),
                User(settings.AnalystUser, settings.AnalystPassword, "readonly")),
            new XElement("quotas",
                new XElement("default",
                    new XElement("interval",
                        new XElement("duration", 3600), new XElement("queries", 0), new XElement("errors", 0),
                        new XElement("result_rows", 0), new XElement("read_rows", 0), new XElement("execution_time", 0)))));
        var configPath = Path.Combine(dir, "config.xml");
        File.WriteAllText(configPath, new XDocument(config).ToString());
        File.WriteAllText(Path.Combine(dir, "users.xml"), new XDocument(users).ToString());
        return configPath;
    }

    private static XElement User(string name, string password, string profile, string[]? allowDatabases = null) =>
        new(name,
            new XElement("password_sha256_hex", Sha256Hex(password)),
            new XElement("networks", new XElement("ip", "127.0.0.1"), new XElement("ip", "::1")),
            new XElement("profile", profile),
            new XElement("quota", "default"),
            allowDatabases is null ? null : new XElement("allow_databases", allowDatabases.Select(d => new XElement("database", d))));

    /// <summary>The <c>default</c> user's password from <see cref="LocalClickHouseSettings.DefaultUserPasswordFile"/>, generated (owner-only) the first time.</summary>
    private string DefaultUserPassword()
    {
        var file = settings.DefaultUserPasswordFile;
        if (File.Exists(file) && File.ReadAllText(file).Trim() is { Length: >= 16 } existing)
        {
            return existing;
        }
        var password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using (var stream = new FileStream(file, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.WriteLine(password);
        }
        return password;
    }

    private static string Sha256Hex(string s) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s)));

    private static string Tail(string text, int lines) =>
        string.Join(" | ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).TakeLast(lines));
}
