using System.Buffers.Binary;
using System.Net;
using Confluent.SchemaRegistry;
using Microsoft.Extensions.Logging;
using Pipeline.Schemas;

namespace Pipeline.Producers;

/// <summary>
/// The schema id written in every event: the catalogue's, or the id a Confluent Schema Registry gives the
/// <c>llm_call</c> schema under <c>{Topic}-value</c>. A registry that refuses the schema (4xx: incompatible,
/// unauthorized) fails start-up naming the setting; one that cannot be reached does not: registration is
/// retried in the background, and until it succeeds the producer spills (nothing leaves with a wrong id).
/// Events are always serialized with the catalogue id and re-framed on the way to Kafka
/// (<see cref="Frame"/>), so spilled events need no id when they are written.
/// </summary>
internal sealed partial class SchemaIdResolver : IDisposable
{
    private static readonly TimeSpan FirstAttemptTimeout = TimeSpan.FromSeconds(5);
    private readonly ProducerOptions _options;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _resolved = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _id;

    public SchemaIdResolver(ProducerOptions options, ILogger log, TimeProvider time)
    {
        _options = options;
        _log = log;
        _time = time;
        if (string.IsNullOrWhiteSpace(options.SchemaRegistryUrl))
        {
            Resolve(SchemaCatalog.LlmCallV1);
            return;
        }
        var first = TryRegister(FirstAttemptTimeout);
        if (first is { } id)
        {
            Resolve(id);
            return;
        }
        _ = Task.Run(RetryAsync);
    }

    /// <summary>True once the id is known.</summary>
    public bool IsResolved => _resolved.Task.IsCompleted;

    /// <summary>The id, or 0 while a registry has not answered yet.</summary>
    public int Id => Volatile.Read(ref _id);

    /// <summary>Completes when the id is known.</summary>
    public Task Resolved => _resolved.Task;

    /// <summary>
    /// Writes the resolved id into a record this SDK serialized (framed with the catalogue id, in place).
    /// Records framed with any other id (spilled by another SDK version) are left as they are.
    /// </summary>
    public byte[] Frame(byte[] value)
    {
        var id = Id;
        if (id != SchemaCatalog.LlmCallV1 && id != 0 && value.Length >= WireFormat.HeaderLength
            && BinaryPrimitives.ReadInt32BigEndian(value.AsSpan(1)) == SchemaCatalog.LlmCallV1)
        {
            WireFormat.WriteHeader(value, id);
        }
        return value;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }

    private void Resolve(int id)
    {
        Volatile.Write(ref _id, id);
        _resolved.TrySetResult();
    }

    private int? TryRegister(TimeSpan timeout)
    {
        try
        {
            using var registry = new CachedSchemaRegistryClient(new SchemaRegistryConfig
            {
                Url = _options.SchemaRegistryUrl, RequestTimeoutMs = (int)timeout.TotalMilliseconds,
            });
            var schema = new Schema(SchemaCatalog.LlmCall.ToString(), SchemaType.Avro);
            return registry.RegisterSchemaAsync($"{_options.Topic}-value", schema).GetAwaiter().GetResult();
        }
        catch (SchemaRegistryException ex) when (ex.Status is >= HttpStatusCode.BadRequest and < HttpStatusCode.InternalServerError
            and not HttpStatusCode.RequestTimeout and not HttpStatusCode.TooManyRequests)
        {
            // The registry answered and refused: a configuration problem, not an outage.
            throw new InvalidOperationException($"{ProducerOptions.Section}:SchemaRegistryUrl: the registry at {SecretMask.MaskText(_options.SchemaRegistryUrl!)} refused the llm_call schema: {ex.Message}", ex);
        }
#pragma warning disable CA1031 // any other failure is an outage: retried, never fatal
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogUnreachable(_log, SecretMask.MaskText(_options.SchemaRegistryUrl!), ex.GetBaseException().Message);
            return null;
        }
    }

    private async Task RetryAsync()
    {
        var delay = TimeSpan.FromSeconds(1);
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(delay, _time, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            int? id;
            try
            {
                id = TryRegister(TimeSpan.FromSeconds(10));
            }
            catch (InvalidOperationException ex)
            {
                // Refused after an outage: events stay in the spill; the log says why, every attempt.
                LogRefused(_log, ex.Message);
                id = null;
            }
            if (id is { } resolved)
            {
                Resolve(resolved);
                LogRegistered(_log, resolved);
                return;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "schema registry {Url} unreachable ({Reason}): events go to the disk spill until the llm_call schema is registered")]
    private static partial void LogUnreachable(ILogger log, string url, string reason);
    [LoggerMessage(Level = LogLevel.Error, Message = "{Reason}")]
    private static partial void LogRefused(ILogger log, string reason);
    [LoggerMessage(Level = LogLevel.Information, Message = "llm_call schema registered with id {Id}")]
    private static partial void LogRegistered(ILogger log, int id);
}
