using Pipeline.ClickHouse;

namespace Pipeline.Reports;

/// <summary>
/// Which environment and service a view covers (<c>--environment</c>/<c>--service</c>, API parameters
/// <c>environment</c>/<c>service</c>); a null or empty field matches every value. Applied in SQL with
/// <see cref="ClickHouseHttp.Quote"/>, so any name is safe.
/// </summary>
public sealed record SeriesScope
{
    /// <summary>Every environment and service.</summary>
    public static SeriesScope All { get; } = new(null, null);

    /// <summary>Creates a scope; blank fields match everything.</summary>
    public SeriesScope(string? environment, string? service)
    {
        Environment = string.IsNullOrEmpty(environment) ? null : environment;
        Service = string.IsNullOrEmpty(service) ? null : service;
    }

    /// <summary>Only this environment, or null for all.</summary>
    public string? Environment { get; }
    /// <summary>Only this service, or null for all.</summary>
    public string? Service { get; }

    /// <summary>Only this prompt name, or null for all (scheduled reports; tables with a <c>prompt_name</c> column).</summary>
    public string? Prompt { get; init; }

    /// <summary>True when it matches every series.</summary>
    public bool IsAll => Environment is null && Service is null && Prompt is null;

    /// <summary>A SQL condition on the <c>environment</c> and <c>service</c> columns; <c>1</c> when it matches everything.</summary>
    public string Sql()
    {
        var parts = new List<string>(2);
        if (Environment is { } e) parts.Add($"environment = {ClickHouseHttp.Quote(e)}");
        if (Service is { } s) parts.Add($"service = {ClickHouseHttp.Quote(s)}");
        if (Prompt is { } p) parts.Add($"prompt_name = {ClickHouseHttp.Quote(p)}");
        return parts.Count == 0 ? "1" : string.Join(" AND ", parts);
    }

    /// <summary>Whether a series of <paramref name="environment"/> and <paramref name="service"/> is in scope.</summary>
    public bool Matches(string environment, string service) =>
        (Environment is null || Environment == environment) && (Service is null || Service == service);

    /// <summary>For messages and titles: <c>environment 'prod', service 'checkout'</c>, or <c>all environments and services</c>.</summary>
    public override string ToString()
    {
        if (IsAll) return "all environments and services";
        var parts = new List<string>(2);
        if (Environment is { } e) parts.Add($"environment '{e}'");
        if (Service is { } s) parts.Add($"service '{s}'");
        if (Prompt is { } p) parts.Add($"prompt '{p}'");
        return string.Join(", ", parts);
    }
}
