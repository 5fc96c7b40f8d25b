using System.Globalization;

namespace Pipeline.Dashboard;

/// <summary>
/// Numbers in the recommendation texts as people read them (the page's own formatting, in C#): a ratio as
/// <c>1.4x</c> or <c>12x</c>, never <c>12,000%</c>, and past 1,000x only "more than 1,000x" (a near-zero budget or
/// median makes the digits meaningless); money to the cent from $1, to two significant digits below it.
/// </summary>
internal static class HumanNumbers
{
    /// <summary>The largest ratio written out.</summary>
    public const double MaxRatio = 1000;

    /// <summary><paramref name="ratio"/> as <c>1.4x</c>, <c>12x</c>, <c>850x</c> or <c>more than 1,000x</c>.</summary>
    public static string Times(double ratio) => ratio switch
    {
        double.NaN => "an unknown multiple of",
        < 10 => string.Create(CultureInfo.InvariantCulture, $"{ratio:0.0}x"),
        < MaxRatio => string.Create(CultureInfo.InvariantCulture, $"{ratio:N0}x"),
        _ => "more than 1,000x",
    };

    /// <summary>USD: <c>$12,345</c>, <c>$12.50</c>, <c>$0.0042</c>, <c>$0</c>.</summary>
    public static string Usd(double usd)
    {
        var abs = Math.Abs(usd);
        var sign = usd < 0 ? "-" : "";
        return abs switch
        {
            0 => "$0",
            >= 1000 => string.Create(CultureInfo.InvariantCulture, $"{sign}${abs:N0}"),
            >= 1 => string.Create(CultureInfo.InvariantCulture, $"{sign}${abs:0.00}"),
            _ => sign + "$" + abs.ToString("G2", CultureInfo.InvariantCulture),
        };
    }
}
