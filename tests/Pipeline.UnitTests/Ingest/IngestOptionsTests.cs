using Pipeline.Ingest;
using Pipeline.Schemas;

namespace Pipeline.UnitTests.Ingest;

public sealed class IngestOptionsTests
{
    private static readonly string Hash = new('a', 64);

    [Fact]
    public void Defaults_AreValid_LoopbackWithoutKeys()
    {
        var options = new IngestOptions();
        Assert.Empty(SettingsValidator.Validate(options, "Ingest"));
        Assert.Null(options.KeylessProblem());
    }

    [Fact]
    public void NonLoopbackWithoutKeys_IsRefusedNamingTheKey()
    {
        var options = new IngestOptions { Http = "0.0.0.0:4318" };
        var problem = Assert.Single(SettingsValidator.Validate(options, "Ingest"));
        Assert.StartsWith("Ingest:ApiKeys: none configured, and Ingest:Http listens on 0.0.0.0:4318", problem, StringComparison.Ordinal);
        options.ApiKeys.Add(new IngestApiKey { Sha256 = Hash, Environment = "prod" });
        Assert.Empty(SettingsValidator.Validate(options, "Ingest"));
    }

    [Fact]
    public void BadValues_AreEachNamed()
    {
        var options = new IngestOptions
        {
            Http = "localhost", Grpc = "", MaxBodyBytes = 10,
            ApiKeys = [new IngestApiKey { Sha256 = "abc", Environment = "" }, new IngestApiKey { Sha256 = Hash, Environment = "p" }, new IngestApiKey { Sha256 = Hash, Environment = "q" }],
        };
        var problems = string.Join("\n", SettingsValidator.Validate(options, "Ingest"));
        Assert.Contains("Ingest:Http: 'localhost' is not IP:port", problems, StringComparison.Ordinal);
        Assert.Contains("Ingest:MaxBodyBytes:", problems, StringComparison.Ordinal);
        Assert.Contains("Ingest:ApiKeys:0:Sha256: not a SHA-256", problems, StringComparison.Ordinal);
        Assert.Contains("Ingest:ApiKeys:0:Environment: required", problems, StringComparison.Ordinal);
        Assert.Contains("Ingest:ApiKeys: the same key hash appears twice", problems, StringComparison.Ordinal);
    }
}
