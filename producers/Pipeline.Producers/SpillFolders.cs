namespace Pipeline.Producers;

/// <summary>
/// One <see cref="ProducerOptions.SpillDirectory"/> shared by every process of a service (the natural
/// appsettings.json set-up): each producer writes to a subfolder of its own (<c>p-{pid}-{random}</c>, locked
/// while it runs), and takes over the subfolders of processes that are gone (unlocked, still holding
/// segments) to replay them. Segments directly in the folder (the layout before subfolders) are taken over
/// the same way.
/// </summary>
internal static class SpillFolders
{
    private const string Prefix = "p-";

    /// <summary>A new subfolder of <paramref name="root"/>, locked for this producer.</summary>
    public static SpillStore CreateOwn(string root, long maxBytes, long segmentBytes)
    {
        Directory.CreateDirectory(root);
        for (var attempt = 0; ; attempt++)
        {
            var folder = Path.Combine(root, $"{Prefix}{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
            try
            {
                return new SpillStore(folder, maxBytes, segmentBytes);
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                // Another process's scan took the new folder for a gone one's in the instant before the lock: another name.
            }
        }
    }

    /// <summary>
    /// The folders under <paramref name="root"/> left by processes that are gone, locked for this producer to
    /// replay: unlocked, holding at least one segment, not already <paramref name="held"/>. Empty unlocked
    /// subfolders are removed.
    /// </summary>
    public static List<SpillStore> TakeOrphans(string root, IReadOnlySet<string> held)
    {
        var taken = new List<SpillStore>();
        if (!Directory.Exists(root)) return taken;
        var candidates = new List<string> { root };
        try
        {
            candidates.AddRange(Directory.EnumerateDirectories(root, Prefix + "*"));
        }
        catch (IOException)
        {
            return taken;
        }
        foreach (var folder in candidates)
        {
            if (held.Contains(Path.GetFullPath(folder))) continue;
            var hasSegments = SpillStore.HasSegments(folder);
            if (!hasSegments && folder == root) continue;
            SpillStore store;
            try
            {
                store = new SpillStore(folder, long.MaxValue, 1L << 30);
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                continue; // a running process holds it
            }
            if (!store.IsEmpty)
            {
                taken.Add(store);
                continue;
            }
            store.Dispose();
            TryDelete(folder);
        }
        return taken;
    }

    /// <summary>Removes a subfolder that holds nothing more (its lock file only).</summary>
    public static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }
}
