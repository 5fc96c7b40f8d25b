using Pipeline.Consumers;
using Pipeline.Schemas;

namespace Pipeline.UnitTests.Consumers;

public sealed class AlertSuppressionsTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    private static Alert Sample(string id = "a1", string rule = "latency_p95_regression", string version = "2.0", AlertState state = AlertState.Firing) => new()
    {
        AlertId = id, RuleId = rule, Fingerprint = "f-" + rule + version, State = state, Severity = "ERROR",
        Series = new SeriesKey("prod", "api", "support_answer", version, "gpt-4o"), Metric = "latency_p95", Observed = 2100, Threshold = 1680,
    };

    private static SilenceMatcher Matcher(string text) =>
        SilenceMatcher.TryParse(text, out var m, out var error) ? m! : throw new InvalidOperationException(error);

    private static Silence ActiveSilence(string matcher, string id = "s1") => new(id, Matcher(matcher), Now.AddHours(-1), Now.AddHours(1), "alice", "known");

    [Theory]
    [InlineData("prompt=support_answer,version=2.0")]
    [InlineData(" prompt = support_answer , version=2.0 ,")]
    [InlineData("prompt=support_answer,version=2.0,environment=prod,service=api,model=gpt-4o,rule=latency_p95_regression")]
    public void TryParse_ValidMatcher_MatchesTheSeries(string text)
    {
        Assert.True(SilenceMatcher.TryParse(text, out var matcher, out var error), error);
        Assert.True(matcher!.Matches(Sample()));
    }

    [Theory]
    [InlineData("prompt=support_answer,version=2.0,region=eu", "unknown key 'region' (known keys: environment, service, prompt, version, model, rule)")]
    [InlineData("prompt=support_answer", "'version' is required")]
    [InlineData("version=2.0", "'prompt' is required")]
    [InlineData("", "'prompt' is required")]
    [InlineData("prompt=support_answer,version=", "'version' needs a value")]
    [InlineData("prompt=a,prompt=b,version=1", "'prompt' is given twice")]
    [InlineData("prompt,version=1", "'prompt' is not key=value")]
    [InlineData("prompt=support_answer version=2.0", "'prompt=support_answer version=2.0' holds a second '='")]
    [InlineData("prompt=support_*,version=2.0", "'prompt=support_*': matchers are exact; '*' is not a wildcard")]
    [InlineData("prompt=~support.*,version=2.0", "'prompt=~support.*': matchers are exact (key=value); regular expressions")]
    [InlineData("prompt!=support_answer,version=2.0", "'prompt!=support_answer': matchers are exact (key=value); regular expressions and negations")]
    [InlineData("prompt=\"support_answer\",version=2.0", "'prompt=\"support_answer\"': leave out the quotes")]
    public void TryParse_BadMatcher_SaysWhy(string text, string expected)
    {
        Assert.False(SilenceMatcher.TryParse(text, out var matcher, out var error));
        Assert.Null(matcher);
        Assert.StartsWith(expected, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("prompt=support_answer,version=1.0")]
    [InlineData("prompt=Support_Answer,version=2.0")]
    [InlineData("prompt=support_answer,version=2.0,environment=staging")]
    [InlineData("prompt=support_answer,version=2.0,service=web")]
    [InlineData("prompt=support_answer,version=2.0,model=gpt-4o-mini")]
    [InlineData("prompt=support_answer,version=2.0,rule=error_rate")]
    [InlineData("prompt=support_answer,version=2")]
    public void Matches_AnyKeyDiffers_False(string text) => Assert.False(Matcher(text).Matches(Sample()));

    [Fact]
    public void ToString_ListsKeysInCanonicalOrder_ParsesBack()
    {
        var m = Matcher("rule=x,version=2.0,prompt=p,environment=prod");
        Assert.Equal("environment=prod,prompt=p,version=2.0,rule=x", m.ToString());
        Assert.Equal(m.ToString(), Matcher(m.ToString()).ToString());
    }

    [Fact]
    public void Decide_ActiveSilence_RecordedMarkedWithoutNotification()
    {
        var suppressions = new AlertSuppressions();
        suppressions.Replace([ActiveSilence("prompt=support_answer,version=2.0")], []);
        var d = suppressions.Decide(Sample(), renotify: false, Now);
        Assert.True(d.Record);
        Assert.False(d.Notify);
        Assert.Equal("s1", d.Alert.SilenceId);
        var resolved = suppressions.Decide(Sample(state: AlertState.Resolved), renotify: false, Now);
        Assert.True(resolved.Record);
        Assert.False(resolved.Notify);
    }

    [Fact]
    public void Decide_RenotifyOfAWindowLongPast_DroppedAsStale_FirstFiringAndResolvedKept()
    {
        // The wall clock of the worker (a fake one): a re-notify is for people, now.
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Now);
        var suppressions = new AlertSuppressions { StaleRenotifyAfter = TimeSpan.FromMinutes(8) };
        var old = Sample() with { WindowEnd = Now.AddMinutes(-30) };
        var stale = suppressions.Decide(old, renotify: true, clock.GetUtcNow());
        Assert.False(stale.Record);
        Assert.StartsWith("stale: its window ended 30 min ago", stale.Why, StringComparison.Ordinal);
        Assert.True(suppressions.Decide(old, renotify: false, clock.GetUtcNow()).Notify); // a first FIRING is a state change: always kept
        Assert.True(suppressions.Decide(old with { State = AlertState.Resolved }, renotify: false, clock.GetUtcNow()).Notify);
        var fresh = Sample() with { WindowEnd = Now.AddMinutes(-2) };
        Assert.True(suppressions.Decide(fresh, renotify: true, clock.GetUtcNow()).Notify);
        clock.Advance(TimeSpan.FromMinutes(7));
        Assert.False(suppressions.Decide(fresh, renotify: true, clock.GetUtcNow()).Record); // the same record, 9 minutes on
        Assert.True(new AlertSuppressions().Decide(old, renotify: true, Now).Notify); // no horizon: never stale
    }

    [Fact]
    public void Decide_SilencedRenotify_NotRecorded()
    {
        var suppressions = new AlertSuppressions();
        suppressions.Replace([ActiveSilence("prompt=support_answer,version=2.0")], []);
        var d = suppressions.Decide(Sample(), renotify: true, Now);
        Assert.False(d.Record);
        Assert.False(d.Notify);
    }

    [Fact]
    public void Decide_OtherSeriesOrEndedOrFutureSilence_Notified()
    {
        var suppressions = new AlertSuppressions();
        suppressions.Replace(
        [
            ActiveSilence("prompt=support_answer,version=1.0", "other-version"),
            new Silence("ended", Matcher("prompt=support_answer,version=2.0"), Now.AddHours(-2), Now, "alice", ""),
            new Silence("future", Matcher("prompt=support_answer,version=2.0"), Now.AddSeconds(1), Now.AddHours(1), "alice", ""),
        ], []);
        var d = suppressions.Decide(Sample(), renotify: true, Now);
        Assert.True(d.Record && d.Notify);
        Assert.Null(d.Alert.SilenceId);
    }

    [Fact]
    public void Decide_Acknowledged_RenotifyDropped_ResolvedNotifiedAndMarked()
    {
        var suppressions = new AlertSuppressions();
        var ack = new Acknowledgement("a1", "bob", Now.AddMinutes(-5), "rolling back");
        Assert.Equal([ack], suppressions.Replace([], [ack]));
        var renotify = suppressions.Decide(Sample(), renotify: true, Now);
        Assert.False(renotify.Record);
        var resolved = suppressions.Decide(Sample(state: AlertState.Resolved), renotify: false, Now);
        Assert.True(resolved.Record && resolved.Notify);
        Assert.Equal("bob", resolved.Alert.AckedBy);
        Assert.Equal(Now.AddMinutes(-5), resolved.Alert.AckedAt);
        Assert.Equal("rolling back", resolved.Alert.AckNote);
        // Loaded again: nothing new to write onto stored rows.
        Assert.Empty(suppressions.Replace([], [ack]));
    }

    [Fact]
    public void Decide_NewIncidentOfAnAcknowledgedSeries_NotAcknowledged()
    {
        var suppressions = new AlertSuppressions();
        suppressions.Replace([], [new Acknowledgement("a1", "bob", Now, "")]);
        var next = suppressions.Decide(Sample(id: "a2"), renotify: true, Now);
        Assert.True(next.Record && next.Notify);
        Assert.Null(next.Alert.AckedBy);
    }

    [Fact]
    public void Decide_NothingInForce_EverythingRecordedAndNotified()
    {
        var d = new AlertSuppressions().Decide(Sample(), renotify: true, Now);
        Assert.True(d.Record && d.Notify);
        Assert.Null(d.Alert.SilenceId);
        Assert.Null(d.Alert.AckedBy);
    }

    [Theory]
    [InlineData("runbooks.md#latency", null, "https://github.com/pipeline/pipeline/blob/main/docs/runbooks.md#latency")]
    [InlineData("runbooks.md#latency", "https://wiki.example.com/llm", "https://wiki.example.com/llm/runbooks.md#latency")]
    [InlineData("./runbooks.md#latency", "https://wiki.example.com/llm/", "https://wiki.example.com/llm/runbooks.md#latency")]
    [InlineData("https://github.com/pipeline/pipeline/blob/main/docs/runbooks.md#success-rate", "https://wiki.example.com/ops/",
        "https://wiki.example.com/ops/runbooks.md#success-rate")]
    [InlineData("https://github.com/pipeline/pipeline/blob/main/docs/runbooks.md#success-rate", null,
        "https://github.com/pipeline/pipeline/blob/main/docs/runbooks.md#success-rate")]
    [InlineData("https://runbooks.internal/latency", "https://wiki.example.com/ops/", "https://runbooks.internal/latency")]
    [InlineData(null, "https://wiki.example.com/ops/", null)]
    [InlineData(" ", null, null)]
    public void Resolve_RunbookLink_RewrittenOnlyWhenRelativeOrDefault(string? runbook, string? baseUrl, string? expected) =>
        Assert.Equal(expected, RunbookLinks.Resolve(runbook, baseUrl is null ? null : new Uri(baseUrl)));
}
