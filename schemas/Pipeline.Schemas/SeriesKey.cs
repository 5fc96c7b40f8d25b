using System.Text;

namespace Pipeline.Schemas;

/// <summary>
/// The series a call belongs to: (environment, service, prompt_name, prompt_version, request_model).
/// It is the Kafka message key, so a series lives in exactly one partition and window state stays local.
/// </summary>
public readonly record struct SeriesKey(string Environment, string Service, string PromptName, string PromptVersion, string RequestModel)
{
    // Unit separator: cannot appear in validated names (control characters are rejected).
    private const char Separator = '\u001f';

    /// <summary>The series of <paramref name="call"/>.</summary>
    public static SeriesKey Of(LlmCall call)
    {
        ArgumentNullException.ThrowIfNull(call);
        return new(call.Environment, call.Service, call.PromptName, call.PromptVersion, call.RequestModel);
    }

    /// <summary>UTF-8 bytes used as the Kafka message key.</summary>
    public byte[] ToKafkaKey() =>
        Encoding.UTF8.GetBytes(string.Join(Separator, Environment, Service, PromptName, PromptVersion, RequestModel));

    /// <inheritdoc />
    public override string ToString() => $"{Environment}/{Service}/{PromptName}@{PromptVersion}/{RequestModel}";
}
