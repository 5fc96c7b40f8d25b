using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ClickHouse.Driver;
using Pipeline.Schemas;

namespace Pipeline.ClickHouse;

/// <summary>A ClickHouse error response, with the server's code when it sent one.</summary>
public sealed class ClickHouseException(int httpStatus, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>HTTP status of the failed request (0 when the server was unreachable).</summary>
    public int HttpStatus { get; } = httpStatus;
    /// <summary>The server's error code (ClickHouse's ErrorCodes.cpp), when the response carried one.</summary>
    public int? Code { get; } = ClickHouseErrors.CodeOf(message);
    /// <summary>How a worker should react: retry, wait for a repair, or find the rejected rows.</summary>
    public ClickHouseErrorClass Class => ClickHouseErrors.Classify(this)!.Value;
}

/// <summary>
/// The pipeline's ClickHouse client. Reads go over HTTP with an explicit <c>FORMAT JSONEachRow</c>
/// (ClickHouse.Driver's readers need formats 18.16 lacks); inserts go through ClickHouse.Driver's
/// RowBinary <c>InsertBinaryAsync</c> with explicit column types and no compression, which 18.16 accepts.
/// Values are never spliced into SQL except through <see cref="Quote(string)"/>.
/// </summary>
public sealed class ClickHouseHttp : IDisposable
{
    private readonly HttpClient _http;
    private readonly ClickHouseClient _driver;
    private readonly ClickHouseOptions _options;

    /// <summary>Creates a client for <paramref name="options"/>.</summary>
    public ClickHouseHttp(ClickHouseOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _http = new HttpClient { BaseAddress = options.Url, Timeout = options.RequestTimeout };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{options.User}:{options.Password}")));
        var scheme = options.Url.Scheme;
        var builder = new StringBuilder()
            .Append("Host=").Append(options.Url.Host)
            .Append(";Port=").Append(options.Url.Port)
            .Append(";Protocol=").Append(scheme)
            .Append(";Username=").Append(options.User)
            .Append(";Password=").Append(options.Password)
            .Append(";Database=").Append(options.Database)
            .Append(";Compression=false;JsonReadMode=None;JsonWriteMode=None");
        _driver = new ClickHouseClient(builder.ToString());
    }

    /// <summary>The options this client was made with.</summary>
    public ClickHouseOptions Options => _options;

    /// <summary>Runs a statement in the configured database (or none, for CREATE DATABASE).</summary>
    public Task ExecuteAsync(string sql, CancellationToken cancellationToken, bool useDatabase = true) =>
        SendAsync(sql, useDatabase, cancellationToken);

    /// <summary>Runs a query and returns its rows, parsed from JSONEachRow.</summary>
    public async Task<IReadOnlyList<JsonElement>> QueryAsync(string sql, CancellationToken cancellationToken)
    {
        var body = await SendAsync(sql.TrimEnd().TrimEnd(';') + "\nFORMAT JSONEachRow", true, cancellationToken);
        var rows = new List<JsonElement>();
        foreach (var line in body.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            rows.Add(doc.RootElement.Clone());
        }
        return rows;
    }

    /// <summary>Runs a query that returns one number.</summary>
    public async Task<double> ScalarAsync(string sql, CancellationToken cancellationToken)
    {
        var body = await SendAsync(sql.TrimEnd().TrimEnd(';') + "\nFORMAT TabSeparated", true, cancellationToken);
        return double.Parse(body.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Inserts rows in RowBinary; <paramref name="columnTypes"/> names every column's ClickHouse type.</summary>
    public async Task<long> InsertAsync(string table, IReadOnlyList<KeyValuePair<string, string>> columnTypes, IEnumerable<object?[]> rows,
        CancellationToken cancellationToken)
    {
        try
        {
            return await InsertCoreAsync(table, columnTypes, rows, cancellationToken);
        }
        catch (Exception ex) when (ex is not ClickHouseException and not OperationCanceledException && ex.GetType().Name.StartsWith("ClickHouse", StringComparison.Ordinal))
        {
            // ClickHouse.Driver's server exceptions carry the server's text ("Code: 252. DB::Exception: Too many parts");
            // one exception type lets every caller classify them.
            throw new ClickHouseException(500, $"ClickHouse insert into {table} failed: {ex.Message}", ex);
        }
    }

    private Task<long> InsertCoreAsync(string table, IReadOnlyList<KeyValuePair<string, string>> columnTypes, IEnumerable<object?[]> rows,
        CancellationToken cancellationToken)
    {
        var options = new InsertOptions
        {
            ColumnTypes = columnTypes.ToDictionary(c => c.Key, c => c.Value),
            Compressor = null,
            Database = _options.Database,
            BatchSize = 100_000,
        };
        return _driver.InsertBinaryAsync(table, columnTypes.Select(c => c.Key), rows!, options, cancellationToken);
    }

    /// <summary>Quotes a string literal for ClickHouse SQL (backslash and quote escaped, control bytes as escapes).</summary>
    public static string Quote(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var sb = new StringBuilder(value.Length + 2).Append('\'');
        foreach (var ch in value)
        {
            switch (ch)
            {
                case '\\': sb.Append(@"\\"); break;
                case '\'': sb.Append(@"\'"); break;
                case '\n': sb.Append(@"\n"); break;
                case '\r': sb.Append(@"\r"); break;
                case '\t': sb.Append(@"\t"); break;
                case '\0': sb.Append(@"\0"); break;
                default:
                    if (char.IsControl(ch)) sb.Append(@"\x").Append(((int)ch).ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
                    else sb.Append(ch);
                    break;
            }
        }
        return sb.Append('\'').ToString();
    }

    /// <summary>Quotes an identifier (database, table, column) with backticks.</summary>
    public static string QuoteIdentifier(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return "`" + name.Replace("\\", @"\\", StringComparison.Ordinal).Replace("`", "\\`", StringComparison.Ordinal) + "`";
    }

    /// <summary>
    /// Inserts <paramref name="rowCount"/> rows this process wrote in RowBinary (<see cref="RowBinaryWriter"/>), in the
    /// order of <paramref name="columns"/>: no <c>object[]</c> per row and no second encoding by the driver.
    /// </summary>
    public async Task<long> InsertRowBinaryAsync(string table, IReadOnlyList<string> columns, ReadOnlyMemory<byte> body, long rowCount,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(columns);
        if (rowCount == 0) return 0;
        var sql = $"INSERT INTO {QuoteIdentifier(table)} ({string.Join(", ", columns.Select(QuoteIdentifier))}) FORMAT RowBinary";
        using var content = new ReadOnlyMemoryContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        await SendAsync(content, "query=" + Uri.EscapeDataString(sql), true, cancellationToken);
        return rowCount;
    }

    private async Task<string> SendAsync(string sql, bool useDatabase, CancellationToken cancellationToken)
    {
        using var content = new StringContent(sql, Encoding.UTF8, "text/plain");
        return await SendAsync(content, "", useDatabase, cancellationToken);
    }

    private async Task<string> SendAsync(HttpContent content, string parameters, bool useDatabase, CancellationToken cancellationToken)
    {
        // A readonly=1 user may not set settings per query; its server profile sets them instead.
        var query = (_options.IsReadOnlyUser ? "?" : "?output_format_json_quote_64bit_integers=0&")
            + (useDatabase ? "database=" + Uri.EscapeDataString(_options.Database) : "")
            + (parameters.Length > 0 ? "&" + parameters : "");
        HttpResponseMessage response;
        try
        {
            response = await _http.PostAsync(new Uri(query, UriKind.Relative), content, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            // The URL may carry user information; neither it nor the handler's message may print a password.
            throw new ClickHouseException(0, $"ClickHouse at {SecretMask.MaskUrl(_options.Url)} is unreachable ({SecretMask.MaskText(ex.Message)}); start it with './pipeline up' or set ClickHouse:Url");
        }
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new ClickHouseException((int)response.StatusCode, $"ClickHouse {(int)response.StatusCode}: {body.Trim()}");
            }
            return body;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _http.Dispose();
        _driver.Dispose();
    }
}
