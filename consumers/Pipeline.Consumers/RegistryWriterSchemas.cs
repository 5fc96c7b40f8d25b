using System.Collections.Concurrent;
using System.Net;
using Confluent.SchemaRegistry;
using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>
/// Writer schemas by id from a Confluent Schema Registry, for the aggregator when producers register their
/// schema (<c>Producer:SchemaRegistryUrl</c>). With a registry configured it is authoritative for every id: a
/// fresh registry numbers from 1, so its ids may collide with the built-in catalogue's; only an id the registry
/// does not know falls back to the catalogue (records from before the move to a registry). Known ids are cached
/// for good (registry ids are immutable); ids the registry does not know are cached as unknown for
/// <see cref="NegativeTtl"/>, so random ids in bad records do not query it per record. A registry that is away
/// or failing is waited for (<see cref="ResolveAsync"/> retries), never taken as "unknown": that would
/// dead-letter good events.
/// </summary>
public sealed class RegistryWriterSchemas : IDisposable
{
    private const int MaxUnknown = 100_000;
    private readonly CachedSchemaRegistryClient _client;
    private readonly string _url;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<int, Avro.Schema> _known = new();
    private readonly ConcurrentDictionary<int, (long At, string Why)> _unknown = new();

    public RegistryWriterSchemas(string url, TimeProvider time, TimeSpan? negativeTtl = null)
    {
        _url = url;
        _time = time;
        NegativeTtl = negativeTtl ?? TimeSpan.FromMinutes(5);
        _client = new CachedSchemaRegistryClient(new SchemaRegistryConfig { Url = url, RequestTimeoutMs = 10_000 });
    }

    /// <summary>How long an id the registry answered "not found" for stays unknown before it is asked again.</summary>
    public TimeSpan NegativeTtl { get; }

    /// <summary>True when <paramref name="id"/> needs no registry request now: known, or recently unknown.</summary>
    public bool IsSettled(int id) =>
        id <= 0 || _known.ContainsKey(id) || (_unknown.TryGetValue(id, out var u) && _time.GetElapsedTime(u.At) < NegativeTtl);

    /// <summary>
    /// The writer schema of <paramref name="id"/>, or null with the reason (for the serializer, after
    /// <see cref="ResolveAsync"/>). An id the registry does not know falls back to the catalogue, so records
    /// written before the producers moved to the registry still decode.
    /// </summary>
    public Avro.Schema? Find(int id, out string? why)
    {
        why = null;
        if (_known.TryGetValue(id, out var schema)) return schema;
        if (SchemaCatalog.Find(id) is { } catalogued) return catalogued;
        why = id <= 0
            ? $"schema id {id} cannot be a registry id"
            : _unknown.TryGetValue(id, out var u) ? u.Why : $"schema id {id} was not looked up in the registry";
        return null;
    }

    /// <summary>
    /// Looks <paramref name="id"/> up until the registry answers: its schema, or "not found". While it does not
    /// answer (unreachable, 5xx, 429), <paramref name="waiting"/> gets the reason and it retries with backoff.
    /// </summary>
    public async Task ResolveAsync(int id, Action<string> waiting, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(waiting);
        var delay = TimeSpan.FromMilliseconds(500);
        while (!IsSettled(id))
        {
            try
            {
                var registered = await _client.GetSchemaAsync(id).WaitAsync(cancellationToken);
                Settle(id, registered);
                return;
            }
            catch (SchemaRegistryException ex) when (ex.Status == HttpStatusCode.NotFound)
            {
                Unknown(id, $"schema id {id} is not in the schema registry at {SecretMask.MaskUrl(new Uri(_url))}");
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                waiting($"waiting for the schema registry at {SecretMask.MaskUrl(new Uri(_url))} to resolve schema id {id}: {ex.GetBaseException().Message}");
                await Task.Delay(delay, _time, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
        }
    }

    private void Settle(int id, Schema registered)
    {
        if (registered.SchemaType != SchemaType.Avro)
        {
            Unknown(id, $"schema id {id} is a {registered.SchemaType} schema in the registry, not Avro");
            return;
        }
        try
        {
            _known[id] = Avro.Schema.Parse(registered.SchemaString);
        }
        catch (Avro.AvroException ex)
        {
            Unknown(id, $"schema id {id} in the registry does not parse as Avro: {ex.Message}");
        }
    }

    private void Unknown(int id, string why)
    {
        // Bounded: a stream of random ids must not grow this without end; forgetting only costs a lookup.
        if (_unknown.Count >= MaxUnknown) _unknown.Clear();
        _unknown[id] = (_time.GetTimestamp(), why);
    }

    public void Dispose() => _client.Dispose();
}
