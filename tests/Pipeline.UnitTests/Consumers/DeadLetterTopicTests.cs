using Pipeline.Consumers;

namespace Pipeline.UnitTests.Consumers;

public sealed class DeadLetterTopicTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);

    private static DeadLetter Letter(string failure, string reason, DateTimeOffset at, int partition = 0, long offset = 0, string? source = "llm.calls.v1/3/42") =>
        new("llm.calls.dlq.v1", partition, offset, at, null, [1, 2, 3], failure, reason, source, null);

    [Theory]
    [InlineData("occurred_at: 2026-01-01T00:00:00.0000000+00:00 is more than 30.00:00:00 in the past", "occurred_at")]
    [InlineData("latency_ms: NaN is not a finite number", "latency_ms")]
    [InlineData("tags.feature: contains control character U+0007", "tags.feature")]
    [InlineData("record of 2 bytes is shorter than the 5-byte Confluent header", "record of N bytes is shorter than the N-byte Confluent header")]
    [InlineData("Avro body does not decode with schema id 7: End of stream reached", "Avro body does not decode with schema id N: End of stream reached")]
    [InlineData("magic byte is 0x7f, expected 0x00", "magic byte is N, expected N")]
    [InlineData("", "")]
    public void ReasonGroup_FieldReasonsByField_OthersWithNumbersAsN(string reason, string expected) =>
        Assert.Equal(expected, DeadLetterTopic.ReasonGroup(reason));

    [Fact]
    public void ReasonGroup_LongReason_CutAt80Characters() =>
        Assert.Equal(80, DeadLetterTopic.ReasonGroup(new string('x', 50) + " " + new string('y', 100)).Length);

    [Fact]
    public void Summarise_CountsPerClassAndGroup_FirstAndLast_MostFrequentFirst()
    {
        var groups = DeadLetterTopic.Summarise(
        [
            Letter("InvalidField", "occurred_at: a", T0.AddMinutes(5)),
            Letter("TooShort", "record of 1 bytes is shorter", T0),
            Letter("InvalidField", "occurred_at: b", T0),
            Letter("InvalidField", "latency_ms: c", T0),
            Letter("InvalidField", "occurred_at: c", T0.AddMinutes(2)),
            Letter("TooShort", "record of 3 bytes is shorter", T0.AddMinutes(9)),
        ]);
        Assert.Equal(
        [
            new DeadLetterGroup("InvalidField", "occurred_at", 3, T0, T0.AddMinutes(5)),
            new DeadLetterGroup("TooShort", "record of N bytes is shorter", 2, T0, T0.AddMinutes(9)),
            new DeadLetterGroup("InvalidField", "latency_ms", 1, T0, T0),
        ], groups);
    }

    [Fact]
    public void Filter_EveryCriterionMustMatch_FailureIgnoresCase_ReasonIsASubstring_ToIsExclusive()
    {
        var d = Letter("InvalidField", "occurred_at: too old", T0);
        Assert.True(new DeadLetterFilter().Matches(d));
        Assert.True(new DeadLetterFilter { Failure = "invalidfield", Reason = "OCCURRED", From = T0, To = T0.AddSeconds(1) }.Matches(d));
        Assert.False(new DeadLetterFilter { Failure = "Invalid" }.Matches(d));
        Assert.False(new DeadLetterFilter { Reason = "latency" }.Matches(d));
        Assert.False(new DeadLetterFilter { From = T0.AddTicks(1) }.Matches(d));
        Assert.False(new DeadLetterFilter { To = T0 }.Matches(d));
    }

    [Theory]
    [InlineData("llm.calls.v1/3/42", "llm.calls.v1", 3, 42L)]
    [InlineData("calls.1234/0/0", "calls.1234", 0, 0L)]
    public void SourceAddress_TopicPartitionOffset_Parsed(string source, string topic, int partition, long offset) =>
        Assert.Equal((topic, partition, offset), Letter("X", "", T0, source: source).SourceAddress);

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("llm.calls.v1/3")]
    [InlineData("llm.calls.v1/-1/5")]
    [InlineData("/1/5")]
    [InlineData("a/b/c/1/5")]
    public void SourceAddress_NotOurForm_Null(string? source) =>
        Assert.Null(Letter("X", "", T0, source: source).SourceAddress);

    [Fact]
    public void Address_IsDlqTopicPartitionOffset() =>
        Assert.Equal("llm.calls.dlq.v1/1/17", Letter("X", "", T0, partition: 1, offset: 17).Address);
}
