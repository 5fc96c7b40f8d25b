using System.Xml.Linq;
using Pipeline.DevServers;

namespace Pipeline.UnitTests.DevServers;

public sealed class LocalClickHouseConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-ch-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private XElement Users(IReadOnlySet<string>? optional = null, LocalClickHouseSettings? settings = null)
    {
        settings ??= new LocalClickHouseSettings { RunDir = _dir };
        new LocalClickHouse(settings, TimeProvider.System).WriteConfig(optional);
        return XElement.Load(Path.Combine(settings.RunDir, "users.xml"));
    }

    [Fact]
    public void WriteConfig_AnalystProfile_HasTheDocumentedLimits()
    {
        var profile = Users().Element("profiles")!.Element("readonly")!;
        Assert.Equal("1", profile.Element("readonly")!.Value);
        Assert.Equal("60", profile.Element("max_execution_time")!.Value);
        Assert.Equal((2L << 30).ToString(System.Globalization.CultureInfo.InvariantCulture), profile.Element("max_memory_usage")!.Value);
        Assert.Equal("1000000", profile.Element("max_result_rows")!.Value);
        Assert.Equal("throw", profile.Element("result_overflow_mode")!.Value);
        Assert.Equal("8", profile.Element("max_concurrent_queries_for_user")!.Value);
    }

    [Fact]
    public void WriteConfig_ClientCloseCancel_OnlyWhenTheServerKnowsIt()
    {
        Assert.Null(Users().Element("profiles")!.Element("readonly")!.Element("cancel_http_readonly_queries_on_client_close"));
        var supported = Users(new HashSet<string> { "cancel_http_readonly_queries_on_client_close" });
        Assert.Equal("1", supported.Element("profiles")!.Element("readonly")!.Element("cancel_http_readonly_queries_on_client_close")!.Value);
    }

    [Fact]
    public void WriteConfig_DefaultUser_GeneratedPasswordKeptAcrossRewrites_OnlyTheDefaultDatabase()
    {
        var first = Users().Element("users")!.Element("default")!;
        var password = File.ReadAllText(new LocalClickHouseSettings { RunDir = _dir }.DefaultUserPasswordFile).Trim();
        Assert.Equal(48, password.Length);
        Assert.Null(first.Element("password"));
        Assert.Equal(["default"], first.Element("allow_databases")!.Elements("database").Select(e => e.Value));
        Assert.Equal("readonly", first.Element("profile")!.Value);
        var again = Users().Element("users")!.Element("default")!;
        Assert.Equal(first.Element("password_sha256_hex")!.Value, again.Element("password_sha256_hex")!.Value);
        Assert.NotEqual(first.Element("password_sha256_hex")!.Value, Users(settings: new LocalClickHouseSettings { RunDir = Path.Combine(_dir, "other") })
            .Element("users")!.Element("default")!.Element("password_sha256_hex")!.Value);
    }

    [Fact]
    public void WriteConfig_WriterAndAnalyst_PasswordsHashed_LoopbackOnly()
    {
        var users = Users().Element("users")!;
        foreach (var name in new[] { "pipeline", "analyst" })
        {
            var user = users.Element(name)!;
            Assert.Equal(64, user.Element("password_sha256_hex")!.Value.Length);
            Assert.Equal(["127.0.0.1", "::1"], user.Element("networks")!.Elements("ip").Select(e => e.Value));
            Assert.Null(user.Element("allow_databases"));
        }
        Assert.Equal("default", users.Element("pipeline")!.Element("profile")!.Value);
        Assert.Equal("readonly", users.Element("analyst")!.Element("profile")!.Value);
    }
}
