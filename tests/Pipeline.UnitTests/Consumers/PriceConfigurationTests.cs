using Pipeline.Consumers;

namespace Pipeline.UnitTests.Consumers;

public sealed class PriceConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pipeline-prices-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static PriceOptions Price(string model, double input = 1, double output = 2, string? from = null) =>
        new() { Provider = "acme", Model = model, InputPerMillion = input, OutputPerMillion = output, EffectiveFrom = from };

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Theory]
    [InlineData("2026-12-01", "2026-12-01T00:00:00Z")]
    [InlineData("2026-12-01T09:30Z", "2026-12-01T09:30:00Z")]
    [InlineData("2026-12-01T09:30:15+02:00", "2026-12-01T07:30:15Z")]
    [InlineData("2026-12-01T09:30:15", "2026-12-01T09:30:15Z")]
    public void TryParseEffectiveFrom_IsoDatesAndTimes_ReadAsUtc(string text, string expected)
    {
        Assert.True(PriceOptions.TryParseEffectiveFrom(text, out var at, out _));
        Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), at);
    }

    [Theory]
    [InlineData("01/12/2026")]
    [InlineData("2026-13-01")]
    [InlineData("tomorrow")]
    [InlineData("2026-12-01 09:30")]
    public void TryParseEffectiveFrom_AnythingElse_IsRefusedSayingTheFormat(string text)
    {
        Assert.False(PriceOptions.TryParseEffectiveFrom(text, out _, out var error));
        Assert.Contains("yyyy-MM-dd", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_NoPrices_IsTheBuiltInTable()
    {
        var problems = new List<string>();
        Assert.Same(Pipeline.Aggregation.PriceTable.Default, PriceConfiguration.Build(new AggregatorOptions(), problems));
        Assert.Empty(problems);
    }

    [Fact]
    public void Build_InlineAndFile_AddToTheBuiltInTable_WithTheirSources()
    {
        var file = Write("prices.yaml", """
            # USD per 1M tokens
            prices:
              - provider: acme
                model: file-model
                input_per_million: 1.5
                cached_input_per_million: 0.5
                output_per_million: 3
                effective_from: 2026-12-01
            """);
        var problems = new List<string>();
        var table = PriceConfiguration.Build(new AggregatorOptions { PricesFile = file, Prices = [Price("inline-model")] }, problems);
        Assert.Empty(problems);
        var fromFile = Assert.Single(table.Entries, e => e.Model == "file-model");
        Assert.Equal(new Pipeline.Aggregation.ModelPrice(1.5, 3, 0.5), fromFile.Price);
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero), fromFile.EffectiveFrom);
        Assert.Equal($"{file}:3", fromFile.Source);
        Assert.Equal("Aggregator:Prices:0", Assert.Single(table.Entries, e => e.Model == "inline-model").Source);
        Assert.Contains(table.Entries, e => e.Model == "gpt-4o" && e.Source == "built-in");
        Assert.StartsWith("2026-11-01+config-", table.Version, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_JsonFile_ReadsTheSameFormat()
    {
        var file = Write("prices.json", """{ "prices": [ { "provider": "acme", "model": "m", "InputPerMillion": 1, "output_per_million": 2.5 } ] }""");
        var problems = new List<string>();
        var table = PriceConfiguration.Build(new AggregatorOptions { PricesFile = file }, problems);
        Assert.Empty(problems);
        Assert.Equal(2.5, Assert.Single(table.Entries, e => e.Model == "m").Price.OutputPerMillion);
    }

    [Fact]
    public void Build_BadInlineEntries_EveryProblemNamesItsKey()
    {
        var problems = new List<string>();
        var table = PriceConfiguration.Build(new AggregatorOptions
        {
            Prices =
            [
                new PriceOptions { Provider = "acme", InputPerMillion = -1, OutputPerMillion = double.NaN, EffectiveFrom = "01/12/2026" },
                new PriceOptions { Provider = "acme", Model = "m", InputPerMillion = 1 },
                new PriceOptions { Provider = "acme", Model = "m", InputPerMillion = 1, OutputPerMillion = 1, CachedInputPerMillion = 20_000 },
            ],
        }, problems);
        Assert.Same(Pipeline.Aggregation.PriceTable.Default, table);
        Assert.Contains("Aggregator:Prices:0:Model: is required", problems);
        Assert.Contains("Aggregator:Prices:0:InputPerMillion: must be between 0 and 10000 (got -1)", problems);
        Assert.Contains("Aggregator:Prices:0:OutputPerMillion: must be between 0 and 10000 (got NaN)", problems);
        Assert.Contains(problems, p => p.StartsWith("Aggregator:Prices:0:EffectiveFrom: is not a date (got '01/12/2026')", StringComparison.Ordinal));
        Assert.Contains("Aggregator:Prices:1:OutputPerMillion: is required", problems);
        Assert.Contains("Aggregator:Prices:2:CachedInputPerMillion: must be between 0 and 10000 (got 20000)", problems);
        Assert.Equal(6, problems.Count);
    }

    [Fact]
    public void Build_SameProviderModelAndDateTwice_IsRefused_AnotherDateIsNot()
    {
        var file = Write("p.yaml", "prices:\n  - { provider: ACME, model: M, input_per_million: 1, output_per_million: 1, effective_from: 2026-12-01 }\n");
        var problems = new List<string>();
        PriceConfiguration.Build(new AggregatorOptions { PricesFile = file, Prices = [Price("m", from: "2026-12-01T00:00:00Z"), Price("m", from: "2027-01-01")] }, problems);
        var problem = Assert.Single(problems);
        Assert.Equal($"Aggregator:Prices:0: same provider, model and effective date as {file}:2; keep one", problem);
    }

    [Fact]
    public void Build_BadFile_EveryProblemNamesTheKeyTheLineAndTheField()
    {
        var file = Write("bad.yaml", """
            prices:
              - provider: acme
                model: m
                input_per_million: -1
                output_per_milion: 3
              - provider: acme
                input_per_million: x
                output_per_million: 2
                effective_from: tomorrow
              - just a string
            extra: 1
            """);
        var problems = new List<string>();
        PriceConfiguration.Build(new AggregatorOptions { PricesFile = file }, problems);
        var prefix = $"Aggregator:PricesFile: {file}:";
        Assert.All(problems, p => Assert.StartsWith(prefix, p, StringComparison.Ordinal));
        var reasons = problems.Select(p => p[prefix.Length..]).ToList();
        Assert.Contains("4: prices[0] 'input_per_million' must be between 0 and 10000 (got -1)", reasons);
        Assert.Contains(reasons, r => r.StartsWith("5: prices[0] 'output_per_milion' is an unknown field (known: provider, model, input_per_million,", StringComparison.Ordinal));
        Assert.Contains("2: prices[0] 'output_per_million' is required", reasons);
        Assert.Contains("7: prices[1] 'input_per_million' must be a number (got 'x')", reasons);
        Assert.Contains("6: prices[1] 'model' is required", reasons);
        Assert.Contains(reasons, r => r.StartsWith("9: prices[1] 'effective_from' is not a date (got 'tomorrow')", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.StartsWith("10: prices[2] must be a mapping", StringComparison.Ordinal));
        Assert.Contains("11: 'extra' is an unknown key (known: prices)", reasons);
        Assert.Equal(8, problems.Count);
    }

    [Theory]
    [InlineData("prices: [", "not valid YAML or JSON")]
    [InlineData("- a\n- b\n", "expected a mapping with a 'prices' list")]
    [InlineData("other: 1\n", "expected a 'prices' list")]
    [InlineData("prices: 3\n", "'prices' must be a list of entries")]
    public void Build_FileOfTheWrongShape_SaysWhatIsExpected(string text, string expected)
    {
        var problems = new List<string>();
        PriceConfiguration.Build(new AggregatorOptions { PricesFile = Write("x.yaml", text) }, problems);
        Assert.Contains(problems, p => p.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Build_MissingFile_NamesTheKeyAndThePath()
    {
        var problems = new List<string>();
        PriceConfiguration.Build(new AggregatorOptions { PricesFile = Path.Combine(_dir, "nope.yaml") }, problems);
        Assert.Equal($"Aggregator:PricesFile: {Path.Combine(_dir, "nope.yaml")}: file does not exist", Assert.Single(problems));
    }

    [Fact]
    public void Build_WithoutAProblemList_ThrowsNamingEveryProblem()
    {
        var ex = Assert.Throws<ArgumentException>(() => PriceConfiguration.Build(new AggregatorOptions { Prices = [new PriceOptions { Provider = "a", Model = "b" }] }));
        Assert.Contains("Aggregator:Prices:0:InputPerMillion: is required; Aggregator:Prices:0:OutputPerMillion: is required", ex.Message, StringComparison.Ordinal);
    }
}
