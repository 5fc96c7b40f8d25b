using BenchmarkDotNet.Running;
using Pipeline.Benchmarks;

// `e2e [events] [series] [runs]`: end-to-end measures on the local servers, each run in a process of its own
// (a run must not inherit the previous one's heap and threads), then their medians; anything else goes to
// BenchmarkDotNet.
if (args.Length > 0 && args[0] == "e2e")
{
    var inv = System.Globalization.CultureInfo.InvariantCulture;
    var events = args.Length > 1 ? int.Parse(args[1], inv) : 120_000;
    var series = args.Length > 2 ? int.Parse(args[2], inv) : 2_000;
    var runs = args.Length > 3 ? int.Parse(args[3], inv) : 3;
    if (args.Length > 4)
    {
        // A child run: measure once, write the figures for the parent.
        var status = await EndToEnd.RunAsync(events, series);
        await File.WriteAllTextAsync(args[4], System.Text.Json.JsonSerializer.Serialize(EndToEnd.Results[0]));
        return status;
    }
    var failed = 0;
    for (var i = 0; i < runs; i++)
    {
        Console.WriteLine($"run {i + 1} of {runs}");
        var file = Path.GetTempFileName();
        var psi = new System.Diagnostics.ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false };
        foreach (var a in new[] { typeof(EndToEnd).Assembly.Location, "e2e", events.ToString(inv), series.ToString(inv), "1", file }) psi.ArgumentList.Add(a);
        using var child = System.Diagnostics.Process.Start(psi)!;
        await child.WaitForExitAsync();
        failed |= child.ExitCode;
        EndToEnd.Results.Add(System.Text.Json.JsonSerializer.Deserialize<List<EndToEnd.Measure>>(await File.ReadAllTextAsync(file))!);
        File.Delete(file);
    }
    Console.WriteLine();
    EndToEnd.Print(EndToEnd.Medians(), runs);
    return failed;
}
// `backfill [live] [behind] [rate] [series]`: late data at volume through one worker (docs/benchmarks.md).
if (args.Length > 0 && args[0] == "backfill")
{
    var inv = System.Globalization.CultureInfo.InvariantCulture;
    return await Backfill.RunAsync(args.Length > 1 ? int.Parse(args[1], inv) : 50_000, args.Length > 2 ? int.Parse(args[2], inv) : 300_000,
        args.Length > 3 ? int.Parse(args[3], inv) : 2_000, args.Length > 4 ? int.Parse(args[4], inv) : 20);
}
// `dashboard [series] [days] [runs]`: a long dashboard range read from the rollups (docs/benchmarks.md).
if (args.Length > 0 && args[0] == "dashboard")
{
    var inv = System.Globalization.CultureInfo.InvariantCulture;
    return await DashboardRange.RunAsync(args.Length > 1 ? int.Parse(args[1], inv) : 1_000, args.Length > 2 ? int.Parse(args[2], inv) : 30,
        args.Length > 3 ? int.Parse(args[3], inv) : 3);
}
// `live [samples]`: the dashboard's push delay, a window published to an open page's event stream (docs/benchmarks.md).
if (args.Length > 0 && args[0] == "live")
{
    return await LivePush.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 50);
}

// `ingest [spans]`: spans/s through pipeline ingest next to the SDK's events/s (docs/benchmarks.md).
if (args.Length > 0 && args[0] == "ingest")
{
    return await IngestThroughput.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 100_000);
}
BenchmarkSwitcher.FromAssembly(typeof(SerializerBenchmarks).Assembly).Run(args);
return 0;
