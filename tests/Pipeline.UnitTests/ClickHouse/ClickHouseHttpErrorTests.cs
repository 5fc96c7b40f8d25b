using System.Net;
using System.Net.Sockets;
using Pipeline.ClickHouse;

namespace Pipeline.UnitTests.ClickHouse;

public sealed class ClickHouseHttpErrorTests
{
    [Fact]
    public async Task ExecuteAsync_Unreachable_MessageNamesTheAddressWithoutCredentials()
    {
        var port = FreePort();
        var options = new ClickHouseOptions { Url = new Uri($"http://writer:URL-SECRET@127.0.0.1:{port}/"), Password = "CH-SECRET", AnalystPassword = "ANALYST-SECRET" };
        using var client = new ClickHouseHttp(options);
        var ex = await Assert.ThrowsAsync<ClickHouseException>(() => client.ExecuteAsync("SELECT 1", TestContext.Current.CancellationToken));
        Assert.Equal(0, ex.HttpStatus);
        Assert.Contains($"http://writer:***@127.0.0.1:{port}/", ex.Message, StringComparison.Ordinal);
        foreach (var secret in new[] { "URL-SECRET", "CH-SECRET", "ANALYST-SECRET" })
        {
            Assert.DoesNotContain(secret, ex.Message, StringComparison.Ordinal);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
