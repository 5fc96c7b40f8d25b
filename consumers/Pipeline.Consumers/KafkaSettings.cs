using Confluent.Kafka;
using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>
/// librdkafka settings from the <c>Kafka</c> configuration section, passed through untouched
/// (<c>Kafka:bootstrap.servers</c>, <c>Kafka:security.protocol</c>, <c>Kafka:sasl.mechanism</c>, ...).
/// In environment variables, underscores stand for dots (except in <c>log_level</c>): <c>PIPELINE__Kafka__bootstrap_servers</c>.
/// </summary>
public sealed class KafkaSettings
{
    private readonly Dictionary<string, string> _settings;

    /// <summary>Creates settings from raw key/value pairs (keys with '_' are read as '.').</summary>
    public KafkaSettings(IEnumerable<KeyValuePair<string, string?>> settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings
            .Where(kv => kv.Value is not null)
            .ToDictionary(kv => LibrdkafkaKeys.Normalize(kv.Key), kv => kv.Value!, StringComparer.Ordinal);
    }

    /// <summary>The configured <c>bootstrap.servers</c>, or null.</summary>
    public string? BootstrapServers => _settings.GetValueOrDefault("bootstrap.servers") is { Length: > 0 } b ? b : null;

    /// <summary>All settings, secrets included (never log this; see <see cref="Masked"/>).</summary>
    public IReadOnlyDictionary<string, string> All => _settings;

    /// <summary>Settings as they may be printed: secrets (<see cref="SecretMask.IsSecretKey"/>) as <c>***</c>, URL user information masked.</summary>
    public IReadOnlyDictionary<string, string> Masked => _settings.ToDictionary(kv => kv.Key, kv => SecretMask.MaskValue(kv.Key, kv.Value));

    /// <summary>True for keys whose values must never be printed (<c>ssl.key.pem</c>, <c>sasl.jaas.config</c>, <c>sasl.oauthbearer.*</c>, passwords, ...).</summary>
    public static bool IsSecret(string key) => SecretMask.IsSecretKey(key);

    /// <summary>A copy with <c>bootstrap.servers</c> set.</summary>
    public KafkaSettings WithBootstrap(string bootstrap) =>
        new(_settings.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value))
            .Where(kv => kv.Key != "bootstrap.servers")
            .Append(new("bootstrap.servers", bootstrap)));

    /// <summary>Producer settings: acks=all and idempotence unless overridden.</summary>
    public ProducerConfig Producer()
    {
        var config = new ProducerConfig(Defaults(new()
        {
            ["acks"] = "all",
            ["enable.idempotence"] = "true",
            ["linger.ms"] = "20",
            ["compression.type"] = "lz4",
        }));
        return config;
    }

    /// <summary>Consumer settings for <paramref name="groupId"/>: manual offset store, no auto commit of unprocessed records.</summary>
    public ConsumerConfig Consumer(string groupId) => new(Defaults(new()
    {
        ["group.id"] = groupId,
        ["enable.auto.commit"] = "false",
        ["enable.auto.offset.store"] = "false",
        ["auto.offset.reset"] = "earliest",
        ["partition.assignment.strategy"] = "cooperative-sticky",
    }));

    private Dictionary<string, string> Defaults(Dictionary<string, string> defaults)
    {
        if (BootstrapServers is null)
        {
            throw new InvalidOperationException("Kafka:bootstrap.servers is not set and no dev broker address was found; start one with './pipeline up' or set Kafka:bootstrap.servers");
        }
        foreach (var (k, v) in _settings)
        {
            defaults[k] = v;
        }
        return defaults;
    }
}
