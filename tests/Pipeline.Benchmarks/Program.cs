using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Pipeline.Benchmarks.SerializerBenchmarks).Assembly).Run(args);
