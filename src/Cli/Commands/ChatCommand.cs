using Cocona;
using LlamaAdapter.Inference.Generation;

namespace LlamaAdapter.Cli.Commands;

public sealed class ChatCommand
{
    [Command("chat", Description = "Chat with a model (and adapter) on our ggml engine: each line you type is one turn in the Alpaca instruction template " +
                                   "the adapters are trained on; the reply streams until EOS. Earlier turns stay in the KV cache as context. " +
                                   "/reset forgets them, /quit (or end of input) leaves. Example: llama-adapter chat -m llama-2-7b.Q8_0.gguf --adapter a.adapter.gguf --temp 0.1")]
    public int Chat(EngineParameters engine, SamplingParameters sampling)
    {
        var options = sampling.ToOptions(addBos: !engine.NoBos);
        using var cancel = new ConsoleCancellation();
        using var loaded = engine.Open();
        Console.Error.WriteLine($"[context {loaded.Session.ContextSize} positions; /reset forgets the conversation, /quit leaves]");
        new AlpacaChat(loaded.Session, loaded.Tokenizer, options).Run(Console.In, Console.Out, Console.Error, cancel.Token);
        return 0;
    }
}
