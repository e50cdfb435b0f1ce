namespace LlamaAdapter.Core;

/// <summary>
/// Base of our errors about bad input (a malformed file, a record of the wrong shape): the message is the whole
/// report, naming the file and the field. The CLI shows it as one line and exits with 1. (System's
/// InvalidDataException is sealed, so it cannot serve as this base.)
/// </summary>
public class BadInputException(string message, Exception? inner = null) : Exception(message, inner);
