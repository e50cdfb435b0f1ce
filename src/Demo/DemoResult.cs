namespace LlamaAdapter.Demo;

/// <summary>One line of the demo's comparison table.</summary>
public sealed record DemoRow(
    DemoMethod Method,
    long TrainableParameters,
    double TrainSeconds,
    double? ValidationLoss,
    double GenerationAccuracy,
    double ChoiceAccuracy,
    string Engine,
    IReadOnlyList<DemoAnswer> Answers);

/// <summary>Everything the demo made: the table's rows and where its files are.</summary>
public sealed record DemoResult(
    string OutDir,
    string BaseModel,
    string BaseQuantized,
    string? LossPlot,
    double PretrainSeconds,
    IReadOnlyList<DemoRow> Rows);

/// <summary>A stage of the demo and how far it is (Done of Total units; Detail for a progress line).</summary>
public sealed record DemoProgress(string Stage, long Done, long Total, string? Detail = null);
