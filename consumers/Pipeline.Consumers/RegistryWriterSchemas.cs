using System.Collections.Concurrent;
using System.Net;
using Confluent.SchemaRegistry;
using Pipeline.Schemas;

namespace Pipeline.Consumers;

/// <summary>
/// Writer schemas by id from a Confluent Schema Registry, for the aggregator when producers register their
/// schema (<c>Producer:SchemaRegistryUrl</c>). With a registry configured it is authoritative for every id: a
/// fresh registry numbers from 1, so its ids may collide with the built-in catalogue's; only an id the registry
/// answers "not found" for falls back to the catalogue (records from before the move to a registry). Known ids are cached
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
    // Ids the registry does not know (NotFound: its 40403, so the catalogue may have them) or holds as unusable.
    private readonly ConcurrentDictionary<int, (long At, string Why, bool NotFound)> _unknown = new();

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
    /// <see cref="ResolveAsync"/>). Only an id the registry answered "not found" for falls back to the
    /// catalogue, so records written before the producers moved to the registry still decode; an id the
    /// registry holds as something else (not Avro, not parseable) is refused with that reason.
    /// </summary>
    public Avro.Schema? Find(int id, out string? why)
    {
        why = null;
        if (_known.TryGetValue(id, out var schema)) return schema;
        if (_unknown.TryGetValue(id, out var u))
        {
            if (u.NotFound && SchemaCatalog.Find(id) is { } catalogued) return catalogued;
            why = u.Why;
            return null;
        }
        why = id <= 0 ? $"schema id {id} cannot be a registry id" : $"schema id {id} was not looked up in the registry";
        return null;
    }

    /// <summary>
    /// Looks <paramref name="id"/> up until the registry answers: its schema, "not found" (error code 40403),
    /// or a schema that cannot be used. While it does not answer as a registry (unreachable, timeouts, 5xx, 429,
    /// or a 404 without the registry's error code, as a mistyped URL gives), <paramref name="waiting"/> gets the
    /// reason and it retries with backoff up to 10 s.
    /// </summary>
    public async Task ResolveAsync(int id, Action<string> waiting, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(waiting);
        var delay = TimeSpan.FromMilliseconds(500);
        var at = SecretMask.MaskText(_url);
        while (!IsSettled(id))
        {
            Schema registered;
            try
            {
                registered = await _client.GetSchemaAsync(id).WaitAsync(cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                var error = Unwrap(ex);
                if (error is SchemaRegistryException { ErrorCode: 40403 })
                {
                    Unknown(id, $"schema id {id} is not in the schema registry at {at}", notFound: true);
                    return;
                }
                if (error is SchemaRegistryException { Status: var status } && status is >= HttpStatusCode.BadRequest and < HttpStatusCode.InternalServerError
                    and not HttpStatusCode.NotFound and not HttpStatusCode.RequestTimeout and not HttpStatusCode.TooManyRequests)
                {
                    // The registry answered and refused (401, 403, 422...): waiting cannot help, but dead-lettering would
                    // lose good events to a credential problem. Wait, and say it plainly.
                    waiting($"the schema registry at {at} refuses to give schema id {id}: {(int)status} {error.Message}; waiting (check Aggregator:SchemaRegistryUrl and its credentials)");
                }
                else if (error is SchemaRegistryException or HttpRequestException or TimeoutException or TaskCanceledException or IOException)
                {
                    waiting($"waiting for the schema registry at {at} to resolve schema id {id}: {Describe(error)}");
                }
                else
                {
                    // The registry answered 200 with a body that is no schema: this id is unusable, not the registry away.
                    Unknown(id, $"schema id {id} from the schema registry at {at} could not be read: {Describe(error)}", notFound: false);
                    return;
                }
                await Task.Delay(delay, _time, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
                continue;
            }
            Settle(id, registered, at);
            return;
        }
    }

    // The client wraps failures in AggregateException ("One or more errors occurred"): the first real one.
    private static Exception Unwrap(Exception ex)
    {
        while (ex is AggregateException { InnerExceptions.Count: > 0 } aggregate) ex = aggregate.InnerExceptions[0];
        return ex;
    }

    private static string Describe(Exception ex) => ex switch
    {
        SchemaRegistryException r => $"HTTP {(int)r.Status} {r.Message}",
        _ => $"{ex.GetType().Name}: {(ex.InnerException is { } inner ? inner.Message : ex.Message)}",
    };

    private void Settle(int id, Schema registered, string at)
    {
        if (registered.SchemaType != SchemaType.Avro)
        {
            Unknown(id, $"schema id {id} is a {registered.SchemaType} schema in the registry at {at}, not Avro", notFound: false);
            return;
        }
        try
        {
            _known[id] = Avro.Schema.Parse(registered.SchemaString);
        }
        catch (Avro.AvroException ex)
        {
            Unknown(id, $"schema id {id} in the registry at {at} does not parse as Avro: {ex.Message}", notFound: false);
        }
    }

    private void Unknown(int id, string why, bool notFound)
    {
        // Bounded: a stream of random ids must not grow this without end; forgetting only costs a lookup.
        if (_unknown.Count >= MaxUnknown) _unknown.Clear();
        _unknown[id] = (_time.GetTimestamp(), why, notFound);
    }

    public void Dispose() => _client.Dispose();
}
