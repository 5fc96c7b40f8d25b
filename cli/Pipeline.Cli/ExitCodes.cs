namespace Pipeline.Cli;

/// <summary>Exit codes scripts can rely on (documented in docs/cli.md).</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The command ran and found a failure (a check failed, data missing).</summary>
    public const int Failed = 1;
    /// <summary>Bad flags or arguments.</summary>
    public const int Usage = 2;
    /// <summary>A server the command needs is not reachable.</summary>
    public const int Unavailable = 69;
    /// <summary>Bad configuration.</summary>
    public const int Config = 78;
}
