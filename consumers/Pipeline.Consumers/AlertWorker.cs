using System.Globalization;
using System.Text.Json;
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
/// </summary>
public sealed partial class AlertWorker : IDisposable
{
    // The instruments live in AlertMetrics (one per worker, tagged pipeline.instance); these names keep the call sites short.
    private TaggedCounter Evaluations => _metrics.Evaluations;
    private TaggedCounter AlertsOut => _metrics.AlertsOut;

    private static readonly IReadOnlyList<KeyValuePair<string, string>> Columns =
    [
        new("alert_id", "String"), new("rule_id", "String"), new("fingerprint", "String"),
        new("state", "Enum8('FIRING' = 1, 'RESOLVED' = 2)"), new("severity", "Enum8('INFO' = 1, 'WARNING' = 2, 'ERROR' = 3, 'CRITICAL' = 4)"),
        new("environment", "String"), new("service", "String"), new("prompt_name", "String"), new("prompt_version", "String"), new("request_model", "String"),
        new("metric", "String"), new("observed", "Float64"), new("baseline", "Nullable(Float64)"), new("threshold", "Float64"),
        new("window_start", "DateTime"), new("window_end", "DateTime"), new("started_at", "DateTime"), new("resolved_at", "Nullable(DateTime)"),
        new("summary", "String"), new("runbook_url", "String"), new("label_keys", "Array(String)"), new("label_values", "Array(String)"),
        new("recorded_at", "DateTime"),
    ];

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

    /// <param name="metrics">Its meters (from the host's <c>IMeterFactory</c>, with its instance tag); default: meters of its own.</param>
    public AlertWorker(KafkaSettings kafka, ClickHouseHttp clickHouse, AlertWorkerOptions options, TimeProvider time, ILogger log, AlertMetrics? metrics = null)
    {
        _kafka = kafka;
        _clickHouse = clickHouse;
        _options = options;
        _time = time;
        _log = log;
        var rules = string.IsNullOrEmpty(options.RulesFile) ? RuleFile.Defaults : RuleFile.Load(options.RulesFile);
        _engine = new AlertEngine(rules) { OlderHistory = LoadOlderHistory };
        _retry = ClickHouseResilience.Create(time, log);
        RuleCount = rules.Count;
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

    /// <summary>Rebuilds state from ClickHouse, then consumes until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await RestoreAsync(cancellationToken);
        using var producer = new ProducerBuilder<byte[]?, byte[]>(_kafka.Producer()).Build();
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(_kafka.Consumer(_options.GroupId))
            .SetErrorHandler((_, e) => LogKafkaError(_log, e.Code.ToString(), e.Reason))
            .Build();
        consumer.Subscribe(_options.MetricsTopic);
        LogStarted(_log, _options.MetricsTopic, RuleCount);
        var lastCommit = _time.GetTimestamp();
        var pending = new Dictionary<TopicPartition, long>();
        // Event time each partition has delivered up to, and when it last delivered (its low watermark).
        var partitionEnds = new Dictionary<int, (DateTimeOffset End, long SeenTicks)>();
        var swept = DateTimeOffset.MinValue;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
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
                    var alerts = _engine.OnWindow(window);
                    WindowsEvaluated++;
                    Evaluations.Add(1);
                    if (alerts.Count > 0)
                    {
                        await PublishAsync(producer, alerts, cancellationToken);
                    }
                    var p = result.Partition.Value;
                    var end = partitionEnds.TryGetValue(p, out var known) && known.End > window.WindowEnd ? known.End : window.WindowEnd;
                    partitionEnds[p] = (end, _time.GetTimestamp());
                    pending[result.TopicPartition] = result.Offset.Value + 1;
                }
                if (partitionEnds.Count > 0)
                {
                    // Event time is as far as every partition still delivering has come; idle partitions do not hold it back.
                    var active = partitionEnds.Values.Where(v => _time.GetElapsedTime(v.SeenTicks) < _options.PartitionIdleTimeout).ToList();
                    var safeNow = active.Count > 0 ? active.Min(v => v.End) : partitionEnds.Values.Max(v => v.End);
                    // The sweep visits every incident: run it only when event time moved.
                    if (safeNow > swept)
                    {
                        swept = safeNow;
                        var resolved = _engine.AdvanceTo(safeNow);
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
        }
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

    /// <summary>Topic first, then table: a crash in between repeats the record with the same alert_id rather than losing it.</summary>
    private async Task PublishAsync(IProducer<byte[]?, byte[]> producer, IReadOnlyList<Alert> alerts, CancellationToken cancellationToken)
    {
        foreach (var a in alerts)
        {
            await producer.ProduceAsync(_options.AlertsTopic, new Message<byte[]?, byte[]>
            {
                Key = System.Text.Encoding.UTF8.GetBytes(a.Fingerprint),
                Value = _alertSerializer.Serialize(a),
            }, cancellationToken);
            LogAlert(_log, a.State.ToString().ToUpperInvariant(), a.Severity, a.RuleId, a.Summary);
        }
        var now = _time.GetUtcNow().UtcDateTime;
        var rows = alerts.Select(a => new object?[]
        {
            a.AlertId, a.RuleId, a.Fingerprint, a.State == AlertState.Firing ? "FIRING" : "RESOLVED", a.Severity,
            a.Series.Environment, a.Series.Service, a.Series.PromptName, a.Series.PromptVersion, a.Series.RequestModel,
            a.Metric, a.Observed, a.Baseline, a.Threshold, a.WindowStart.UtcDateTime, a.WindowEnd.UtcDateTime, a.StartedAt.UtcDateTime,
            a.ResolvedAt?.UtcDateTime, a.Summary, a.RunbookUrl ?? "", a.Labels.Keys.ToArray(), a.Labels.Values.ToArray(), now,
        }).ToList();
        await _retry.ExecuteAsync(async ct => await _clickHouse.InsertAsync("alerts", Columns, rows, ct), cancellationToken);
        if (_webhooks is not null)
        {
            foreach (var a in alerts)
            {
                await _webhooks.SendAsync(a, cancellationToken);
            }
        }
        AlertsPublished += alerts.Count;
        AlertsOut.Add(alerts.Count);
    }

    /// <summary>Open incidents and cooldowns from <c>alerts</c>; recent windows from <c>metrics_1m</c> as baselines.</summary>
    private async Task RestoreAsync(CancellationToken cancellationToken)
    {
        var alerts = await _retry.ExecuteAsync(async ct => await _clickHouse.QueryAsync(
            "SELECT * FROM alerts FINAL ORDER BY window_end, state", ct), cancellationToken);
        var latest = new Dictionary<string, Alert>();
        foreach (var row in alerts)
        {
            var a = FromRow(row);
            latest[a.Fingerprint] = a;
        }
        foreach (var a in latest.Values)
        {
            if (a.State == AlertState.Firing) _engine.RestoreFiring(a);
            else _engine.RestoreResolved(a);
        }
        var since = (_time.GetUtcNow() - TimeSpan.FromHours(3)).ToUnixTimeSeconds();
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

    private static Alert FromRow(JsonElement r)
    {
        static DateTimeOffset T(string s) => DateTimeOffset.ParseExact(s, "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        static string S(JsonElement r, string n) => r.GetProperty(n).GetString() ?? "";
        return new Alert
        {
            AlertId = S(r, "alert_id"),
            RuleId = S(r, "rule_id"),
            Fingerprint = S(r, "fingerprint"),
            State = S(r, "state") == "FIRING" ? AlertState.Firing : AlertState.Resolved,
            Severity = S(r, "severity"),
            Series = new SeriesKey(S(r, "environment"), S(r, "service"), S(r, "prompt_name"), S(r, "prompt_version"), S(r, "request_model")),
            Metric = S(r, "metric"),
            Observed = r.GetProperty("observed").GetDouble(),
            Threshold = r.GetProperty("threshold").GetDouble(),
            WindowStart = T(S(r, "window_start")),
            WindowEnd = T(S(r, "window_end")),
            StartedAt = T(S(r, "started_at")),
            ResolvedAt = r.GetProperty("resolved_at").ValueKind == JsonValueKind.String ? T(S(r, "resolved_at")) : null,
            Summary = S(r, "summary"),
        };
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "evaluating {Topic} with {Rules} rules")]
    private static partial void LogStarted(ILogger log, string topic, int rules);
    [LoggerMessage(Level = LogLevel.Information, Message = "restored {Firing} firing incidents and {Windows} baseline windows from ClickHouse")]
    private static partial void LogRestored(ILogger log, int firing, int windows);
    [LoggerMessage(Level = LogLevel.Warning, Message = "{State} {Severity} {Rule}: {Summary}")]
    private static partial void LogAlert(ILogger log, string state, string severity, string rule, string summary);
    [LoggerMessage(Level = LogLevel.Warning, Message = "skipped undecodable window at {Position}: {Reason}")]
    private static partial void LogBadWindow(ILogger log, string position, string reason);
    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka: {Code}: {Reason}")]
    private static partial void LogKafkaError(ILogger log, string code, string reason);
}
