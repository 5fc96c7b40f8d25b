using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Confluent.Kafka;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pipeline.ClickHouse;
using Pipeline.Consumers;
using Pipeline.Schemas;

namespace Pipeline.Dashboard;

/// <summary>What the live push is doing, as the page shows it.</summary>
/// <param name="State"><c>live</c> (consuming), <c>connecting</c>, <c>unavailable</c> (Kafka or a topic away: retrying) or <c>off</c> (not configured).</param>
/// <param name="Detail">One line for people.</param>
public sealed record LiveStatus(string State, string Detail);

/// <summary>A closed window or an alert change, once ClickHouse answers it (so a page that refreshes on it sees it).</summary>
internal sealed record LiveChange(string Kind, SeriesKey Series, DateTimeOffset At, int Revision, long Calls, string? AlertId = null, string? AlertState = null, string? RuleId = null);

/// <summary>
/// The dashboard's live push: a private consumer of the window-aggregate and alert topics (assigned, no consumer
/// group, from each partition's end when it starts, committing nothing) whose records are pushed to open pages
/// over server-sent events (<c>GET /api/events</c>). A record is pushed once ClickHouse has its row (the workers
/// publish before they insert), or after <see cref="ConfirmTimeout"/> anyway. Without Kafka the dashboard polls,
/// and the status event says why.
/// </summary>
public sealed partial class LiveFeed : BackgroundService
{
    /// <summary>How long a record waits for its ClickHouse row before it is pushed anyway.</summary>
    internal static readonly TimeSpan ConfirmTimeout = TimeSpan.FromSeconds(10);
    /// <summary>Open event streams at most (each holds a connection and a queue).</summary>
    internal const int MaxSubscribers = 200;

    private readonly KafkaSettings? _kafka;
    private readonly DashboardOptions _options;
    private readonly ClickHouseHttp _clickHouse;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly Channel<LiveChange> _decoded = Channel.CreateBounded<LiveChange>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
    private readonly ConcurrentDictionary<Subscriber, byte> _subscribers = new();
    private LiveStatus _status;

    internal LiveFeed(KafkaSettings? kafka, DashboardOptions options, ClickHouseHttp clickHouse, TimeProvider time, ILogger log)
    {
        _kafka = kafka;
        _options = options;
        _clickHouse = clickHouse;
        _time = time;
        _log = log;
        _status = !options.Live ? new("off", "live push is off (Dashboard:Live is false): the page polls every 30 s")
            : kafka?.BootstrapServers is null ? new("off", "live push is off: Kafka is not configured (Kafka:bootstrap.servers); the page polls every 30 s")
            : new("connecting", $"connecting to Kafka at {kafka.BootstrapServers}");
    }

    /// <summary>The current status.</summary>
    public LiveStatus Status => _status;

    /// <summary>Records pushed to at least the feed (confirmed or timed out), for tests and the benchmark.</summary>
    internal long Published => Interlocked.Read(ref _published);
    private long _published;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_status.State == "off") return;
        var consume = Task.Factory.StartNew(() => ConsumeLoop(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            await ConfirmLoopAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        // The consume thread may sit in a metadata request to an unreachable broker (up to 5 s): stopping the
        // dashboard does not wait for it; it ends by itself once the call returns.
        await Task.WhenAny(consume, Task.Delay(TimeSpan.FromSeconds(2), _time, CancellationToken.None));
    }

    private void SetStatus(string state, string detail)
    {
        var next = new LiveStatus(state, detail);
        if (next == _status) return;
        _status = next;
        if (state != "live") LogNotLive(_log, state, detail);
        foreach (var s in _subscribers.Keys) s.Offer(StatusEvent(next));
    }

    // ---- Kafka: one thread, a plain consumer assigned to every partition at its high watermark.
    private void ConsumeLoop(CancellationToken ct)
    {
        var backoff = TimeSpan.FromSeconds(1);
        var topics = new[] { _options.MetricsTopic, _options.AlertsTopic };
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var settings = _kafka!.Consumer("dashboard-live-" + Guid.NewGuid().ToString("N"));
                settings.EnableAutoCommit = false;
                settings.AutoOffsetReset = AutoOffsetReset.Latest;
                // A page waits on this consumer: fetch in short waits unless the Kafka settings say otherwise.
                if (!_kafka.All.ContainsKey("fetch.wait.max.ms")) settings.FetchWaitMaxMs = 50;
                var brokerDown = false;
                using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(settings)
                    .SetLogHandler((_, _) => { })
                    .SetErrorHandler((_, e) =>
                    {
                        if (e.Code is ErrorCode.Local_AllBrokersDown or ErrorCode.Local_Transport)
                        {
                            brokerDown = true;
                            SetStatus("unavailable", $"Kafka at {_kafka.BootstrapServers} is not answering ({e.Reason}): retrying; the page polls every 30 s meanwhile");
                        }
                    })
                    .Build();
                using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
                var assignment = Assignment(consumer, admin, topics);
                consumer.Assign(assignment);
                SetStatus("live", $"live: pushed from {string.Join(" and ", topics)}");
                backoff = TimeSpan.FromSeconds(1);
                var windows = new WindowAggregateSerializer();
                var alerts = new AlertSerializer();
                var lastCheck = _time.GetTimestamp();
                var partitions = assignment.Count;
                while (!ct.IsCancellationRequested)
                {
                    var record = consumer.Consume(TimeSpan.FromMilliseconds(250));
                    if (record is { Message.Value: { } value })
                    {
                        if (brokerDown) { brokerDown = false; SetStatus("live", $"live: pushed from {string.Join(" and ", topics)}"); }
                        if (Decode(record.Topic, value, windows, alerts) is { } change) _decoded.Writer.TryWrite(change);
                        continue;
                    }
                    // Every 10 s: the broker answers again (an idle one sends nothing that says so), or partitions were added.
                    if (_time.GetElapsedTime(lastCheck) < TimeSpan.FromSeconds(10)) continue;
                    lastCheck = _time.GetTimestamp();
                    var now = topics.Sum(t => admin.GetMetadata(t, TimeSpan.FromSeconds(5)).Topics.Sum(m => m.Error.IsError ? 0 : m.Partitions.Count));
                    if (brokerDown) { brokerDown = false; SetStatus("live", $"live: pushed from {string.Join(" and ", topics)}"); }
                    if (now != partitions) break; // assign again, the new partitions from their end
                }
                consumer.Close();
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                SetStatus("unavailable", $"live push unavailable (Kafka at {_kafka!.BootstrapServers}): {ex.Message}; retrying in {backoff.TotalSeconds:0} s, the page polls every 30 s meanwhile");
                if (ct.WaitHandle.WaitOne(backoff)) return;
                backoff = TimeSpan.FromSeconds(Math.Min(30, backoff.TotalSeconds * 2));
            }
        }
    }

    private sealed class TopicMissingException(string message) : Exception(message);

    private static List<TopicPartitionOffset> Assignment(IConsumer<byte[]?, byte[]?> consumer, IAdminClient admin, string[] topics)
    {
        var assignment = new List<TopicPartitionOffset>();
        foreach (var topic in topics)
        {
            var meta = admin.GetMetadata(topic, TimeSpan.FromSeconds(5)).Topics.SingleOrDefault(t => t.Topic == topic);
            if (meta is null || meta.Error.IsError || meta.Partitions.Count == 0)
            {
                throw new TopicMissingException($"topic '{topic}' {(meta?.Error.IsError == true ? $"is not readable ({meta.Error.Reason})" : "does not exist yet")}");
            }
            // The high watermark as an explicit offset: every record published after this moment is seen (Offset.End
            // would resolve later, and a record published in between would be missed).
            foreach (var p in meta.Partitions)
            {
                var tp = new TopicPartition(topic, p.PartitionId);
                assignment.Add(new TopicPartitionOffset(tp, consumer.QueryWatermarkOffsets(tp, TimeSpan.FromSeconds(5)).High));
            }
        }
        return assignment;
    }

    private LiveChange? Decode(string topic, byte[] value, WindowAggregateSerializer windows, AlertSerializer alerts)
    {
        try
        {
            if (topic == _options.MetricsTopic)
            {
                var w = windows.Deserialize(value);
                return new LiveChange("window", w.Series, w.WindowStart, w.Revision, w.Calls);
            }
            var a = alerts.Deserialize(value);
            return new LiveChange("alert", a.Series, a.State == Schemas.AlertState.Firing ? a.StartedAt : a.ResolvedAt ?? a.WindowEnd, 0, 0, a.AlertId,
                a.State == Schemas.AlertState.Firing ? "firing" : "resolved", a.RuleId);
        }
        catch (EventDecodeException ex)
        {
            // Not ours to dead-letter (the alert worker reads the same records); a page just is not told.
            LogUndecodable(_log, topic, ex.Message);
            return null;
        }
    }

    // ---- ClickHouse: wait until the rows are readable, then push.
    private async Task ConfirmLoopAsync(CancellationToken ct)
    {
        var reader = _decoded.Reader;
        while (await reader.WaitToReadAsync(ct))
        {
            // Windows of one flush arrive together: gather them for a moment, confirm them in one query.
            await Task.Delay(TimeSpan.FromMilliseconds(50), _time, ct);
            var batch = new List<LiveChange>();
            while (batch.Count < 2000 && reader.TryRead(out var c)) batch.Add(c);
            var deadline = _time.GetUtcNow() + ConfirmTimeout;
            var waiting = batch;
            while (waiting.Count > 0 && _time.GetUtcNow() < deadline)
            {
                try
                {
                    waiting = await UnconfirmedAsync(waiting, ct);
                }
                catch (Exception ex) when (ex is ClickHouseException or HttpRequestException)
                {
                    LogConfirmFailed(_log, ex.Message);
                    break;
                }
                if (waiting.Count > 0) await Task.Delay(TimeSpan.FromMilliseconds(100), _time, ct);
            }
            Interlocked.Add(ref _published, batch.Count);
            foreach (var s in _subscribers.Keys) s.Publish(batch);
        }
    }

    private async Task<List<LiveChange>> UnconfirmedAsync(List<LiveChange> changes, CancellationToken ct)
    {
        var left = new List<LiveChange>();
        var windows = changes.Where(c => c.Kind == "window").ToList();
        if (windows.Count > 0)
        {
            var tuples = string.Join(", ", windows.Select(w => $"({Q(w.Series.Environment)}, {Q(w.Series.Service)}, {Q(w.Series.PromptName)}, {Q(w.Series.PromptVersion)}, {Q(w.Series.RequestModel)}, {w.At.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)})"));
            var rows = await _clickHouse.QueryAsync($"""
                SELECT environment AS e, service AS s, prompt_name AS p, prompt_version AS v, request_model AS m, toUInt32(window_start) AS w, max(revision) AS r
                FROM metrics_1m WHERE (environment, service, prompt_name, prompt_version, request_model, toUInt32(window_start)) IN ({tuples})
                GROUP BY e, s, p, v, m, w FORMAT JSONEachRow
                """, ct);
            var seen = rows.ToDictionary(r => (new SeriesKey(r.GetProperty("e").GetString()!, r.GetProperty("s").GetString()!, r.GetProperty("p").GetString()!,
                r.GetProperty("v").GetString()!, r.GetProperty("m").GetString()!), r.GetProperty("w").GetInt64()), r => r.GetProperty("r").GetInt32());
            left.AddRange(windows.Where(w => !seen.TryGetValue((w.Series, w.At.ToUnixTimeSeconds()), out var r) || r < w.Revision));
        }
        var alerts = changes.Where(c => c.Kind == "alert").ToList();
        if (alerts.Count > 0)
        {
            var rows = await _clickHouse.QueryAsync(
                $"SELECT alert_id AS a, toString(state) AS s FROM alerts WHERE alert_id IN ({string.Join(", ", alerts.Select(a => Q(a.AlertId!)))}) FORMAT JSONEachRow", ct);
            var seen = rows.Select(r => (r.GetProperty("a").GetString(), r.GetProperty("s").GetString()!.ToLowerInvariant())).ToHashSet();
            left.AddRange(alerts.Where(a => !seen.Contains((a.AlertId, a.AlertState!))));
        }
        return left;
    }

    private static string Q(string s) => ClickHouseHttp.Quote(s);

    // ---- server-sent events
    /// <summary>Serves one event stream until the page goes away or the dashboard stops.</summary>
    internal async Task StreamAsync(HttpContext context, SeriesFilter filter, CancellationToken stopping)
    {
        var response = context.Response;
        if (_subscribers.Count >= MaxSubscribers)
        {
            response.StatusCode = 503;
            return;
        }
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache, no-store";
        // A reverse proxy must pass events on as they come, not buffer them.
        response.Headers["X-Accel-Buffering"] = "no";
        var subscriber = new Subscriber(filter);
        _subscribers[subscriber] = 0;
        using var done = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        try
        {
            await response.WriteAsync("retry: 3000\n\n" + StatusEvent(_status), done.Token);
            await response.Body.FlushAsync(done.Token);
            while (!done.IsCancellationRequested)
            {
                // A ping every 15 s lets the page tell a quiet stream from a dead one.
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(done.Token);
                wait.CancelAfter(TimeSpan.FromSeconds(15));
                string text;
                try
                {
                    text = await subscriber.Queue.Reader.ReadAsync(wait.Token);
                }
                catch (OperationCanceledException) when (!done.IsCancellationRequested)
                {
                    text = Event("ping", new { at = _time.GetUtcNow() });
                }
                var sb = new StringBuilder(text);
                while (subscriber.Queue.Reader.TryRead(out var more)) sb.Append(more);
                await response.WriteAsync(sb.ToString(), done.Token);
                await response.Body.FlushAsync(done.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
        }
        finally
        {
            _subscribers.TryRemove(subscriber, out _);
        }
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    internal static string Event(string name, object data) => $"event: {name}\ndata: {JsonSerializer.Serialize(data, Json)}\n\n";

    private static string StatusEvent(LiveStatus s) => Event("status", new { state = s.State, detail = s.Detail });

    /// <summary>One open page: its filter and a small queue (a page that cannot keep up loses the oldest, never blocks the feed).</summary>
    private sealed class Subscriber(SeriesFilter filter)
    {
        public Channel<string> Queue { get; } = Channel.CreateBounded<string>(new BoundedChannelOptions(64) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

        public void Offer(string text) => Queue.Writer.TryWrite(text);

        public void Publish(List<LiveChange> batch)
        {
            var windows = batch.Where(c => c.Kind == "window" && Matches(c.Series)).ToList();
            if (windows.Count > 0)
            {
                // One event per flush: what closed, newest first, the first 20 named.
                Offer(Event("windows", new
                {
                    count = windows.Count, calls = windows.Sum(w => w.Calls), newest = windows.Max(w => w.At),
                    series = windows.OrderByDescending(w => w.At).Take(20).Select(w => new
                    {
                        environment = w.Series.Environment, service = w.Series.Service, promptName = w.Series.PromptName, promptVersion = w.Series.PromptVersion,
                        model = w.Series.RequestModel, windowStart = w.At, revision = w.Revision, calls = w.Calls,
                    }),
                }));
            }
            foreach (var a in batch.Where(c => c.Kind == "alert" && Matches(c.Series)))
            {
                Offer(Event("alert", new
                {
                    alertId = a.AlertId, state = a.AlertState, ruleId = a.RuleId, at = a.At, environment = a.Series.Environment, service = a.Series.Service,
                    promptName = a.Series.PromptName, promptVersion = a.Series.PromptVersion, model = a.Series.RequestModel,
                }));
            }
        }

        private bool Matches(SeriesKey s) =>
            Is(filter.Environment, s.Environment) && Is(filter.Service, s.Service) && Is(filter.Prompt, s.PromptName) && Is(filter.Version, s.PromptVersion) && Is(filter.Model, s.RequestModel);

        private static bool Is(string? wanted, string value) => string.IsNullOrEmpty(wanted) || wanted == value;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "live push {State}: {Detail}")]
    private static partial void LogNotLive(ILogger log, string state, string detail);
    [LoggerMessage(Level = LogLevel.Warning, Message = "live push: a record of {Topic} is undecodable and not pushed: {Reason}")]
    private static partial void LogUndecodable(ILogger log, string topic, string reason);
    [LoggerMessage(Level = LogLevel.Warning, Message = "live push: ClickHouse did not confirm a batch ({Reason}); pushed unconfirmed")]
    private static partial void LogConfirmFailed(ILogger log, string reason);
}
