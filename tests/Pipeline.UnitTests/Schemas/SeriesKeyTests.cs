using System.Text;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.UnitTests.Schemas;

public sealed class SeriesKeyTests
{
    [Fact]
    public void ToKafkaKey_SameSeries_SameBytes_DifferentVersion_DifferentBytes()
    {
        var a = SeriesKey.Of(Samples.FullCall());
        var b = SeriesKey.Of(Samples.FullCall() with { EventId = Guid.NewGuid(), LatencyMs = 1 });
        var c = SeriesKey.Of(Samples.FullCall() with { PromptVersion = "2.2.0" });
        Assert.Equal(a.ToKafkaKey(), b.ToKafkaKey());
        Assert.NotEqual(a.ToKafkaKey(), c.ToKafkaKey());
    }

    [Fact]
    public void ToKafkaKey_FieldBoundaries_CannotCollide()
    {
        // "a" + "bc" and "ab" + "c" must not produce the same key.
        var x = new SeriesKey("a", "bc", "p", "1", "m").ToKafkaKey();
        var y = new SeriesKey("ab", "c", "p", "1", "m").ToKafkaKey();
        Assert.NotEqual(Encoding.UTF8.GetString(x), Encoding.UTF8.GetString(y));
    }
}
