using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Pipeline.Producers;

/// <summary>One-line registration of the producer in a .NET service.</summary>
public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="LlmCallProducer"/> (and <see cref="ILlmCallTracker"/>) as a singleton configured
    /// from <paramref name="configuration"/> section <c>Pipeline:Producer</c>. Bad settings fail when the host
    /// starts, naming the key; the container disposes the producer on shutdown, which drains it.
    /// </summary>
    public static IServiceCollection AddPipelineProducer(this IServiceCollection services, IConfiguration configuration, string section = ProducerOptions.Section)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<ProducerOptions>().Bind(configuration.GetSection(section)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ProducerOptions>>(new ProducerOptionsValidation(section)));
        services.TryAddSingleton(sp => new LlmCallProducer(
            sp.GetRequiredService<IOptions<ProducerOptions>>().Value,
            sp.GetService<ILoggerFactory>()?.CreateLogger<LlmCallProducer>(),
            sp.GetService<TimeProvider>(),
            sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<ILlmCallTracker>(sp => sp.GetRequiredService<LlmCallProducer>());
        return services;
    }

    private sealed class ProducerOptionsValidation(string section) : IValidateOptions<ProducerOptions>
    {
        public ValidateOptionsResult Validate(string? name, ProducerOptions options) =>
            options.Validate() is { } problem ? ValidateOptionsResult.Fail($"{section}:{problem}") : ValidateOptionsResult.Success;
    }
}
