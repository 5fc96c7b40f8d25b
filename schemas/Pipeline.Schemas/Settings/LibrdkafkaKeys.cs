namespace Pipeline.Schemas;

/// <summary>
/// The one rule for librdkafka keys read from configuration, shared by the CLI's <c>Kafka</c> section and the
/// SDK's <c>Pipeline:Producer:Kafka</c>: an underscore stands for a dot, because environment variable names
/// cannot hold dots (<c>Pipeline__Producer__Kafka__linger_ms=5</c> is <c>linger.ms</c>). librdkafka's own keys
/// all use dots except <c>log_level</c>, which is kept as it is.
/// </summary>
public static class LibrdkafkaKeys
{
    /// <summary>The librdkafka key a configured key stands for.</summary>
    public static string Normalize(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key == "log_level" ? key : key.Replace('_', '.');
    }
}
