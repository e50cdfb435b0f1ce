using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace LlamaAdapter.Tests.Formats;

/// <summary>
/// Test-side stand-in for torch.save (torch/serialization.py, _use_new_zipfile_serialization): the pickle bytes
/// Python's pickler emits at protocol 2 for a state dict of tensors, and the zip layout PyTorchStreamWriter writes.
/// Objects are memoised by identity exactly as Python does (a string or class seen again becomes BINGET), so
/// the output follows the same sharing. tools/make_meta_fixture.py writes the same checkpoint with real torch.
/// </summary>
internal static class MetaTorchSaveWriter
{
    public sealed class Storage(string typeName, string key, long numel, byte[] bytes)
    {
        public string TypeName { get; } = typeName;
        public string Key { get; } = key;
        public long Numel { get; } = numel;
        public byte[] Bytes { get; } = bytes;
    }

    public sealed record Tensor(Storage Storage, long Offset, long[] Size, long[] Stride);

    /// <summary>A Python class reference (pickled as GLOBAL); one instance per class, as classes are singletons.</summary>
    public sealed record Global(string Module, string Name);

    /// <summary>An object pickled through __reduce__: func(*args), then dict items, then BUILD with state.</summary>
    public sealed class Reduce(object func, object?[] args, List<KeyValuePair<object, object?>>? dictItems = null, object? state = null)
    {
        public object Func { get; } = func;
        public object?[] Args { get; } = args;
        public List<KeyValuePair<object, object?>>? DictItems { get; } = dictItems;
        public object? State { get; } = state;
    }

    /// <summary>A plain dict.</summary>
    public sealed class Dict(List<KeyValuePair<object, object?>> items)
    {
        public List<KeyValuePair<object, object?>> Items { get; } = items;
    }

    private static readonly Dictionary<(string, string), Global> Globals = [];
    public static Global G(string module, string name)
    {
        lock (Globals)
        {
            if (!Globals.TryGetValue((module, name), out var g)) Globals[(module, name)] = g = new Global(module, name);
            return g;
        }
    }

    // The constant strings of torch's persistent_id: one object each, so repeats are memo hits.
    private const string StorageTag = "storage", CpuTag = "cpu";

    /// <summary>tensor.__reduce_ex__(2): (_rebuild_tensor_v2, (storage, offset, size, stride, False, OrderedDict())).</summary>
    public static Reduce TensorObject(Tensor t) =>
        new(G("torch._utils", "_rebuild_tensor_v2"),
            [t.Storage, t.Offset, t.Size.Select(x => (object?)x).ToArray(), t.Stride.Select(x => (object?)x).ToArray(), false,
             new Reduce(G("collections", "OrderedDict"), [])]);

    /// <summary>data.pkl for a dict {name: tensor}; <paramref name="ordered"/> pickles it as state_dict() does (OrderedDict with _metadata).</summary>
    public static byte[] Pickle(IEnumerable<(string Name, object Tensor)> items, bool ordered = false)
    {
        var kv = items.Select(i => new KeyValuePair<object, object?>(i.Name, i.Tensor)).ToList();
        object root = ordered
            ? new Reduce(G("collections", "OrderedDict"), [], kv,
                new Dict([new("_metadata", new Reduce(G("collections", "OrderedDict"), [], [new("", new Dict([new("version", 1L)]))]))]))
            : new Dict(kv);
        return new Pickler().Dump(root);
    }

    private sealed class Pickler
    {
        private readonly MemoryStream _o = new();
        private readonly Dictionary<object, int> _memo = new(ReferenceEqualityComparer.Instance);

        public byte[] Dump(object root)
        {
            _o.Write([0x80, 2]); // PROTO 2
            Save(root);
            _o.WriteByte((byte)'.');
            return _o.ToArray();
        }

        private void Save(object? x)
        {
            if (x is Storage s) // persistent_id comes before the memo
            {
                Save(new object?[] { StorageTag, G("torch", s.TypeName), s.Key, CpuTag, s.Numel });
                _o.WriteByte((byte)'Q');
                return;
            }
            if (x is not null && _memo.TryGetValue(x, out int slot) && !(x is object?[] { Length: 0 })) { Get(slot); return; }
            switch (x)
            {
                case null: _o.WriteByte((byte)'N'); break;
                case bool b: _o.WriteByte(b ? (byte)0x88 : (byte)0x89); break;
                case long l: SaveLong(l); break;
                case int i: SaveLong(i); break;
                case string str:
                {
                    var u = Encoding.UTF8.GetBytes(str);
                    _o.WriteByte((byte)'X');
                    WriteU32((uint)u.Length);
                    _o.Write(u);
                    Memoize(str);
                    break;
                }
                case Global g:
                    _o.WriteByte((byte)'c');
                    _o.Write(Encoding.ASCII.GetBytes($"{g.Module}\n{g.Name}\n"));
                    Memoize(g);
                    break;
                case object?[] t:
                    if (t.Length == 0) { _o.WriteByte((byte)')'); break; }
                    if (t.Length <= 3)
                    {
                        foreach (var e in t) Save(e);
                        _o.WriteByte((byte)(0x84 + t.Length)); // TUPLE1..3
                    }
                    else
                    {
                        _o.WriteByte((byte)'(');
                        foreach (var e in t) Save(e);
                        _o.WriteByte((byte)'t');
                    }
                    Memoize(t);
                    break;
                case Dict d:
                    _o.WriteByte((byte)'}');
                    Memoize(d);
                    SetItems(d.Items);
                    break;
                case Reduce r:
                    Save(r.Func);
                    Save(r.Args);
                    _o.WriteByte((byte)'R');
                    Memoize(r);
                    if (r.DictItems is not null) SetItems(r.DictItems);
                    if (r.State is not null)
                    {
                        Save(r.State);
                        _o.WriteByte((byte)'b');
                    }
                    break;
                default: throw new ArgumentException($"cannot pickle {x.GetType()}");
            }
        }

        // pickle's _batch_setitems: batches of 1000; a batch of one uses SETITEM.
        private void SetItems(List<KeyValuePair<object, object?>> items)
        {
            foreach (var batch in items.Chunk(1000))
            {
                if (batch.Length > 1) _o.WriteByte((byte)'(');
                foreach (var (k, v) in batch) { Save(k); Save(v); }
                _o.WriteByte(batch.Length > 1 ? (byte)'u' : (byte)'s');
            }
        }

        private void SaveLong(long v)
        {
            if (v is >= 0 and <= 0xff) { _o.WriteByte((byte)'K'); _o.WriteByte((byte)v); return; }
            if (v is >= 0 and <= 0xffff) { _o.WriteByte((byte)'M'); _o.WriteByte((byte)v); _o.WriteByte((byte)(v >> 8)); return; }
            if (v is >= int.MinValue and <= int.MaxValue) { _o.WriteByte((byte)'J'); WriteU32((uint)(int)v); return; }
            // LONG1: minimal little-endian two's complement.
            var bytes = new List<byte>();
            long x = v;
            while (true)
            {
                bytes.Add((byte)x);
                long rest = x >> 8;
                if ((rest == 0 && (bytes[^1] & 0x80) == 0) || (rest == -1 && (bytes[^1] & 0x80) != 0)) break;
                x = rest;
            }
            _o.WriteByte(0x8a);
            _o.WriteByte((byte)bytes.Count);
            _o.Write(bytes.ToArray());
        }

        private void Memoize(object o)
        {
            int idx = _memo.Count;
            _memo[o] = idx;
            if (idx < 256) { _o.WriteByte((byte)'q'); _o.WriteByte((byte)idx); }
            else { _o.WriteByte((byte)'r'); WriteU32((uint)idx); }
        }

        private void Get(int idx)
        {
            if (idx < 256) { _o.WriteByte((byte)'h'); _o.WriteByte((byte)idx); }
            else { _o.WriteByte((byte)'j'); WriteU32((uint)idx); }
        }

        private void WriteU32(uint v)
        {
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(b, v);
            _o.Write(b);
        }
    }

    /// <summary>
    /// The zip as PyTorchStreamWriter lays it out: records stored, each record's data 64-byte aligned by a padding
    /// extra field, in the order data.pkl, byteorder, data/&lt;key&gt;…, version. <paramref name="zip64"/> forces zip64
    /// records (as files over 4 GiB get); <paramref name="deflate"/> compresses the storages (torch never does).
    /// </summary>
    public static byte[] Zip(string archive, byte[] dataPkl, IEnumerable<Storage> storages, bool zip64 = false, bool deflate = false)
    {
        var records = new List<(string Name, byte[] Data)> { ($"{archive}/data.pkl", dataPkl), ($"{archive}/byteorder", "little"u8.ToArray()) };
        records.AddRange(storages.DistinctBy(s => s.Key).OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => ($"{archive}/data/{s.Key}", s.Bytes)));
        records.Add(($"{archive}/version", "3\n"u8.ToArray()));

        var o = new MemoryStream();
        var central = new MemoryStream();
        int count = 0;
        foreach (var (name, data) in records)
        {
            bool compress = deflate && name.Contains("/data/");
            byte[] stored = compress ? Deflate(data) : data;
            long local = o.Position;
            var nameBytes = Encoding.UTF8.GetBytes(name);
            int pad = (int)((64 - (local + 30 + nameBytes.Length + 4) % 64) % 64);
            uint crc = Crc32(data);
            WriteLocal(o, nameBytes, compress, crc, stored.Length, data.Length, pad);
            o.Write(stored);
            WriteCentral(central, nameBytes, compress, crc, stored.Length, data.Length, local, zip64);
            count++;
        }
        long cdOffset = o.Position;
        central.Position = 0;
        central.CopyTo(o);
        long cdSize = o.Position - cdOffset;
        var w = new BinaryWriter(o);
        if (zip64)
        {
            long e64 = o.Position;
            w.Write(0x06064b50u); w.Write(44UL); w.Write((ushort)45); w.Write((ushort)45); w.Write(0u); w.Write(0u);
            w.Write((ulong)count); w.Write((ulong)count); w.Write((ulong)cdSize); w.Write((ulong)cdOffset);
            w.Write(0x07064b50u); w.Write(0u); w.Write((ulong)e64); w.Write(1u);
        }
        w.Write(0x06054b50u); w.Write((ushort)0); w.Write((ushort)0);
        w.Write(zip64 ? (ushort)0xFFFF : (ushort)count); w.Write(zip64 ? (ushort)0xFFFF : (ushort)count);
        w.Write(zip64 ? 0xFFFFFFFFu : (uint)cdSize); w.Write(zip64 ? 0xFFFFFFFFu : (uint)cdOffset); w.Write((ushort)0);
        w.Flush();
        return o.ToArray();
    }

    private static void WriteLocal(Stream s, byte[] name, bool deflated, uint crc, long csize, long size, int pad)
    {
        var w = new BinaryWriter(s);
        w.Write(0x04034b50u); w.Write((ushort)20); w.Write((ushort)0); w.Write(deflated ? (ushort)8 : (ushort)0);
        w.Write((ushort)0); w.Write((ushort)0x21); w.Write(crc); w.Write((uint)csize); w.Write((uint)size);
        w.Write((ushort)name.Length); w.Write((ushort)(4 + pad));
        w.Write(name);
        w.Write((ushort)0x4246); w.Write((ushort)pad); w.Write(Enumerable.Repeat((byte)'Z', pad).ToArray()); // 'FB' padding, as PyTorch
        w.Flush();
    }

    private static void WriteCentral(Stream s, byte[] name, bool deflated, uint crc, long csize, long size, long local, bool zip64)
    {
        var w = new BinaryWriter(s);
        w.Write(0x02014b50u); w.Write((ushort)45); w.Write((ushort)(zip64 ? 45 : 20)); w.Write((ushort)0); w.Write(deflated ? (ushort)8 : (ushort)0);
        w.Write((ushort)0); w.Write((ushort)0x21); w.Write(crc);
        w.Write(zip64 ? 0xFFFFFFFFu : (uint)csize); w.Write(zip64 ? 0xFFFFFFFFu : (uint)size);
        w.Write((ushort)name.Length); w.Write((ushort)(zip64 ? 28 : 0)); w.Write((ushort)0); w.Write((ushort)0); w.Write((ushort)0); w.Write(0u);
        w.Write(zip64 ? 0xFFFFFFFFu : (uint)local);
        w.Write(name);
        if (zip64) { w.Write((ushort)1); w.Write((ushort)24); w.Write((ulong)size); w.Write((ulong)csize); w.Write((ulong)local); }
        w.Flush();
    }

    private static byte[] Deflate(byte[] data)
    {
        var ms = new MemoryStream();
        using (var z = new DeflateStream(ms, CompressionLevel.Optimal, leaveOpen: true)) z.Write(data);
        return ms.ToArray();
    }

    private static uint Crc32(byte[] data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ 0xEDB88320 : c >> 1;
        }
        return ~c;
    }
}
