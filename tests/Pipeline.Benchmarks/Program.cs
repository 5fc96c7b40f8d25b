using BenchmarkDotNet.Running;
using Pipeline.Benchmarks;

// `e2e [events] [series]`: end-to-end throughput on the local servers; anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "e2e")
{
    var events = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 120_000;
    var series = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 2_000;
    return await EndToEnd.RunAsync(events, series);
}
BenchmarkSwitcher.FromAssembly(typeof(SerializerBenchmarks).Assembly).Run(args);
return 0;
