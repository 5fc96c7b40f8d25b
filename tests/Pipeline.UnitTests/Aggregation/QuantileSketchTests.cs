using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Pipeline.Aggregation;

namespace Pipeline.UnitTests.Aggregation;

public sealed class QuantileSketchTests
{
    private static readonly double[] Quantiles = [0.5, 0.9, 0.95, 0.99];

    /// <summary>Exact value at rank floor(q·n), the definition ClickHouse's quantileExact uses.</summary>
    private static double Exact(double[] sorted, double q) => sorted[Math.Min((int)Math.Floor(q * sorted.Length), sorted.Length - 1)];

    private static Arbitrary<double[]> Latencies() =>
        Gen.Choose(1, 2000).SelectMany(n => Gen.Choose(1, 10_000_000).ArrayOf(n)).Select(a => a.Select(x => x / 100.0).ToArray()).ToArbitrary();

    [Property(MaxTest = 200)]
    public Property Quantile_IsWithinRelativeAccuracyOfExactRank() =>
        Prop.ForAll(Latencies(), values =>
        {
            var sketch = new QuantileSketch();
            foreach (var v in values) sketch.Add(v);
            var sorted = values.Order().ToArray();
            return Quantiles.All(q =>
            {
                var exact = Exact(sorted, q);
                return Math.Abs(sketch.Quantile(q) - exact) <= QuantileSketch.RelativeAccuracy * exact + 1e-9;
            });
        });

    [Property(MaxTest = 100)]
    public Property Merge_IsAssociativeAndEqualsSketchOfUnion() =>
        Prop.ForAll(Latencies(), Latencies(), Latencies(), (a, b, c) =>
        {
            QuantileSketch Of(IEnumerable<double> xs)
            {
                var s = new QuantileSketch();
                foreach (var x in xs) s.Add(x);
                return s;
            }
            var left = Of(a);
            var bc = Of(b);
            bc.Merge(Of(c));
            left.Merge(bc);
            var right = Of(a);
            right.Merge(Of(b));
            right.Merge(Of(c));
            var union = Of(a.Concat(b).Concat(c));
            return Quantiles.All(q => left.Quantile(q).Equals(right.Quantile(q)) && right.Quantile(q).Equals(union.Quantile(q)))
                && left.Count == union.Count && left.Max.Equals(union.Max) && Math.Abs(left.Sum - union.Sum) < 1e-6 * Math.Max(1, union.Sum);
        });

    [Property(MaxTest = 100)]
    public Property Serialize_RoundTripsExactly() =>
        Prop.ForAll(Latencies(), values =>
        {
            var sketch = new QuantileSketch();
            foreach (var v in values) sketch.Add(v);
            var back = QuantileSketch.Deserialize(sketch.Serialize());
            return back.Count == sketch.Count && back.Max.Equals(sketch.Max) && back.Min.Equals(sketch.Min)
                && Quantiles.All(q => back.Quantile(q).Equals(sketch.Quantile(q)));
        });

    [Fact]
    public void Empty_ReportsZeros_AndSerializes()
    {
        var sketch = new QuantileSketch();
        Assert.Equal(0, sketch.Quantile(0.99));
        var back = QuantileSketch.Deserialize(sketch.Serialize());
        Assert.Equal(0, back.Count);
        Assert.Equal(0, back.Quantile(0.5));
    }

    [Fact]
    public void Add_WithCount_WeightsTheValue()
    {
        var sketch = new QuantileSketch();
        sketch.Add(10, 99);
        sketch.Add(1000, 1);
        Assert.Equal(100, sketch.Count);
        Assert.InRange(sketch.Quantile(0.5), 9.9, 10.1);
        Assert.InRange(sketch.Quantile(0.995), 990, 1010);
        Assert.Equal(1000, sketch.Max);
    }

    [Fact]
    public void Add_NaNAndNegative_AreIgnoredOrClamped()
    {
        var sketch = new QuantileSketch();
        sketch.Add(double.NaN);
        sketch.Add(-5);
        Assert.Equal(1, sketch.Count);
        Assert.Equal(0, sketch.Max);
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 2, 0, 0 })]
    public void Deserialize_Garbage_ThrowsFormatException(byte[] bytes)
    {
        Assert.Throws<FormatException>(() => QuantileSketch.Deserialize(bytes));
    }
}
