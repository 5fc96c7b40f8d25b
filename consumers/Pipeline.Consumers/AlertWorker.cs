using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Pipeline.Alerting;
using Pipeline.ClickHouse;
using Pipeline.Schemas;
using Polly;

namespace Pipeline.Consumers;

/// <summary>
/// Reads closed windows from <c>llm.metrics.1m.v1</c>, evaluates the alert rules, and publishes state
/// changes to <c>llm.alerts.v1</c> and the ClickHouse <c>alerts</c> table. On start it rebuilds open
/// incidents and cooldowns from <c>alerts</c> and baselines from <c>metrics_1m</c>, so a restart neither
/// repeats a FIRING nor forgets one. Offsets are committed only after the alerts they caused are durable.
/// Silences and acknowledgements (<see cref="SuppressionStore"/>) are re-read every
/// <see cref="AlertWorkerOptions.SuppressionRefreshInterval"/> and applied here, after the engine: a silenced
/// alert is still recorded (marked) without webhooks, and re-notify records of silenced or acknowledged
/// incidents are dropped (<see cref="AlertSuppressions"/>). Related rules of one family firing on one series page
/// once: the others are recorded, marked inhibited, and released when their inhibitor resolves (<see cref="AlertInhibition"/>).
/// </summary>
public sealed partial class AlertWorker : IDisposable
{
    // The instruments live in AlertMetrics (one per worker, tagged pipeline.instance); these names keep the call sites short.
    private TaggedCounter Evaluations => _metrics.Evaluations;
    private TaggedCounter AlertsOut => _metrics.AlertsOut;

    private readonly KafkaSettings _kafka;
    private readonly ClickHouseHttp _clickHouse;
    private readonly AlertWorkerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly AlertMetrics _metrics;
    private readonly bool _ownsMetrics;
    private readonly AlertEngine _engine;
    private readonly AlertSerializer _alertSerializer = new();
    private readonly WindowAggregateSerializer _windowSerializer = new();
    private readonly ResiliencePipeline _retry;
    private readonly AlertWebhooks? _webhooks;
    private readonly HttpClient? _http;
    private readonly SuppressionStore _store;
    private readonly AlertSuppressions _suppressions;
    private readonly AlertInhibition _inhibition;
    private readonly WindowMetricsExporter? _windowExport;
    private static readonly TimeSpan StaleRenotifySlack = TimeSpan.FromMinutes(5);
    // The last record of every open (FIRING) incident, by alert id: a further FIRING of it is a re-notify.
    private readonly Dictionary<string, Alert> _open = [];
    private long _suppressionsLoaded;

    /// <param name="metrics">Its meters (from the host's <c>IMeterFactory</c>, with its instance tag); default: meters of its own.</param>
    /// <param name="windowExport">
    /// The windows it reads, exported as Prometheus gauges and OTLP histograms (<see cref="WindowMetricsOptions"/>);
    /// started and stopped with the worker. Null exports none.
    /// </param>
    public AlertWorker(KafkaSettings kafka, ClickHouseHttp clickHouse, AlertWorkerOptions options, TimeProvider time, ILogger log, AlertMetrics? metrics = null,
        WindowMetricsExporter? windowExport = null)
    {
        _windowExport = windowExport;
        _kafka = kafka;
        _clickHouse = clickHouse;
        _options = options;
        _time = time;
        _log = log;
        var rules = string.IsNullOrEmpty(options.RulesFile) ? RuleFile.Defaults : RuleFile.Load(options.RulesFile);
        _engine = new AlertEngine(rules) { OlderHistory = LoadOlderHistory };
        _retry = ClickHouseResilience.Create(time, log);
        RuleCount = rules.Count;
        _inhibition = new AlertInhibition(rules);
        // Windows normally reach the worker within WallClockLag of their end; a re-notify much older than that is history.
        _suppressions = new AlertSuppressions { StaleRenotifyAfter = (options.WallClockLag > TimeSpan.Zero ? options.WallClockLag : TimeSpan.FromMinutes(3)) + StaleRenotifySlack };
        _store = new SuppressionStore(clickHouse, time);
        _ownsMetrics = metrics is null;
        _metrics = metrics ?? new AlertMetrics();
        if (options.Webhooks.Any(w => w.Url is not null))
        {
            _http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            _webhooks = new AlertWebhooks(options.Webhooks, options.WebhookDeadLetterFile, _http, time, log);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _http?.Dispose();
        if (_ownsMetrics) _metrics.Dispose();
    }

    /// <summary>Alerts that ended in the webhook dead-letter log.</summary>
    public long WebhookDeadLetters => _webhooks?.DeadLettered ?? 0;

    /// <summary>Rules in force.</summary>
    public int RuleCount { get; }
    /// <summary>Closed windows evaluated so far.</summary>
    public long WindowsEvaluated { get; private set; }
    /// <summary>Alert records published so far.</summary>
    public long AlertsPublished { get; private set; }
    /// <summary>Re-notify records dropped because their incident was silenced or acknowledged.</summary>
    public long RenotifiesSuppressed { get; private set; }
    /// <summary>How many times silences and acknowledgements were (re)loaded; thread-safe (tests wait on it).</summary>
    public long SuppressionLoads => Interlocked.Read(ref _suppressionsLoaded);

    /// <summary>Where the worker is (restoring, consuming with N partitions), for a test or a harness that waits on it.</summary>
    public string Stage => _stage;

    private volatile string _stage = "not started";

    /// <summary>Rebuilds state from ClickHouse, then consumes until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _stage = "restoring from ClickHouse";
        await RestoreAsync(cancellationToken);
        _stage = "joining the consumer group";
        using var producer = new ProducerBuilder<byte[]?, byte[]>(_kafka.Producer()).Build();
        await ReleaseOrphanedAsync(producer, cancellationToken);
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(_kafka.Consumer(_options.GroupId))
            .SetErrorHandler((_, e) => LogKafkaError(_log, e.Code.ToString(), e.Reason))
            .SetPartitionsAssignedHandler((_, assigned) => _stage = $"consuming {assigned.Count} partitions")
            .SetPartitionsRevokedHandler((_, _) => _stage = "rebalancing")
            .Build();
        consumer.Subscribe(_options.MetricsTopic);
        LogStarted(_log, _options.MetricsTopic, RuleCount);
        _windowExport?.Start();
        var lastCommit = _time.GetTimestamp();
        var pending = new Dictionary<TopicPartition, long>();
        // Event time each partition has delivered up to, and when it last delivered (its low watermark).
        var partitionEnds = new Dictionary<int, (DateTimeOffset End, long SeenTicks)>();
        var swept = DateTimeOffset.MinValue;
        // How far each source (calls partition, from the aggregator's header) has delivered, and when it last did.
        var sourceEnds = new Dictionary<string, (DateTimeOffset End, long SeenTicks)>(StringComparer.Ordinal);
        var sourcesChanged = false;
        var lastSourceSweep = _time.GetTimestamp();
        var lastRefresh = _time.GetTimestamp();
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                if (_time.GetElapsedTime(lastRefresh) >= _options.SuppressionRefreshInterval)
                {
                    await RefreshSuppressionsAsync(cancellationToken);
                    lastRefresh = _time.GetTimestamp();
                }
                var result = consumer.Consume(TimeSpan.FromMilliseconds(100));
                if (result is { IsPartitionEOF: false, Message.Value: { } value })
                {
                    WindowAggregate window;
                    try
                    {
                        window = _windowSerializer.Deserialize(value);
                    }
                    catch (EventDecodeException ex)
                    {
                        LogBadWindow(_log, result.TopicPartitionOffset.ToString(), ex.Message);
                        pending[result.TopicPartition] = result.Offset.Value + 1;
                        continue;
                    }
                    _windowExport?.Metrics.Observe(window);
                    var p = result.Partition.Value;
                    var end = partitionEnds.TryGetValue(p, out var known) && known.End > window.WindowEnd ? known.End : window.WindowEnd;
                    partitionEnds[p] = (end, _time.GetTimestamp());
                    string? source = null;
                    if (result.Message.Headers?.TryGetLastBytes(AggregatorWorker.WindowSourceHeader, out var sourceBytes) == true)
                    {
                        source = System.Text.Encoding.UTF8.GetString(sourceBytes);
                        var sourceEnd = sourceEnds.TryGetValue(source, out var s) && s.End > window.WindowEnd ? s.End : window.WindowEnd;
                        sourceEnds[source] = (sourceEnd, _time.GetTimestamp());
                        sourcesChanged = true;
                    }
                    // A series is judged at a window's end once every partition still delivering has passed it.
                    var alerts = _engine.OnWindow(window, LowWatermark(partitionEnds), source);
                    WindowsEvaluated++;
                    Evaluations.Add(1);
                    if (alerts.Count > 0)
                    {
                        await PublishAsync(producer, alerts, cancellationToken);
                    }
                    pending[result.TopicPartition] = result.Offset.Value + 1;
                }
                if (partitionEnds.Count > 0)
                {
                    var safeNow = LowWatermark(partitionEnds);
                    // The sweep visits every incident and series: run it when event time moved, or (at most once a
                    // second) when a source moved on.
                    var sweepSources = sourcesChanged && _time.GetElapsedTime(lastSourceSweep) >= TimeSpan.FromSeconds(1);
                    if (safeNow > swept || sweepSources)
                    {
                        swept = safeNow;
                        sourcesChanged = false;
                        lastSourceSweep = _time.GetTimestamp();
                        // Sources that stopped delivering (all their series quiet) no longer limit their series.
                        var active = sourceEnds.Where(kv => _time.GetElapsedTime(kv.Value.SeenTicks) < _options.PartitionIdleTimeout)
                            .ToDictionary(kv => kv.Key, kv => kv.Value.End, StringComparer.Ordinal);
                        var resolved = _engine.AdvanceTo(safeNow, active);
                        if (resolved.Count > 0)
                        {
                            await PublishAsync(producer, resolved, cancellationToken);
                        }
                    }
                }
                if (pending.Count > 0 && _time.GetElapsedTime(lastCommit) >= _options.CommitInterval)
                {
                    Commit(consumer, pending);
                    lastCommit = _time.GetTimestamp();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping mid-write: what was not written is retried once more below, then replayed on restart.
        }
        finally
        {
            if (pending.Count > 0) Commit(consumer, pending);
            consumer.Close();
            if (_windowExport is not null) await _windowExport.DisposeAsync();
        }
    }

    /// <summary>
    /// Event time is as far as every partition still delivering has come; idle partitions do not hold it back.
    /// When all are idle it follows the wall clock (minus <see cref="AlertWorkerOptions.WallClockLag"/>), so a
    /// pipeline that stopped sending altogether is seen as silent rather than as paused in time.
    /// </summary>
    private DateTimeOffset LowWatermark(Dictionary<int, (DateTimeOffset End, long SeenTicks)> partitionEnds)
    {
        var active = partitionEnds.Values.Where(v => _time.GetElapsedTime(v.SeenTicks) < _options.PartitionIdleTimeout).ToList();
        if (active.Count > 0) return active.Min(v => v.End);
        var newest = partitionEnds.Values.Max(v => v.End);
        if (_options.WallClockLag > TimeSpan.Zero && _time.GetUtcNow() - _options.WallClockLag is var wall && wall > newest) return wall;
        return newest;
    }

    private void Commit(IConsumer<byte[]?, byte[]?> consumer, Dictionary<TopicPartition, long> pending)
    {
        try
        {
            consumer.Commit(pending.Select(kv => new TopicPartitionOffset(kv.Key, kv.Value)));
            pending.Clear();
        }
        catch (KafkaException ex)
        {
            LogKafkaError(_log, ex.Error.Code.ToString(), ex.Error.Reason);
        }
    }

    /// <summary>
    /// Topic first, then table, then webhooks: a crash in between repeats the record with the same alert_id
    /// rather than losing it. Silences and acknowledgements decide what is recorded and what is notified.
    /// </summary>
    private async Task PublishAsync(IProducer<byte[]?, byte[]> producer, IReadOnlyList<Alert> alerts, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var decisions = new List<SuppressionDecision>(alerts.Count);
        // The open incidents as this batch is decided: a rule firing earlier in the batch inhibits related rules after
        // it, and an inhibitor resolving in it releases what it inhibited (queued as records of their own).
        var open = new Dictionary<string, Alert>(_open);
        var queue = new Queue<(Alert Alert, bool Release)>(alerts.Select(a => (a with { RunbookUrl = RunbookLinks.Resolve(a.RunbookUrl, _options.RunbookBaseUrl) }, false)));
        while (queue.TryDequeue(out var item))
        {
            var a = item.Alert;
            open.TryGetValue(a.AlertId, out var known);
            // A release queued behind the incident's own RESOLVED (both rules recovered in one step) has nothing left to say.
            if (item.Release && known is null) continue;
            var renotify = a.State == AlertState.Firing && known is not null;
            var inhibitor = a.State == AlertState.Firing ? _inhibition.InhibitorOf(a, open.Values) : null;
            if (renotify && inhibitor is not null)
            {
                // Still spoken for by a related incident: like a silenced re-notify, neither published nor sent.
                if (known!.InhibitedBy is not null) open[a.AlertId] = known with { InhibitedBy = inhibitor.AlertId };
                RenotifiesSuppressed++;
                if (_log.IsEnabled(LogLevel.Information))
                {
                    var why = $"inhibited by {inhibitor.RuleId} {inhibitor.AlertId}";
                    LogRenotifySuppressed(_log, a.RuleId, a.AlertId, why);
                }
                continue;
            }
            // A re-notify of an incident that was inhibited and no longer is: its first notification (a release).
            if (renotify && known!.InhibitedBy is not null) renotify = false;
            a = a with { InhibitedBy = a.State == AlertState.Firing ? inhibitor?.AlertId : known?.InhibitedBy };
            var decision = _suppressions.Decide(a, renotify, now);
            if (!decision.Record)
            {
                RenotifiesSuppressed++;
                LogRenotifySuppressed(_log, a.RuleId, a.AlertId, decision.Why ?? "");
                continue;
            }
            // An inhibited incident is recorded but never sent, RESOLVED included: its receivers never heard of it.
            if (a.InhibitedBy is not null) decision = decision with { Notify = false };
            decisions.Add(decision);
            if (a.State == AlertState.Firing)
            {
                open[a.AlertId] = decision.Alert;
                continue;
            }
            open.Remove(a.AlertId);
            foreach (var inhibited in open.Values.Where(o => o.InhibitedBy == a.AlertId).ToList())
            {
                queue.Enqueue((inhibited with { Summary = $"{inhibited.Summary} (no longer inhibited: {a.RuleId} resolved)" }, true));
            }
        }
        if (decisions.Count == 0)
        {
            foreach (var (id, a) in open) _open[id] = a;
            return;
        }
        foreach (var (a, _, _, _) in decisions)
        {
            await producer.ProduceAsync(_options.AlertsTopic, new Message<byte[]?, byte[]>
            {
                Key = System.Text.Encoding.UTF8.GetBytes(a.Fingerprint),
                Value = _alertSerializer.Serialize(a),
            }, cancellationToken);
            if (_log.IsEnabled(LogLevel.Warning))
            {
                var state = a.State.ToString().ToUpperInvariant();
                var summary = a.SilenceId is { } silence ? $"{a.Summary} (silenced by {silence}: no webhook)"
                    : a.InhibitedBy is { } by ? $"{a.Summary} (inhibited by {by}: no webhook)" : a.Summary;
                LogAlert(_log, state, a.Severity, a.RuleId, summary);
            }
        }
        var rows = decisions.Select(d => AlertRows.ToRow(d.Alert, now)).ToList();
        await _retry.ExecuteAsync(async ct => await _clickHouse.InsertAsync("alerts", AlertRows.Columns, rows, ct), cancellationToken);
        _open.Clear();
        foreach (var (id, a) in open) _open[id] = a;
        foreach (var (a, _, notify, _) in decisions)
        {
            if (notify && _webhooks is not null)
            {
                var reason = a.SilenceId is { } silenceId ? _suppressions.Silences.FirstOrDefault(s => s.Id == silenceId)?.Reason : null;
                await _webhooks.SendAsync(a, reason, cancellationToken);
            }
        }
        AlertsPublished += decisions.Count;
        AlertsOut.Add(decisions.Count);
    }

    /// <summary>
    /// Incidents restored as inhibited whose inhibitor resolved while the worker was down (or is no longer open):
    /// released at start, so they are notified rather than waiting silently for their RESOLVED.
    /// </summary>
    private async Task ReleaseOrphanedAsync(IProducer<byte[]?, byte[]> producer, CancellationToken cancellationToken)
    {
        var orphans = _open.Values.Where(a => a.InhibitedBy is { } by && !_open.ContainsKey(by)).ToList();
        if (orphans.Count > 0) await PublishAsync(producer, orphans, cancellationToken);
    }

    /// <summary>
    /// Re-reads silences and acknowledgements. A failed read keeps what was in force (logged; retried at the
    /// next interval), so a ClickHouse hiccup neither stops the worker nor lifts a silence. An acknowledgement of
    /// an open incident whose stored row does not show it yet is written onto that row.
    /// </summary>
    private async Task RefreshSuppressionsAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<Silence> silences;
        IReadOnlyList<Acknowledgement> acks;
        try
        {
            silences = await _store.ActiveSilencesAsync(_time.GetUtcNow(), cancellationToken);
            acks = await _store.OpenAcknowledgementsAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is ClickHouseException or HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            LogSuppressionsStale(_log, ex.Message);
            return;
        }
        var added = _suppressions.Replace(silences, acks);
        Interlocked.Increment(ref _suppressionsLoaded);
        var marked = new List<Alert>();
        foreach (var ack in added)
        {
            if (!_open.TryGetValue(ack.AlertId, out var last) || last.AckedBy == ack.By && last.AckedAt == ack.At) continue;
            var acked = last with { AckedBy = ack.By, AckedAt = ack.At, AckNote = ack.Note.Length > 0 ? ack.Note : null };
            _open[ack.AlertId] = acked;
            marked.Add(acked);
            var by = ack.By;
            LogAcknowledged(_log, acked.RuleId, ack.AlertId, by);
        }
        if (marked.Count > 0)
        {
            var now = _time.GetUtcNow();
            var rows = marked.Select(a => AlertRows.ToRow(a, now)).ToList();
            await _retry.ExecuteAsync(async ct => await _clickHouse.InsertAsync("alerts", AlertRows.Columns, rows, ct), cancellationToken);
        }
    }

    /// <summary>Open incidents and cooldowns from <c>alerts</c>; recent windows from <c>metrics_1m</c> as baselines.</summary>
    private async Task RestoreAsync(CancellationToken cancellationToken)
    {
        var alerts = await _retry.ExecuteAsync(async ct => await _clickHouse.QueryAsync(
            "SELECT * FROM alerts FINAL ORDER BY window_end, state", ct), cancellationToken);
        var latest = new Dictionary<string, Alert>();
        foreach (var row in alerts)
        {
            var a = AlertRows.FromRow(row);
            latest[a.Fingerprint] = a;
        }
        foreach (var a in latest.Values)
        {
            if (a.State == AlertState.Firing)
            {
                _engine.RestoreFiring(a);
                _open[a.AlertId] = a;
            }
            else
            {
                _engine.RestoreResolved(a);
            }
        }
        // Silences and acknowledgements before the first window: a restart must not notify what they suppress.
        await _retry.ExecuteAsync(async ct => await RefreshSuppressionsAsync(ct), cancellationToken);
        // Minute windows for the last three hours (from an hour boundary); per-hour sums before that, for the
        // seasonal baselines (same hours of previous days), so a restart does not forget what a day looks like.
        var boundary = _time.GetUtcNow() - TimeSpan.FromHours(3);
        var since = (boundary.ToUnixTimeSeconds() / 3600) * 3600;
        var seasonalFrom = since - (long)AlertEngine.SeasonalRetention.TotalSeconds;
        var hours = await _retry.ExecuteAsync(async ct => await _clickHouse.QueryAsync(
            "SELECT environment, service, prompt_name, prompt_version, request_model, toUnixTimestamp(toStartOfHour(window_start)) AS hour, " +
            "sum(calls) AS calls, sum(successes) AS successes, sum(errors) AS errors, sum(cost_usd) AS cost, sum(input_tokens) + sum(output_tokens) AS tokens, " +
            "sum(quality_sum) AS quality_sum, sum(quality_count) AS quality_count, count() AS windows, sum(unpriced_calls) AS unpriced " +
            $"FROM metrics_1m FINAL WHERE window_start >= {seasonalFrom} AND window_start < {since} " +
            "GROUP BY environment, service, prompt_name, prompt_version, request_model, hour", ct), cancellationToken);
        foreach (var h in hours)
        {
            string S(string n) => h.GetProperty(n).GetString() ?? "";
            var series = new SeriesKey(S("environment"), S("service"), S("prompt_name"), S("prompt_version"), S("request_model"));
            _engine.RememberHour(series, DateTimeOffset.FromUnixTimeSeconds(StoredValues.Count(h, "hour")), StoredValues.Count(h, "calls"),
                StoredValues.Count(h, "successes"), StoredValues.Count(h, "errors"), StoredValues.Number(h, "cost"), StoredValues.Number(h, "tokens"),
                StoredValues.Number(h, "quality_sum"), StoredValues.Count(h, "quality_count"), (int)StoredValues.Count(h, "windows"),
                // Priced calls computed here: in ClickHouse, "calls" in a second expression would name the alias sum(calls).
                StoredValues.Count(h, "calls") - Math.Min(StoredValues.Count(h, "calls"), StoredValues.Count(h, "unpriced")));
        }
        var windows = await _retry.ExecuteAsync(async ct => await _clickHouse.QueryAsync(
            $"SELECT * FROM metrics_1m FINAL WHERE window_start >= {since} ORDER BY window_start", ct), cancellationToken);
        foreach (var row in windows)
        {
            var state = MetricsRows.FromJson(row);
            _engine.Remember(MetricsRows.ToAggregate(state, (int)row.GetProperty("revision").GetInt64(), row.GetProperty("price_version").GetString() ?? ""));
        }
        var firing = latest.Values.Count(a => a.State == AlertState.Firing);
        LogRestored(_log, firing, windows.Count);
    }

    private List<WindowAggregate> LoadOlderHistory(SeriesKey series, DateTimeOffset from, DateTimeOffset to)
    {
        var filter = ClickHouseResilience.SeriesFilter(series);
        var rows = _clickHouse.QueryAsync(
            $"SELECT * FROM metrics_1m FINAL WHERE {filter} AND window_start >= {from.ToUnixTimeSeconds()} AND window_start < {to.ToUnixTimeSeconds()}",
            CancellationToken.None).GetAwaiter().GetResult();
        return rows.Select(r => MetricsRows.ToAggregate(MetricsRows.FromJson(r), (int)r.GetProperty("revision").GetInt64(), "")).ToList();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "evaluating {Topic} with {Rules} rules")]
    private static partial void LogStarted(ILogger log, string topic, int rules);
    [LoggerMessage(Level = LogLevel.Information, Message = "restored {Firing} firing incidents and {Windows} baseline windows from ClickHouse")]
    private static partial void LogRestored(ILogger log, int firing, int windows);
    [LoggerMessage(Level = LogLevel.Warning, Message = "{State} {Severity} {Rule}: {Summary}")]
    private static partial void LogAlert(ILogger log, string state, string severity, string rule, string summary);
    [LoggerMessage(Level = LogLevel.Warning, Message = "skipped undecodable window at {Position}: {Reason}")]
    private static partial void LogBadWindow(ILogger log, string position, string reason);
    [LoggerMessage(Level = LogLevel.Information, Message = "re-notify of {Rule} {AlertId} not sent: {Why}")]
    private static partial void LogRenotifySuppressed(ILogger log, string rule, string alertId, string why);
    [LoggerMessage(Level = LogLevel.Information, Message = "{Rule} {AlertId} acknowledged by {By}: no more re-notifies")]
    private static partial void LogAcknowledged(ILogger log, string rule, string alertId, string by);
    [LoggerMessage(Level = LogLevel.Warning, Message = "could not re-read silences and acknowledgements ({Reason}); the ones loaded before stay in force")]
    private static partial void LogSuppressionsStale(ILogger log, string reason);
    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka: {Code}: {Reason}")]
    private static partial void LogKafkaError(ILogger log, string code, string reason);
}
