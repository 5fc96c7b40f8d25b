using BenchmarkDotNet.Running;
using Pipeline.Benchmarks;

// `e2e [events] [series] [runs]`: end-to-end measures on the local servers, then their medians over the runs;
// anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "e2e")
{
    var inv = System.Globalization.CultureInfo.InvariantCulture;
    var events = args.Length > 1 ? int.Parse(args[1], inv) : 120_000;
    var series = args.Length > 2 ? int.Parse(args[2], inv) : 2_000;
    var runs = args.Length > 3 ? int.Parse(args[3], inv) : 3;
    var status = 0;
    for (var i = 0; i < runs; i++)
    {
        Console.WriteLine($"run {i + 1} of {runs}");
        status |= await EndToEnd.RunAsync(events, series);
    }
    Console.WriteLine();
    EndToEnd.Print(EndToEnd.Medians(), runs);
    return status;
}
BenchmarkSwitcher.FromAssembly(typeof(SerializerBenchmarks).Assembly).Run(args);
return 0;
