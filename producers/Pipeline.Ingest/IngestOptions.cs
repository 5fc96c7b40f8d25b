using System.ComponentModel.DataAnnotations;
using System.Net;

namespace Pipeline.Ingest;

/// <summary>Settings of <c>pipeline ingest</c>, the OTLP receiver (configuration section <c>Ingest</c>).</summary>
public sealed class IngestOptions : IValidatableObject
{
    /// <summary>Section name.</summary>
    public const string Section = "Ingest";

    /// <summary>OTLP/HTTP address as IP:port (<c>POST /v1/traces</c>, protobuf or JSON). Default <c>127.0.0.1:4318</c>; empty turns it off.</summary>
    public string Http { get; set; } = "127.0.0.1:4318";

    /// <summary>OTLP/gRPC address as IP:port (HTTP/2 without TLS, or with it when <see cref="TlsCertificatePath"/> is set). Default <c>127.0.0.1:4317</c>; empty turns it off.</summary>
    public string Grpc { get; set; } = "127.0.0.1:4317";

    /// <summary>Largest accepted request body (after gzip), 1 KiB to 256 MiB; larger answers 413. Default 4 MiB (4194304).</summary>
    [Range(1024, 256L << 20)]
    public long MaxBodyBytes { get; set; } = 4L << 20;

    /// <summary>Export requests per second one API key (or, with no keys, all callers together) may make, 1 to 1,000,000; beyond it 429 with Retry-After. Default 500.</summary>
    [Range(1, 1_000_000)]
    public int RequestsPerSecond { get; set; } = 500;

    /// <summary>Requests a key may make at once above <see cref="RequestsPerSecond"/> (token bucket size), 1 to 1,000,000. Default 1000.</summary>
    [Range(1, 1_000_000)]
    public int RequestBurst { get; set; } = 1000;

    /// <summary>
    /// PFX certificate for TLS on both endpoints; empty, the default, serves plain HTTP (and h2c for gRPC), which is
    /// what a loopback bind behind a collector or a sidecar wants.
    /// </summary>
    public string TlsCertificatePath { get; set; } = "";

    /// <summary>Password of <see cref="TlsCertificatePath"/>; empty by default.</summary>
    [System.ComponentModel.PasswordPropertyText(true)]
    public string TlsCertificatePassword { get; set; } = "";

    /// <summary>
    /// Where events wait on disk while Kafka is away; empty, the default, means <c>Local:RunDir/ingest/spill</c>.
    /// </summary>
    public string SpillDirectory { get; set; } = "";

    /// <summary>
    /// The keys callers send (<c>Authorization: Bearer KEY</c> or <c>X-Api-Key: KEY</c>), stored as SHA-256 hashes.
    /// Empty, the default, accepts requests without a key, and only on loopback addresses.
    /// </summary>
    public List<IngestApiKey> ApiKeys { get; set; } = [];

    /// <summary>Where spans keep the prompt name, version and tags.</summary>
    public SpanMappingOptions Mapping { get; set; } = new();

    /// <summary>The problem with serving on these addresses without keys, or null.</summary>
    public string? KeylessProblem()
    {
        if (ApiKeys.Count > 0) return null;
        foreach (var (name, value) in new[] { (nameof(Http), Http), (nameof(Grpc), Grpc) })
        {
            if (TryParseEndpoint(value, out var endpoint) && endpoint is not null && !IPAddress.IsLoopback(endpoint.Address))
            {
                return $"Ingest:ApiKeys: none configured, and Ingest:{name} listens on {value}, which is not a loopback address: "
                    + "add a key (Ingest:ApiKeys:0:Sha256, :Environment; docs/ingest.md) or bind 127.0.0.1";
            }
        }
        return null;
    }

    /// <summary>Parses IP:port ([v6]:port too); empty gives null (the endpoint is off).</summary>
    public static bool TryParseEndpoint(string value, out IPEndPoint? endpoint)
    {
        endpoint = null;
        if (string.IsNullOrEmpty(value)) return true;
        return IPEndPoint.TryParse(value, out endpoint) && value.Contains(':', StringComparison.Ordinal) && endpoint.Port is >= 0 and <= 65535;
    }

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (name, value) in new[] { (nameof(Http), Http), (nameof(Grpc), Grpc) })
        {
            if (!TryParseEndpoint(value, out _))
            {
                yield return new ValidationResult($"'{value}' is not IP:port (such as 127.0.0.1:4318 or 0.0.0.0:4318; empty turns it off)", [name]);
            }
        }
        if (string.IsNullOrEmpty(Http) && string.IsNullOrEmpty(Grpc))
        {
            yield return new ValidationResult("both Ingest:Http and Ingest:Grpc are off: set at least one", [nameof(Http), nameof(Grpc)]);
        }
        if (TlsCertificatePath.Length > 0 && !File.Exists(TlsCertificatePath))
        {
            yield return new ValidationResult($"file '{TlsCertificatePath}' does not exist", [nameof(TlsCertificatePath)]);
        }
        if (KeylessProblem() is { } keyless)
        {
            yield return new ValidationResult(keyless["Ingest:ApiKeys: ".Length..], [nameof(ApiKeys)]);
        }
        var hashes = ApiKeys.Select(k => k.Sha256.ToUpperInvariant()).Where(h => h.Length > 0).ToList();
        if (hashes.Distinct(StringComparer.Ordinal).Count() != hashes.Count)
        {
            yield return new ValidationResult("the same key hash appears twice: each key binds one environment", [nameof(ApiKeys)]);
        }
    }
}

/// <summary>One caller's key: <c>Ingest:ApiKeys:N</c>.</summary>
public sealed class IngestApiKey : IValidatableObject
{
    /// <summary>A label for logs (the team, say); the key itself is never logged. Optional.</summary>
    public string Name { get; set; } = "";

    /// <summary>
    /// SHA-256 of the key, 64 hex digits (the key itself is never stored). Make one: <c>openssl rand -hex 32</c>
    /// is the key, <c>printf %s KEY | sha256sum</c> this value.
    /// </summary>
    public string Sha256 { get; set; } = "";

    /// <summary>The environment every span sent with this key is recorded in, whatever the span says. Required.</summary>
    public string Environment { get; set; } = "";

    /// <summary>The <c>service.name</c>s this key may write as; empty, the default, allows any.</summary>
    public List<string> Services { get; set; } = [];

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Sha256.Length != 64 || !Sha256.All(Uri.IsHexDigit))
        {
            yield return new ValidationResult("not a SHA-256 in hex (64 digits 0-9a-f; printf %s KEY | sha256sum makes one)", [nameof(Sha256)]);
        }
        if (string.IsNullOrWhiteSpace(Environment))
        {
            yield return new ValidationResult("required: the environment this key writes to (such as prod)", [nameof(Environment)]);
        }
        if (Services.Any(string.IsNullOrWhiteSpace))
        {
            yield return new ValidationResult("an empty service name", [nameof(Services)]);
        }
    }
}

/// <summary>
/// Where spans keep what the GenAI conventions do not name (section <c>Ingest:Mapping</c>). Each list is tried in
/// order, span attributes first, then the resource's.
/// </summary>
public sealed class SpanMappingOptions
{
    /// <summary>Built-in prompt name attributes, tried when <see cref="PromptNameAttributes"/> is empty.</summary>
    public static readonly string[] DefaultPromptNameAttributes = ["gen_ai.prompt.name", "pipeline.prompt_name"];
    /// <summary>Built-in prompt version attributes, tried when <see cref="PromptVersionAttributes"/> is empty.</summary>
    public static readonly string[] DefaultPromptVersionAttributes = ["gen_ai.prompt.version", "pipeline.prompt_version"];

    // Empty defaults, filled in code: the configuration binder appends to a collection's defaults instead of replacing them.
    /// <summary>Attributes holding the prompt name, in order; empty, the default, means <c>gen_ai.prompt.name</c>, <c>pipeline.prompt_name</c>.</summary>
    public string[] PromptNameAttributes { get; set; } = [];

    /// <summary>Attributes holding the prompt version, in order; empty, the default, means <c>gen_ai.prompt.version</c>, <c>pipeline.prompt_version</c>.</summary>
    public string[] PromptVersionAttributes { get; set; } = [];

    internal string[] PromptNames => PromptNameAttributes.Length > 0 ? PromptNameAttributes : DefaultPromptNameAttributes;
    internal string[] PromptVersions => PromptVersionAttributes.Length > 0 ? PromptVersionAttributes : DefaultPromptVersionAttributes;

    /// <summary>Prompt name of a span that has none. Default <c>default</c> (as the SDK's chat-client middleware).</summary>
    [Required]
    public string DefaultPromptName { get; set; } = "default";

    /// <summary>Prompt version of a span that has none. Default <c>unversioned</c>.</summary>
    [Required]
    public string DefaultPromptVersion { get; set; } = "unversioned";

    /// <summary>Environment of a span whose resource names none (and whose key binds none). Default <c>default</c>.</summary>
    [Required]
    public string DefaultEnvironment { get; set; } = "default";

    /// <summary>Attributes starting with this become tags, the prefix cut off (<c>pipeline.tag.feature</c> is tag <c>feature</c>). Default <c>pipeline.tag.</c>; empty turns it off.</summary>
    public string TagPrefix { get; set; } = "pipeline.tag.";

    /// <summary>Tag name to attribute name, for tags kept elsewhere: <c>Ingest:Mapping:Tags:feature=app.feature</c>. Empty by default.</summary>
    public Dictionary<string, string> Tags { get; set; } = [];
}
