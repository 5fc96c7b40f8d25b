using System.Text.Json;
using Pipeline.Consumers;

namespace Pipeline.UnitTests.Aggregation;

/// <summary>Readers of stored rows tolerate what older versions wrote.</summary>
public sealed class StoredRowsTests
{
    [Theory]
    [InlineData("9223372036854775808", Pipeline.Schemas.FieldBounds.MaxWindowSum)]
    [InlineData("18446744073709551615", Pipeline.Schemas.FieldBounds.MaxWindowSum)]
    [InlineData("\"9223372036854775808\"", Pipeline.Schemas.FieldBounds.MaxWindowSum)]
    [InlineData("\"42\"", 42L)]
    [InlineData("42", 42L)]
    [InlineData("9007199254740993", Pipeline.Schemas.FieldBounds.MaxWindowSum)]
    [InlineData("-1", 0L)]
    [InlineData("1e300", Pipeline.Schemas.FieldBounds.MaxWindowSum)]
    public void StoredInt_OutOfRangeOrQuoted_ClampsInsteadOfThrowing(string json, long expected)
    {
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(expected, MetricsRows.StoredInt(doc.RootElement));
    }

    [Theory]
    [InlineData("\"inf\"", 0.0)]
    [InlineData("\"nan\"", 0.0)]
    [InlineData("\"-inf\"", 0.0)]
    [InlineData("9.2e15", 9.2e15)]
    public void StoredDouble_NonFinite_ReadsAsZero(string json, double expected)
    {
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(expected, MetricsRows.StoredDouble(doc.RootElement));
    }
}
