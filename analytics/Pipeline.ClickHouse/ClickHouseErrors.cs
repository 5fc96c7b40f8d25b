using System.Globalization;
using System.Text.RegularExpressions;

namespace Pipeline.ClickHouse;

/// <summary>How a worker reacts to a failed ClickHouse request.</summary>
public enum ClickHouseErrorClass
{
    /// <summary>Can heal by itself (unreachable, timeouts, too many parts, memory, replicas): retry with backoff.</summary>
    Transient,
    /// <summary>
    /// Deterministic and about the server, not the rows (unknown column or table, type mismatch, access):
    /// retry slowly while paused and unready, so that repairing the table resumes the worker.
    /// </summary>
    Blocked,
    /// <summary>The server refused the data itself (cannot parse, out of bound): find and dead-letter the rows.</summary>
    Rejected,
}

/// <summary>Classifies ClickHouse failures by the server's error code (see ClickHouse's ErrorCodes.cpp).</summary>
public static partial class ClickHouseErrors
{
    private static readonly HashSet<int> TransientCodes =
    [
        3,   // UNEXPECTED_END_OF_FILE
        32,  // ATTEMPT_TO_READ_AFTER_EOF
        159, // TIMEOUT_EXCEEDED
        164, // READONLY (a replica in read-only mode)
        202, // TOO_MANY_SIMULTANEOUS_QUERIES
        203, // NO_FREE_CONNECTION
        209, // SOCKET_TIMEOUT
        210, // NETWORK_ERROR
        236, // ABORTED
        241, // MEMORY_LIMIT_EXCEEDED
        242, // TABLE_IS_READ_ONLY
        252, // TOO_MANY_PARTS
        285, // TOO_FEW_LIVE_REPLICAS
        286, // UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
        319, // UNKNOWN_STATUS_OF_INSERT
        394, // QUERY_WAS_CANCELLED
        425, // SYSTEM_ERROR
        439, // CANNOT_SCHEDULE_TASK
        999, // KEEPER_EXCEPTION
    ];

    private static readonly HashSet<int> BlockedCodes =
    [
        8,   // THERE_IS_NO_COLUMN
        10,  // NOT_FOUND_COLUMN_IN_BLOCK
        16,  // NO_SUCH_COLUMN_IN_TABLE
        47,  // UNKNOWN_IDENTIFIER
        53,  // TYPE_MISMATCH
        60,  // UNKNOWN_TABLE
        62,  // SYNTAX_ERROR
        81,  // UNKNOWN_DATABASE
        115, // UNKNOWN_SETTING
        192, // UNKNOWN_USER
        193, // WRONG_PASSWORD
        194, // REQUIRED_PASSWORD
        195, // IP_ADDRESS_NOT_ALLOWED
        291, // DATABASE_ACCESS_DENIED
        497, // ACCESS_DENIED
        516, // AUTHENTICATION_FAILED
    ];

    private static readonly HashSet<int> RejectedCodes =
    [
        6,   // CANNOT_PARSE_TEXT
        27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
        33,  // CANNOT_READ_ALL_DATA
        38,  // CANNOT_PARSE_DATE
        41,  // CANNOT_PARSE_DATETIME
        69,  // ARGUMENT_OUT_OF_BOUND
        70,  // CANNOT_CONVERT_TYPE
        72,  // CANNOT_PARSE_NUMBER
        117, // INCORRECT_DATA
        131, // TOO_LARGE_STRING_SIZE
        128, // TOO_LARGE_ARRAY_SIZE
    ];

    /// <summary>The server's error code in a ClickHouse error text (<c>Code: 252. DB::Exception: ...</c>), or null.</summary>
    public static int? CodeOf(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var m = CodePattern().Match(message);
        return m.Success ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }

    /// <summary>The class of <paramref name="ex"/>, or null when it is not a ClickHouse or transport failure.</summary>
    public static ClickHouseErrorClass? Classify(Exception ex)
    {
        ArgumentNullException.ThrowIfNull(ex);
        switch (ex)
        {
            case ClickHouseException ch:
                if (ch.HttpStatus == 0) return ClickHouseErrorClass.Transient;
                if (ch.Code is { } code)
                {
                    if (TransientCodes.Contains(code)) return ClickHouseErrorClass.Transient;
                    if (BlockedCodes.Contains(code)) return ClickHouseErrorClass.Blocked;
                    if (RejectedCodes.Contains(code)) return ClickHouseErrorClass.Rejected;
                }
                // Unknown codes: a 5xx may heal, a 4xx will not heal by retrying fast; neither loses anything.
                return ch.HttpStatus >= 500 ? ClickHouseErrorClass.Transient : ClickHouseErrorClass.Blocked;
            case HttpRequestException or IOException or TimeoutException:
                return ClickHouseErrorClass.Transient;
            case TaskCanceledException tce when tce.InnerException is TimeoutException || !tce.CancellationToken.IsCancellationRequested:
                return ClickHouseErrorClass.Transient;
            default:
                return null;
        }
    }

    [GeneratedRegex(@"Code:\s*(\d+)")]
    private static partial Regex CodePattern();
}
