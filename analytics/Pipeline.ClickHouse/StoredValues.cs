using System.Globalization;
using System.Text.Json;
using Pipeline.Schemas;

namespace Pipeline.ClickHouse;

/// <summary>
/// Numbers read back from ClickHouse JSON, tolerant of what any version stored: a UInt64 beyond
/// long.MaxValue, quoted 64-bit integers, <c>inf</c> and <c>nan</c>. One stored outlier must not fail a
/// restart, a dashboard endpoint or a report.
/// </summary>
public static class StoredValues
{
    /// <summary>
    /// A stored count as a long, clamped to [0, <see cref="FieldBounds.MaxWindowSum"/>] (what this version stores
    /// at most, so readers can add up a thousand such rows without overflow); anything unreadable is 0.
    /// </summary>
    public static long Count(JsonElement e)
    {
        const long max = FieldBounds.MaxWindowSum;
        if (e.ValueKind == JsonValueKind.Number)
        {
            if (e.TryGetInt64(out var l)) return Math.Clamp(l, 0, max);
            if (e.TryGetUInt64(out _)) return max;
            return e.TryGetDouble(out var d) && d > 0 ? (d >= max ? max : (long)d) : 0;
        }
        var s = e.ValueKind == JsonValueKind.String ? e.GetString() : null;
        if (long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var p)) return Math.Clamp(p, 0, max);
        return ulong.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out _) ? max : 0;
    }

    /// <summary>A stored float; anything not finite (ClickHouse writes inf and nan as strings) or unreadable reads as 0.</summary>
    public static double Number(JsonElement e)
    {
        var d = e.ValueKind == JsonValueKind.Number ? e.GetDouble()
            : double.TryParse(e.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var p) ? p : 0;
        return double.IsFinite(d) ? d : 0;
    }

    /// <summary><see cref="Count(JsonElement)"/> of a named property.</summary>
    public static long Count(JsonElement row, string name) => Count(row.GetProperty(name));

    /// <summary><see cref="Number(JsonElement)"/> of a named property.</summary>
    public static double Number(JsonElement row, string name) => Number(row.GetProperty(name));
}
