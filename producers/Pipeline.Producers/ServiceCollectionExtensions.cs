using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Pipeline.Producers;

/// <summary>One-line registration of the producer in a .NET service.</summary>
public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="LlmCallProducer"/> (and <see cref="ILlmCallTracker"/>) as a singleton configured
    /// from <paramref name="configuration"/> section <c>Pipeline:Producer</c>, started with the host: bad
    /// settings (librdkafka's keys included) fail the host's start naming the key, servers that cannot be
    /// reached never do, and events an earlier process left in the spill are sent without waiting for a first
    /// call. On host stop it drains for <see cref="ProducerOptions.DrainTimeout"/>; the rest stays on disk.
    /// </summary>
    public static IServiceCollection AddPipelineProducer(this IServiceCollection services, IConfiguration configuration, string section = ProducerOptions.Section)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        // A mistyped key (SpilDirectory) would otherwise be ignored and its default used: refuse it at start.
        services.AddOptions<ProducerOptions>().Bind(configuration.GetSection(section), o => o.ErrorOnUnknownConfiguration = true).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ProducerOptions>>(new ProducerOptionsValidation(section)));
        services.TryAddSingleton(sp => new LlmCallProducer(
            sp.GetRequiredService<IOptions<ProducerOptions>>().Value,
            sp.GetService<ILoggerFactory>()?.CreateLogger<LlmCallProducer>(),
            sp.GetService<TimeProvider>(),
            sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<ILlmCallTracker>(sp => sp.GetRequiredService<LlmCallProducer>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ProducerLifetime>());
        return services;
    }

    private sealed class ProducerOptionsValidation(string section) : IValidateOptions<ProducerOptions>
    {
        public ValidateOptionsResult Validate(string? name, ProducerOptions options) =>
            options.Validate() is { } problem ? ValidateOptionsResult.Fail($"{section}:{problem}") : ValidateOptionsResult.Success;
    }
}

/// <summary>The producer's health check.</summary>
public static class HealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a health check (default name <c>pipeline-producer</c>) that is Degraded while events go to or wait
    /// in the disk spill (Kafka unreachable, or replay in progress), Healthy otherwise; never Unhealthy, since the
    /// host keeps serving either way.
    /// </summary>
    public static IHealthChecksBuilder AddPipelineProducer(this IHealthChecksBuilder builder, string name = "pipeline-producer", IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Add(new HealthCheckRegistration(name, sp => new ProducerHealthCheck(sp.GetRequiredService<LlmCallProducer>()), HealthStatus.Degraded, tags));
    }
}

/// <summary>Starts the producer with the host (so a bad setting fails start-up and a leftover spill is sent at once) and drains it on stop.</summary>
internal sealed class ProducerLifetime(IServiceProvider services) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = services.GetRequiredService<LlmCallProducer>();
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken) => await services.GetRequiredService<LlmCallProducer>().DisposeAsync().ConfigureAwait(false);
}

/// <summary>Degraded while the producer spills; the numbers in its data.</summary>
internal sealed class ProducerHealthCheck(LlmCallProducer producer) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object>
        {
            ["on_disk"] = producer.SpilledOnDisk, ["outstanding"] = producer.Outstanding, ["dropped"] = producer.Dropped, ["spill_folder"] = producer.SpillDirectory,
        };
        var result = producer.IsSpilling || producer.SpilledOnDisk > 0
            ? HealthCheckResult.Degraded($"Kafka unreachable or replaying: {producer.SpilledOnDisk} events in the disk spill", data: data)
            : HealthCheckResult.Healthy("sending live", data);
        return Task.FromResult(result);
    }
}
