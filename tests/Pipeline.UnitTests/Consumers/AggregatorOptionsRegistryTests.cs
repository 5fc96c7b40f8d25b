using System.ComponentModel.DataAnnotations;
using Pipeline.Consumers;

namespace Pipeline.UnitTests.Consumers;

/// <summary><c>Aggregator:SchemaRegistryUrl</c>: empty is unset, several URLs are comma-separated, only http(s).</summary>
public sealed class AggregatorOptionsRegistryTests
{
    [Theory]
    [InlineData(null, true)]
    [InlineData("", true)]
    [InlineData("http://registry:8081", true)]
    [InlineData("https://a:8081, https://b:8081", true)]
    [InlineData("ftp://127.0.0.1/", false)]
    [InlineData("registry:8081", false)]
    [InlineData("http://ok:8081,notaurl", false)]
    public void SchemaRegistryUrl_Checked(string? url, bool valid)
    {
        var options = new AggregatorOptions { SchemaRegistryUrl = url };
        var results = new List<ValidationResult>();
        Assert.Equal(valid, Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true));
        if (!valid) Assert.Contains(results, r => r.MemberNames.Contains(nameof(AggregatorOptions.SchemaRegistryUrl)) && r.ErrorMessage!.Contains("got '", StringComparison.Ordinal));
    }

    [Fact]
    public void SchemaRegistryUrl_WithAPassword_IsMaskedInTheError()
    {
        var options = new AggregatorOptions { SchemaRegistryUrl = "ftp://user:s3cret@registry/" };
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        Assert.DoesNotContain("s3cret", Assert.Single(results).ErrorMessage, StringComparison.Ordinal);
    }
}
