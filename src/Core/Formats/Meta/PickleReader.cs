using System.Buffers.Binary;
using System.Text;
using LlamaAdapter.Core.Formats.Safetensors;

namespace LlamaAdapter.Core.Formats.Meta;

/// <summary>
/// A restricted unpickler for what torch.save writes (protocol 2; the protocol-4 framing opcodes are tolerated).
/// It is a data-only stack machine: GLOBAL resolves only against a whitelist of names it interprets itself
/// (OrderedDict, the tensor/parameter rebuild functions, the typed storage classes), and any other opcode or
/// global is refused with its byte offset. Nothing from the file is ever executed.
/// </summary>
internal sealed class PickleReader
{
    private static readonly Dictionary<string, SafetensorsDType> StorageTypes = new(StringComparer.Ordinal)
    {
        ["DoubleStorage"] = SafetensorsDType.F64, ["FloatStorage"] = SafetensorsDType.F32,
        ["HalfStorage"] = SafetensorsDType.F16, ["BFloat16Storage"] = SafetensorsDType.BF16,
        ["LongStorage"] = SafetensorsDType.I64, ["IntStorage"] = SafetensorsDType.I32,
        ["ShortStorage"] = SafetensorsDType.I16, ["CharStorage"] = SafetensorsDType.I8,
        ["ByteStorage"] = SafetensorsDType.U8, ["BoolStorage"] = SafetensorsDType.BOOL,
    };

    private static readonly PickleGlobal OrderedDict = new("collections", "OrderedDict");
    private static readonly PickleGlobal RebuildTensorV2 = new("torch._utils", "_rebuild_tensor_v2");
    private static readonly PickleGlobal RebuildParameter = new("torch._utils", "_rebuild_parameter");

    private readonly byte[] _data;
    private readonly string _file, _entry;
    private int _pos, _opAt;
    private readonly List<object?> _stack = [];
    private readonly Stack<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = [];

    private PickleReader(byte[] data, string file, string entry)
    {
        _data = data;
        _file = file;
        _entry = entry;
    }

    /// <summary>Unpickles <paramref name="data"/>; errors name <paramref name="file"/>, <paramref name="entry"/> and the byte offset.</summary>
    public static object? Load(byte[] data, string file, string entry) => new PickleReader(data, file, entry).RunGuarded();

    private object? RunGuarded()
    {
        try { return Run(); }
        catch (OverflowException) { throw Bad("a length or index exceeds 2^31"); }
    }

    private MetaCheckpointException Bad(string what) => new(_file, $"{_entry} byte {_opAt}: {what}");

    private object? Run()
    {
        while (true)
        {
            _opAt = _pos;
            byte op = U8();
            switch (op)
            {
                case 0x80: // PROTO
                    byte proto = U8();
                    if (proto is < 2 or > 5) throw Bad($"pickle protocol {proto}; expected 2 (as torch.save writes) to 5");
                    break;
                case 0x95: Take(8); break;                                   // FRAME: a length hint
                case 0x2e: // STOP
                    if (_stack.Count != 1 || _marks.Count != 0) throw Bad($"STOP with {_stack.Count} values and {_marks.Count} open marks; expected exactly one value");
                    return _stack[0];
                case 0x7d: Push(new PickleDict()); break;                   // EMPTY_DICT
                case 0x5d: Push(new List<object?>()); break;                // EMPTY_LIST
                case 0x29: Push(Array.Empty<object?>()); break;             // EMPTY_TUPLE
                case 0x28: _marks.Push(_stack.Count); break;                // MARK
                case 0x58: Push(Utf8(checked((int)U32()))); break;          // BINUNICODE
                case 0x8c: Push(Utf8(U8())); break;                         // SHORT_BINUNICODE
                case 0x54: Push(Latin1(I32())); break;                      // BINSTRING
                case 0x55: Push(Latin1(U8())); break;                       // SHORT_BINSTRING
                case 0x4a: Push((long)I32()); break;                        // BININT
                case 0x4b: Push((long)U8()); break;                         // BININT1
                case 0x4d: Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break; // BININT2
                case 0x8a: Push(Long1()); break;                            // LONG1
                case 0x47: Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break; // BINFLOAT
                case 0x88: Push(true); break;                               // NEWTRUE
                case 0x89: Push(false); break;                              // NEWFALSE
                case 0x4e: Push(null); break;                               // NONE
                case 0x74: Push(PopMark().ToArray()); break;                // TUPLE
                case 0x85: Push(PopN(1)); break;                            // TUPLE1
                case 0x86: Push(PopN(2)); break;                            // TUPLE2
                case 0x87: Push(PopN(3)); break;                            // TUPLE3
                case 0x63: Push(Global(Line(), Line())); break;             // GLOBAL
                case 0x51: Push(PersistentStorage(Pop())); break;           // BINPERSID
                case 0x52: { var args = Pop(); var fn = Pop(); Push(Reduce(fn, args)); break; } // REDUCE
                case 0x62: Build(Pop()); break;                             // BUILD
                case 0x73: { var v = Pop(); var k = Pop(); AsDict(Top()).Set(Key(k), v); break; } // SETITEM
                case 0x75:                                                  // SETITEMS
                {
                    var items = PopMark();
                    if (items.Count % 2 != 0) throw Bad($"SETITEMS with an odd number ({items.Count}) of keys and values");
                    var d = AsDict(Top());
                    for (int i = 0; i < items.Count; i += 2) d.Set(Key(items[i]), items[i + 1]);
                    break;
                }
                case 0x61: { var v = Pop(); AsList(Top()).Add(v); break; }  // APPEND
                case 0x65: { var items = PopMark(); AsList(Top()).AddRange(items); break; } // APPENDS
                case 0x68: Push(Get(U8())); break;                          // BINGET
                case 0x6a: Push(Get(U32())); break;                         // LONG_BINGET
                case 0x71: _memo[U8()] = Top(); break;                      // BINPUT
                case 0x72: _memo[U32()] = Top(); break;                     // LONG_BINPUT
                case 0x94: _memo[_memo.Count] = Top(); break;               // MEMOIZE
                default:
                    throw Bad($"opcode 0x{op:x2}{(op is >= 0x20 and < 0x7f ? $" ('{(char)op}')" : "")} is not allowed in a tensor checkpoint");
            }
        }
    }

    private ReadOnlySpan<byte> Take(long n)
    {
        if (n < 0 || n > _data.Length - _pos) throw Bad($"{n} bytes needed but the pickle ends at byte {_data.Length}");
        var s = _data.AsSpan(_pos, (int)n);
        _pos += (int)n;
        return s;
    }

    private byte U8() => Take(1)[0];
    private uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
    private int I32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));
    private string Utf8(long n)
    {
        try { return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Take(n)); }
        catch (DecoderFallbackException) { throw Bad("string is not valid UTF-8"); }
    }
    private string Latin1(long n) => Encoding.Latin1.GetString(Take(n));

    private string Line()
    {
        int end = Array.IndexOf(_data, (byte)'\n', _pos);
        if (end < 0 || end - _pos > 256) throw Bad("GLOBAL name not terminated by a newline within 256 bytes");
        string s = Encoding.ASCII.GetString(_data, _pos, end - _pos);
        _pos = end + 1;
        return s;
    }

    private long Long1()
    {
        int n = U8();
        if (n > 8) throw Bad($"LONG1 of {n} bytes; integers wider than 64 bits are not expected in a checkpoint");
        var b = Take(n);
        long v = 0;
        for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
        if (n is > 0 and < 8 && (b[n - 1] & 0x80) != 0) v -= 1L << (8 * n); // two's complement sign
        return v;
    }

    private void Push(object? o) => _stack.Add(o);

    private object? Top() => _stack.Count > (_marks.Count > 0 ? _marks.Peek() : 0) ? _stack[^1] : throw Bad("stack underflow");

    private object? Pop()
    {
        var v = Top();
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private object?[] PopN(int n)
    {
        var r = new object?[n];
        for (int i = n - 1; i >= 0; i--) r[i] = Pop();
        return r;
    }

    private List<object?> PopMark()
    {
        if (_marks.Count == 0) throw Bad("no MARK to pop to");
        int m = _marks.Pop();
        var items = _stack.GetRange(m, _stack.Count - m);
        _stack.RemoveRange(m, _stack.Count - m);
        return items;
    }

    private object? Get(long i) => _memo.TryGetValue(i, out var v) ? v : throw Bad($"memo slot {i} was never stored");

    private PickleDict AsDict(object? o) => o as PickleDict ?? throw Bad($"SETITEM(S) on a {Describe(o)}; expected a dict");
    private List<object?> AsList(object? o) => o as List<object?> ?? throw Bad($"APPEND(S) on a {Describe(o)}; expected a list");

    private object Key(object? k) => k is string or long or bool or double ? k : throw Bad($"dict key of type {Describe(k)}; expected a string or number");

    private PickleGlobal Global(string module, string name)
    {
        var g = new PickleGlobal(module, name);
        if (g == OrderedDict || g == RebuildTensorV2 || g == RebuildParameter || (module == "torch" && StorageTypes.ContainsKey(name))) return g;
        throw Bad($"GLOBAL {module}.{name} is not allowed (only collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and torch.*Storage)");
    }

    private TorchStorageRef PersistentStorage(object? pid)
    {
        if (pid is not object?[] { Length: 5 } t || t[0] is not "storage")
            throw Bad($"persistent id {Describe(pid)}; expected ('storage', storage_type, key, location, numel)");
        if (t[1] is not PickleGlobal { Module: "torch" } g || !StorageTypes.TryGetValue(g.Name, out var dtype))
            throw Bad($"persistent id storage type {Describe(t[1])}; expected a torch.*Storage class");
        if (t[2] is not string key || key.Length == 0 || key.Contains('/') || key.Contains('\\') || key.Contains(".."))
            throw Bad($"persistent id key {Describe(t[2])}; expected a plain record name");
        if (t[3] is not string location) throw Bad($"persistent id location {Describe(t[3])}; expected a string such as 'cpu'");
        if (t[4] is not long numel || numel < 0) throw Bad($"persistent id numel {Describe(t[4])}; expected a non-negative integer");
        return new TorchStorageRef(dtype, key, location, numel);
    }

    private object Reduce(object? fn, object? args)
    {
        if (args is not object?[] a) throw Bad($"REDUCE arguments are a {Describe(args)}; expected a tuple");
        if (Equals(fn, OrderedDict))
            return a.Length == 0 ? new PickleDict() : throw Bad($"collections.OrderedDict called with {a.Length} arguments; expected ()");
        if (Equals(fn, RebuildTensorV2))
        {
            if (a.Length is not (6 or 7)) throw Bad($"_rebuild_tensor_v2 called with {a.Length} arguments; expected (storage, offset, size, stride, requires_grad, hooks[, metadata])");
            var storage = a[0] as TorchStorageRef ?? throw Bad($"_rebuild_tensor_v2 storage is a {Describe(a[0])}; expected a persistent storage id");
            long offset = a[1] as long? ?? throw Bad($"_rebuild_tensor_v2 offset is a {Describe(a[1])}; expected an integer");
            long[] size = Ints(a[2], "size"), stride = Ints(a[3], "stride");
            if (size.Length != stride.Length) throw Bad($"_rebuild_tensor_v2 size has {size.Length} dimensions but stride {stride.Length}");
            bool grad = a[4] as bool? ?? throw Bad($"_rebuild_tensor_v2 requires_grad is a {Describe(a[4])}; expected a bool");
            if (a[5] is not PickleDict { Items.Count: 0 }) throw Bad($"_rebuild_tensor_v2 backward_hooks is {Describe(a[5])}; expected an empty OrderedDict");
            return new TorchTensorRef(storage, offset, size, stride, grad);
        }
        if (Equals(fn, RebuildParameter))
        {
            if (a.Length != 3 || a[0] is not TorchTensorRef t) throw Bad("_rebuild_parameter expects (tensor, requires_grad, hooks)");
            return t;
        }
        throw Bad($"REDUCE of {Describe(fn)}; only collections.OrderedDict, _rebuild_tensor_v2 and _rebuild_parameter may be called");
    }

    private long[] Ints(object? o, string what)
    {
        if (o is not object?[] t) throw Bad($"_rebuild_tensor_v2 {what} is a {Describe(o)}; expected a tuple of integers");
        var r = new long[t.Length];
        for (int i = 0; i < t.Length; i++) r[i] = t[i] as long? ?? throw Bad($"_rebuild_tensor_v2 {what}[{i}] is a {Describe(t[i])}; expected an integer");
        return r;
    }

    private void Build(object? state)
    {
        // OrderedDict.__reduce__ passes its instance __dict__ (state_dict's _metadata) as BUILD state.
        if (Top() is not PickleDict d) throw Bad($"BUILD on a {Describe(Top())}; only an OrderedDict's attributes may be set");
        if (state is not (null or PickleDict)) throw Bad($"BUILD state is a {Describe(state)}; expected a dict of attributes");
        d.State = state;
    }

    private static string Describe(object? o) => o switch
    {
        null => "None",
        string s => $"string '{(s.Length > 40 ? s[..40] + "…" : s)}'",
        long l => $"integer {l}",
        object?[] t => $"tuple of {t.Length}",
        PickleGlobal g => $"global {g}",
        _ => o.GetType().Name,
    };
}
