using Pipeline.ClickHouse;

namespace Pipeline.UnitTests.ClickHouse;

public sealed class MigratorTests
{
    [Fact]
    public void Embedded_AreOrderedAndStartWithCalls()
    {
        var migrations = Migrator.Embedded;
        Assert.NotEmpty(migrations);
        Assert.Equal(migrations.Select(m => m.Version).Order(), migrations.Select(m => m.Version));
        Assert.Equal("calls", migrations[0].Name);
    }

    [Fact]
    public void Statements_SplitsOnLineEndingSemicolons_DropsComments()
    {
        var m = new Migration(7, "x", "-- header; not a statement\nCREATE TABLE a (s String DEFAULT ';')\nENGINE = Memory;\n\nCREATE VIEW b AS SELECT 1;\n");
        var statements = m.Statements();
        Assert.Equal(2, statements.Count);
        Assert.Contains("DEFAULT ';'", statements[0], StringComparison.Ordinal);
        Assert.StartsWith("CREATE VIEW b", statements[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Checksum_ChangesWithContent_IgnoresLineEndingStyle()
    {
        var a = new Migration(1, "x", "SELECT 1;\n");
        Assert.Equal(a.Checksum, new Migration(1, "x", "SELECT 1;\r\n").Checksum);
        Assert.NotEqual(a.Checksum, new Migration(1, "x", "SELECT 2;\n").Checksum);
    }

    [Theory]
    [InlineData("1_calls.sql")]
    [InlineData("001-calls.sql")]
    [InlineData("001_Calls.sql")]
    [InlineData("001_calls.txt")]
    public void Parse_BadFileName_NamesTheFile(string name)
    {
        var ex = Assert.Throws<InvalidOperationException>(() => Migrator.Parse(name, "SELECT 1"));
        Assert.Contains(name, ex.Message, StringComparison.Ordinal);
    }
}

public sealed class ClickHouseHttpTests
{
    [Theory]
    [InlineData("plain", "'plain'")]
    [InlineData("it's", @"'it\'s'")]
    [InlineData(@"back\slash", @"'back\\slash'")]
    [InlineData("a;b\n--c", @"'a;b\n--c'")]
    [InlineData("\u001b[31mred", @"'\x1b[31mred'")]
    public void Quote_EscapesEverythingThatCouldEndTheLiteral(string value, string expected)
    {
        Assert.Equal(expected, ClickHouseHttp.Quote(value));
    }

    [Fact]
    public void QuoteIdentifier_EscapesBackticks()
    {
        Assert.Equal("`a\\`b`", ClickHouseHttp.QuoteIdentifier("a`b"));
    }

    [Theory]
    [InlineData("notaurl")]
    [InlineData("ftp://host/")]
    public void Options_NonHttpUrl_FailsValidationNamingUrl(string url)
    {
        var options = new ClickHouseOptions { Url = new Uri(url, UriKind.RelativeOrAbsolute) };
        var results = options.Validate(new System.ComponentModel.DataAnnotations.ValidationContext(options)).ToList();
        Assert.Contains(results, r => r.MemberNames.Contains("Url"));
    }
}
