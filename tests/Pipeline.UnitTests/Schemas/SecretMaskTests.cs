using Pipeline.Schemas;

namespace Pipeline.UnitTests.Schemas;

public sealed class SecretMaskTests
{
    [Theory]
    [InlineData("ssl.key.pem")]
    [InlineData("ssl.key.password")]
    [InlineData("sasl.jaas.config")]
    [InlineData("sasl.oauthbearer.config")]
    [InlineData("sasl.oauthbearer.client.secret")]
    [InlineData("sasl.password")]
    [InlineData("sasl_password")]
    [InlineData("ssl.keystore.password")]
    [InlineData("Password")]
    [InlineData("AnalystPassword")]
    [InlineData("ClickHouse:Password")]
    [InlineData("RoutingKey")]
    [InlineData("ApiKey")]
    [InlineData("APIKey")]
    [InlineData("AccessToken")]
    public void IsSecretKey_SecretNames_True(string key) => Assert.True(SecretMask.IsSecretKey(key));

    [Theory]
    [InlineData("bootstrap.servers")]
    [InlineData("GroupId")]
    [InlineData("MaxBatchRows")]
    [InlineData("sasl.username")]
    [InlineData("sasl.mechanism")]
    [InlineData("ssl.key.location")]
    [InlineData("ssl.keystore.location")]
    [InlineData("ssl.certificate.pem")]
    [InlineData("Monkey")]
    [InlineData("Keyboard")]
    [InlineData("AnalystUser")]
    [InlineData("Url")]
    public void IsSecretKey_OrdinaryNames_False(string key) => Assert.False(SecretMask.IsSecretKey(key));

    [Theory]
    [InlineData("http://user:pass@host:8123/", "http://user:***@host:8123/")]
    [InlineData("https://token@host/", "https://***@host/")]
    [InlineData("http://user:p@ss@host/x?y=a@b", "http://user:***@host/x?y=a@b")]
    [InlineData("http://host:8123/?a=b@c", "http://host:8123/?a=b@c")]
    [InlineData("ClickHouse at http://u:secret@h:1/ is unreachable", "ClickHouse at http://u:***@h:1/ is unreachable")]
    [InlineData("host:9092,other:9092", "host:9092,other:9092")]
    public void MaskText_UrlUserInfo_Masked(string text, string expected) => Assert.Equal(expected, SecretMask.MaskText(text));

    [Fact]
    public void MaskUrl_Uri_MasksPassword() =>
        Assert.Equal("http://pipeline:***@127.0.0.1:18123/", SecretMask.MaskUrl(new Uri("http://pipeline:hunter2@127.0.0.1:18123/")));

    [Fact]
    public void MaskValue_SecretKey_StarsAndEmptyStaysEmpty()
    {
        Assert.Equal("***", SecretMask.MaskValue("sasl.password", "x"));
        Assert.Equal("", SecretMask.MaskValue("sasl.password", ""));
        Assert.Equal("k:9092", SecretMask.MaskValue("bootstrap.servers", "k:9092"));
    }
}
