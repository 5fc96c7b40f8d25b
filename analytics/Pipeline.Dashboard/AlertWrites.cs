using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Pipeline.ClickHouse;
using Pipeline.Consumers;

namespace Pipeline.Dashboard;

/// <summary>
/// The dashboard's only writes: acknowledging an incident and silencing its series, through the same
/// <see cref="SuppressionStore"/> that <c>pipeline alerts ack|silence</c> uses, so the records are the same.
/// Off unless <see cref="DashboardOptions.WriterUser"/> and <see cref="DashboardOptions.WriteTokenSha256"/> are set.
/// A write must carry the token (<c>Authorization: Bearer</c>, compared by its SHA-256 in constant time), the
/// header <see cref="Header"/> (a cross-site form cannot set one, and a cross-site script cannot without a CORS
/// preflight this app never grants) and no cross-site <c>Origin</c>/<c>Sec-Fetch-Site</c>. No cookies are used,
/// so there is no ambient credential for another site to ride on.
/// </summary>
internal sealed class AlertWrites : IDisposable
{
    /// <summary>The header every write must send, with the value <c>write</c>.</summary>
    public const string Header = "X-Pipeline-Dashboard";

    private readonly byte[]? _tokenHash;

    public AlertWrites(DashboardOptions options, ClickHouseOptions analyst, TimeProvider time)
    {
        if (!options.WritesEnabled) return;
        _tokenHash = Convert.FromHexString(options.WriteTokenSha256);
        Writer = new ClickHouseHttp(new ClickHouseOptions
        {
            Url = analyst.Url, User = options.WriterUser, Password = options.WriterPassword, Database = analyst.Database, RequestTimeout = analyst.RequestTimeout,
        });
        Store = new SuppressionStore(Writer, time);
    }

    public bool Enabled => _tokenHash is not null;

    /// <summary>The writer connection, when writes are on.</summary>
    public ClickHouseHttp? Writer { get; }

    /// <summary>The store the CLI writes through, when writes are on.</summary>
    public SuppressionStore? Store { get; }

    /// <summary>Null when <paramref name="request"/> may write; else the status and reason to refuse it with.</summary>
    public (int Status, string Reason)? Refusal(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_tokenHash is null) return (403, "writes are off: set Dashboard:WriterUser, Dashboard:WriterPassword and Dashboard:WriteTokenSha256 (docs/configuration.md)");
        if (request.Headers[Header].ToString() != "write") return (403, $"a write needs the header {Header}: write");
        var site = request.Headers["Sec-Fetch-Site"].ToString();
        if (site.Length > 0 && site is not ("same-origin" or "none")) return (403, "cross-site writes are refused");
        var origin = request.Headers.Origin.ToString();
        if (origin.Length > 0 && !string.Equals(origin, $"{request.Scheme}://{request.Host}", StringComparison.OrdinalIgnoreCase)) return (403, "cross-origin writes are refused");
        var auth = request.Headers.Authorization.ToString();
        const string bearer = "Bearer ";
        var token = auth.StartsWith(bearer, StringComparison.Ordinal) ? auth[bearer.Length..].Trim() : "";
        return token.Length > 0 && Matches(token) ? null : (401, "the write token is missing or wrong");
    }

    public void Dispose() => Writer?.Dispose();

    private bool Matches(string token) => CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(token)), _tokenHash);

    /// <summary>The silence matcher of an incident's series and rule (empty fields left out).</summary>
    public static SilenceMatcher MatcherOf(AlertRow alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        var pairs = new List<KeyValuePair<string, string>>
        {
            new("environment", alert.Environment), new("service", alert.Service), new("prompt", alert.PromptName),
            new("version", alert.PromptVersion), new("model", alert.Model), new("rule", alert.RuleId),
        };
        return SilenceMatcher.Create(pairs.Where(p => p.Value.Length > 0));
    }
}

/// <summary>Body of <c>POST /api/alerts/{id}/ack</c>.</summary>
public sealed record AckRequest(string? By, string? Note);

/// <summary>Body of <c>POST /api/alerts/{id}/silence</c>: <c>for</c> as <c>30m</c>, <c>2h</c>, <c>1d</c>.</summary>
public sealed record SilenceRequest(string? By, string? For, string? Reason);
