using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Pipeline.ClickHouse;
using Pipeline.Consumers;
using Pipeline.Schemas;
using Pipeline.Tests;
using Pipeline.UnitTests.Schemas;

namespace Pipeline.UnitTests.Consumers;

/// <summary>
/// Our RowBinary rows of <c>calls</c> against ClickHouse.Driver's, the reference: the driver's insert body is
/// captured by a loopback HTTP listener (no ClickHouse involved: these are bytes, compared byte for byte).
/// </summary>
public sealed class CallRowsTests
{
    private static readonly DateTimeOffset Ingested = new(2026, 12, 2, 10, 0, 0, 250, TimeSpan.Zero);

    [Fact]
    public async Task Write_SameBytesAsClickHouseDriver_ForFullMinimalAndRandomEvents()
    {
        var random = new Random(7);
        var calls = new List<LlmCall> { Samples.FullCall(), Samples.MinimalCall() };
        for (var i = 0; i < 200; i++)
        {
            var call = LlmCallCodecTests.RandomCall(random);
            // Values the validator lets through to calls (its bounds): dates ClickHouse's DateTime holds, no negative counts.
            calls.Add(call with
            {
                OccurredAt = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddTicks(random.NextInt64(TimeSpan.TicksPerDay * 365)),
                InputTokens = Math.Abs(call.InputTokens % 1_000_000),
                OutputTokens = Math.Abs(call.OutputTokens % 1_000_000),
                CachedInputTokens = call.CachedInputTokens is { } c ? Math.Abs(c % 1_000_000) : null,
                RetryCount = Math.Abs(call.RetryCount % 100),
            });
        }
        var rows = calls.Select((c, i) => new CallRow(c, i % 12, 1_000_000L + i, Ingested)).ToArray();

        var driverBody = await DriverBodyAsync(rows.Select(r => CallRows.ToRow(r.Call, r.Partition, r.Offset, r.IngestedAt)).ToArray());
        var ours = new ArrayBufferWriter<byte>();
        foreach (var row in rows) CallRows.Write(ours, row);

        Assert.Equal(driverBody.Length, ours.WrittenCount);
        var at = ours.WrittenSpan.CommonPrefixLength(driverBody);
        Assert.True(at == driverBody.Length, $"first difference at byte {at} of {driverBody.Length}");
    }

    [Fact]
    public void Write_DateOutsideClickHouseDateTime_IsRefused_NotWrapped()
    {
        var row = new CallRow(Samples.MinimalCall() with { OccurredAt = new DateTimeOffset(1969, 12, 31, 0, 0, 0, TimeSpan.Zero) }, 0, 0, Ingested);
        Assert.Throws<ArgumentOutOfRangeException>(() => CallRows.Write(new ArrayBufferWriter<byte>(), row));
    }

    [Fact]
    public void Write_TagOrderDoesNotChangeTheRow()
    {
        var a = Samples.MinimalCall() with { Tags = new Dictionary<string, string> { ["b"] = "2", ["a"] = "1" } };
        var b = a with { Tags = new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" } };
        var x = new ArrayBufferWriter<byte>();
        var y = new ArrayBufferWriter<byte>();
        CallRows.Write(x, new CallRow(a, 0, 0, Ingested));
        CallRows.Write(y, new CallRow(b, 0, 0, Ingested));
        Assert.Equal(x.WrittenSpan.ToArray(), y.WrittenSpan.ToArray());
    }

    /// <summary>The body ClickHouse.Driver posts for an insert of <paramref name="rows"/> through <see cref="ClickHouseHttp"/>.</summary>
    private static async Task<byte[]> DriverBodyAsync(object?[][] rows)
    {
        var port = FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        byte[]? insertBody = null;
        var serve = Task.Run(async () =>
        {
            while (insertBody is null)
            {
                var ctx = await listener.GetContextAsync();
                using var body = new MemoryStream();
                await ctx.Request.InputStream.CopyToAsync(body);
                var query = Uri.UnescapeDataString(ctx.Request.Url!.Query);
                if (query.Contains("INSERT", StringComparison.OrdinalIgnoreCase) || body.ToArray().AsSpan().IndexOf("INSERT"u8) >= 0)
                {
                    insertBody = body.ToArray();
                }
                ctx.Response.StatusCode = 200;
                ctx.Response.Close();
            }
        });
        using var client = new ClickHouseHttp(new ClickHouseOptions { Url = new Uri($"http://127.0.0.1:{port}/"), Database = "db" });
        await client.InsertAsync("calls", CallRows.Columns, rows, TestContext.Current.CancellationToken);
        await serve.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        return StripInsertStatement(insertBody!);
    }

    /// <summary>The driver may put the INSERT statement at the start of the body, before the rows.</summary>
    private static byte[] StripInsertStatement(byte[] body)
    {
        if (!body.AsSpan().StartsWith("INSERT"u8)) return body;
        var end = body.AsSpan().IndexOf("RowBinary"u8) + "RowBinary".Length;
        while (end < body.Length && body[end] is (byte)'\n' or (byte)' ') end++;
        return body[end..];
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
