using System.ComponentModel.DataAnnotations;
using Pipeline.Schemas;

namespace Pipeline.ClickHouse;

/// <summary>Where the pipeline's ClickHouse is and who it writes as. Section <c>ClickHouse</c>.</summary>
public sealed class ClickHouseOptions : IValidatableObject
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "ClickHouse";

    /// <summary>
    /// HTTP(S) endpoint. Default: the local dev server, <c>http://127.0.0.1:18123/</c>. User information in it
    /// (<c>http://user:pass@host/</c>) is not used to sign in (<see cref="User"/> and <see cref="Password"/> are) and is never printed.
    /// </summary>
    [Required]
    public Uri Url { get; set; } = new("http://127.0.0.1:18123/");

    /// <summary>Writer user (DDL and inserts). Default <c>pipeline</c>.</summary>
    [Required]
    public string User { get; set; } = "pipeline";

    /// <summary>Password of <see cref="User"/>. Default: the local dev password; set it from the environment in production.</summary>
    public string Password { get; set; } = "pipeline-dev";

    /// <summary>Database holding the pipeline's tables. Default <c>pipeline</c>.</summary>
    [Required, RegularExpression("^[A-Za-z_][A-Za-z0-9_]{0,63}$", ErrorMessage = "must be a plain identifier (letters, digits, underscore; at most 64)")]
    public string Database { get; set; } = "pipeline";

    /// <summary>Read-only analyst user, used by dashboards and reports. Default <c>analyst</c>.</summary>
    public string AnalystUser { get; set; } = "analyst";

    /// <summary>Password of <see cref="AnalystUser"/>.</summary>
    public string AnalystPassword { get; set; } = "analyst-dev";

    /// <summary>Per-request timeout, 1 s to 1 hour. Default 30 s.</summary>
    [DurationRange("1s", "1h")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        // A null Url is reported by [Required].
        if (Url is not null && (!Url.IsAbsoluteUri || Url.Scheme is not ("http" or "https")))
        {
            yield return new ValidationResult($"'{SecretMask.MaskText(Url.OriginalString)}' is not an absolute http:// or https:// URL", [nameof(Url)]);
        }
    }

    /// <summary>
    /// True for a <c>readonly=1</c> user, which may not change settings per query; the server profile
    /// then supplies them. Set by <see cref="AsAnalyst"/>, not from configuration.
    /// </summary>
    internal bool IsReadOnlyUser { get; init; }

    /// <summary>A copy that connects as the analyst user.</summary>
    public ClickHouseOptions AsAnalyst() => new()
    {
        Url = Url, User = AnalystUser, Password = AnalystPassword, Database = Database,
        AnalystUser = AnalystUser, AnalystPassword = AnalystPassword, RequestTimeout = RequestTimeout,
        IsReadOnlyUser = true,
    };

    /// <summary>A copy with another database (tests give each test its own).</summary>
    public ClickHouseOptions WithDatabase(string database) => new()
    {
        Url = Url, User = User, Password = Password, Database = database,
        AnalystUser = AnalystUser, AnalystPassword = AnalystPassword, RequestTimeout = RequestTimeout,
        IsReadOnlyUser = IsReadOnlyUser,
    };
}
