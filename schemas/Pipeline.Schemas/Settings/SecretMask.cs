using System.Text.RegularExpressions;

namespace Pipeline.Schemas;

/// <summary>
/// The one rule for what is never printed (config show, error messages, logs).
/// </summary>
/// <remarks>
/// A key is secret when one of its words is <c>password</c>, <c>passwd</c>, <c>pwd</c>, <c>passphrase</c>,
/// <c>secret</c>, <c>token</c>, <c>credential(s)</c>, <c>jaas</c>, <c>oauthbearer</c>, <c>key</c>,
/// <c>apikey</c> or <c>privatekey</c>, unless its last word is <c>location</c>, <c>path</c> or <c>file</c>
/// (where a secret is kept, not the secret). Words are split at <c>.</c>, <c>_</c>, <c>-</c>, <c>:</c> and
/// lower-to-upper case changes, and compared ignoring case: <c>ssl.key.pem</c>, <c>sasl.jaas.config</c>,
/// <c>sasl.oauthbearer.config</c>, <c>ClickHouse:Password</c>, <c>RoutingKey</c> and <c>ApiKey</c> are secret;
/// <c>ssl.key.location</c>, <c>bootstrap.servers</c>, <c>GroupId</c>, <c>MaxBatchRows</c>, <c>Monkey</c> are not.
/// Independently of the key, the user information of any URL in a value is masked:
/// <c>http://user:pass@host</c> becomes <c>http://user:***@host</c>, <c>http://token@host</c> becomes <c>http://***@host</c>.
/// </remarks>
public static partial class SecretMask
{
    /// <summary>What a masked value reads as.</summary>
    public const string Masked = "***";

    private static readonly HashSet<string> SecretWords = new(StringComparer.OrdinalIgnoreCase)
    {
        "password", "passwd", "pwd", "passphrase", "secret", "secrets", "token", "tokens", "credential", "credentials",
        "jaas", "oauthbearer", "key", "apikey", "privatekey",
    };

    private static readonly HashSet<string> PlaceWords = new(StringComparer.OrdinalIgnoreCase) { "location", "path", "file" };

    /// <summary>True when the value of <paramref name="key"/> (a name or a whole <c>Section:Key</c> path) must never be printed.</summary>
    public static bool IsSecretKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var words = Words(key);
        return words.Count > 0 && !PlaceWords.Contains(words[^1]) && words.Any(SecretWords.Contains);
    }

    /// <summary>The value of <paramref name="key"/> as it may be printed: <c>***</c> for a secret (empty stays empty), URL user information masked otherwise.</summary>
    public static string MaskValue(string key, string? value)
    {
        if (string.IsNullOrEmpty(value)) return "";
        return IsSecretKey(key) ? Masked : MaskText(value);
    }

    /// <summary>The URL with the password (or a lone user token) of its user information masked.</summary>
    public static string MaskUrl(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        return MaskText(url.IsAbsoluteUri ? url.AbsoluteUri : url.OriginalString);
    }

    /// <summary>Free text (an error message, a value) with the user information of every URL in it masked.</summary>
    public static string MaskText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return UserInfoPattern().Replace(text, m =>
        {
            var userInfo = m.Groups["userinfo"].Value;
            var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
            return m.Groups["scheme"].Value + (colon >= 0 ? userInfo[..(colon + 1)] + Masked : Masked) + "@";
        });
    }

    private static List<string> Words(string key)
    {
        var words = new List<string>();
        var start = 0;
        for (var i = 0; i <= key.Length; i++)
        {
            var boundary = i == key.Length || key[i] is '.' or '_' or '-' or ':';
            var caseChange = i > start && i < key.Length && char.IsUpper(key[i])
                && (char.IsLower(key[i - 1]) || char.IsDigit(key[i - 1]) || (i + 1 < key.Length && char.IsLower(key[i + 1]) && char.IsUpper(key[i - 1])));
            if (boundary || caseChange)
            {
                if (i > start) words.Add(key[start..i]);
                start = boundary ? i + 1 : i;
            }
        }
        return words;
    }

    // Greedy up to the last '@' before the path, so an unescaped '@' inside a password is masked too.
    [GeneratedRegex(@"(?<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?<userinfo>[^\s/?#]*)@")]
    private static partial Regex UserInfoPattern();
}
