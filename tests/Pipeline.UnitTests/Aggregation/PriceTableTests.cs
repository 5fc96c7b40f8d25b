using Pipeline.Aggregation;
using Pipeline.Schemas;
using Pipeline.Tests;

namespace Pipeline.UnitTests.Aggregation;

public sealed class PriceTableTests
{
    private static readonly DateTimeOffset December = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    private static LlmCall Call(string model, DateTimeOffset at) => Samples.MinimalCall() with
    {
        Provider = "acme", RequestModel = model, OccurredAt = at, InputTokens = 1_000_000, OutputTokens = 500_000, CachedInputTokens = 200_000, CostUsd = null,
    };

    [Fact]
    public void CostOf_UnknownModel_IsNull_NotZero()
    {
        Assert.Null(PriceTable.Default.CostOf(Call("in-house-llm", December)));
    }

    [Fact]
    public void CostOf_ReportedCost_WinsOverAnyPrice()
    {
        var table = PriceTable.Default.With([new PriceEntry("acme", "in-house-llm", new ModelPrice(1, 2))]);
        Assert.Equal(0.5, table.CostOf(Call("in-house-llm", December) with { CostUsd = 0.5 }));
    }

    [Fact]
    public void With_AddedModel_PricesItsCalls_CachedTokensAtTheirOwnPrice()
    {
        var table = PriceTable.Default.With([new PriceEntry("ACME", "In-House-LLM", new ModelPrice(2, 6, 0.5))]);
        // 800k uncached input at 2, 200k cached at 0.5, 500k output at 6 per 1M.
        Assert.Equal(0.8 * 2 + 0.2 * 0.5 + 0.5 * 6, table.CostOf(Call("in-house-llm", December))!.Value, 12);
    }

    [Fact]
    public void CostOf_DatedEntries_EachCallPricedByTheEntryInForceWhenItOccurred()
    {
        var table = PriceTable.Default.With(
        [
            new PriceEntry("acme", "m", new ModelPrice(1, 0), EffectiveFrom: December),
            new PriceEntry("acme", "m", new ModelPrice(3, 0), EffectiveFrom: December.AddDays(10)),
        ]);
        var tokens = Call("m", December) with { CachedInputTokens = null, OutputTokens = 0 };
        Assert.Null(table.CostOf(tokens with { OccurredAt = December.AddTicks(-1) }));
        Assert.Equal(1, table.CostOf(tokens));
        Assert.Equal(1, table.CostOf(tokens with { OccurredAt = December.AddDays(10).AddTicks(-1) }));
        Assert.Equal(3, table.CostOf(tokens with { OccurredAt = December.AddDays(10) }));
        Assert.Equal(3, table.CostOf(tokens with { OccurredAt = December.AddYears(3) }));
    }

    [Fact]
    public void With_DatedOverrideOfABuiltInModel_KeepsTheBuiltInPriceBeforeTheDate()
    {
        var table = PriceTable.Default.With([new PriceEntry("openai", "gpt-4o", new ModelPrice(5, 20), EffectiveFrom: December)]);
        var call = Call("gpt-4o", December) with { Provider = "openai", CachedInputTokens = null, OutputTokens = 0 };
        Assert.Equal(2.50, table.CostOf(call with { OccurredAt = December.AddMinutes(-1) }));
        Assert.Equal(5, table.CostOf(call));
    }

    [Fact]
    public void With_UndatedOverride_ReplacesTheBuiltInPriceForEveryCall()
    {
        var table = PriceTable.Default.With([new PriceEntry("openai", "gpt-4o", new ModelPrice(5, 20))]);
        var call = Call("gpt-4o", December) with { Provider = "openai", CachedInputTokens = null, OutputTokens = 0 };
        Assert.Equal(5, table.CostOf(call with { OccurredAt = December.AddYears(-5) }));
        Assert.Single(table.Entries, e => e.Model == "gpt-4o");
    }

    [Fact]
    public void Version_NamesTheConfiguredEntries_SameEntriesInAnyOrderSameVersion()
    {
        PriceEntry a = new("acme", "m", new ModelPrice(1, 2)), b = new("acme", "n", new ModelPrice(1, 2), EffectiveFrom: December);
        Assert.Same(PriceTable.Default, PriceTable.Default.With([]));
        var ab = PriceTable.Default.With([a, b]).Version;
        Assert.Matches("^2026-11-01\\+config-[0-9a-f]{8}$", ab);
        Assert.Equal(ab, PriceTable.Default.With([b, a]).Version);
        Assert.NotEqual(ab, PriceTable.Default.With([a, b with { Price = new ModelPrice(1, 3) }]).Version);
    }

    [Fact]
    public void Describe_SaysPricesDateAndSource()
    {
        Assert.Equal("input 2.5, cached input 1.25, output 10 USD per 1M tokens; always (built-in)",
            PriceTable.Describe(PriceTable.Default.Entries.Single(e => e.Model == "gpt-4o")));
        Assert.Equal("input 1, cached input as input, output 2 USD per 1M tokens; from 2026-12-01T12:30:00Z (Aggregator:Prices:0)",
            PriceTable.Describe(new PriceEntry("acme", "m", new ModelPrice(1, 2), December.AddMinutes(750), "Aggregator:Prices:0")));
    }
}
