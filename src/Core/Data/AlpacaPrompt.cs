namespace LlamaAdapter.Core.Data;

/// <summary>
/// The two Stanford Alpaca prompt templates, verbatim as the reference fine-tuning code uses them
/// (llama-adaptor-nonlinear alpaca_finetuning_v1/finetuning.py:22-33): the response follows "### Response:"
/// with nothing in between, and the no-input template is chosen when the input is empty.
/// </summary>
public static class AlpacaPrompt
{
    private const string HeaderWithInput =
        "Below is an instruction that describes a task, paired with an input that provides further context. " +
        "Write a response that appropriately completes the request.\n\n";
    private const string HeaderWithoutInput =
        "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n";

    /// <summary>Substituted piecewise, never by search-and-replace, so braces in the user's text stay as they are.</summary>
    public static string Format(string instruction, string input) =>
        input.Length == 0
            ? string.Concat(HeaderWithoutInput, "### Instruction:\n", instruction, "\n\n### Response:")
            : string.Concat(HeaderWithInput, "### Instruction:\n", instruction, "\n\n### Input:\n", input, "\n\n### Response:");

    public static string Format(AlpacaExample e) => Format(e.Instruction, e.Input);
}
