using Pipeline.ClickHouse;

namespace Pipeline.UnitTests.ClickHouse;

public sealed class ClickHouseErrorsTests
{
    [Theory]
    [InlineData(500, "Code: 252. DB::Exception: Too many parts (300). Merges are processing significantly slower than inserts.", ClickHouseErrorClass.Transient)]
    [InlineData(500, "Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded", ClickHouseErrorClass.Transient)]
    [InlineData(404, "Code: 16, e.displayText() = DB::Exception: No such column cache_hit in table calls", ClickHouseErrorClass.Blocked)]
    [InlineData(404, "Code: 60. DB::Exception: Table t.calls doesn't exist", ClickHouseErrorClass.Blocked)]
    [InlineData(516, "Code: 516. DB::Exception: pipeline: Authentication failed", ClickHouseErrorClass.Blocked)]
    [InlineData(400, "Code: 27. DB::Exception: Cannot parse input: expected '\\t'", ClickHouseErrorClass.Rejected)]
    [InlineData(502, "Bad gateway", ClickHouseErrorClass.Transient)]
    [InlineData(400, "something new", ClickHouseErrorClass.Blocked)]
    [InlineData(0, "ClickHouse at http://127.0.0.1:1/ is unreachable", ClickHouseErrorClass.Transient)]
    public void Classify_ByServerCode_ChoosesRetryWaitOrIsolate(int status, string message, ClickHouseErrorClass expected)
    {
        var ex = new ClickHouseException(status, message);
        Assert.Equal(expected, ex.Class);
        Assert.Equal(expected, ClickHouseErrors.Classify(ex));
    }

    [Fact]
    public void Classify_TransportFailures_AreTransient_OtherExceptionsUnknown()
    {
        Assert.Equal(ClickHouseErrorClass.Transient, ClickHouseErrors.Classify(new HttpRequestException("refused")));
        Assert.Equal(ClickHouseErrorClass.Transient, ClickHouseErrors.Classify(new IOException("reset")));
        Assert.Null(ClickHouseErrors.Classify(new InvalidCastException()));
    }

    [Theory]
    [InlineData("Code: 252. DB::Exception: x", 252)]
    [InlineData("ClickHouse insert into calls failed: Code: 16, e.displayText() = ...", 16)]
    [InlineData("no code here", null)]
    public void CodeOf_FindsTheServerCode(string message, int? expected) => Assert.Equal(expected, ClickHouseErrors.CodeOf(message));
}
