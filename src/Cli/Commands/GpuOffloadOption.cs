using Cocona;
using LlamaAdapter.Inference.Model;

namespace LlamaAdapter.Cli.Commands;

/// <summary>--gpu-layers / --gpu as the ggml engine's <see cref="GpuOffload"/>, checked before anything loads.</summary>
public static class GpuOffloadOption
{
    public const string LayersHelp = "ggml engine: offload the last N blocks to a GPU (llama.cpp's --gpu-layers; more than the block count also offloads the output). 0: CPU only";
    public const string DeviceHelp = "ggml engine: the GPU device for --gpu-layers (e.g. CUDA0, Vulkan0; default: the first GPU ggml finds in LLAMA_ADAPTER_GGML_DIR)";

    public const string NoRepackHelp = "ggml engine: keep Q4_0/Q4_K/IQ4_NL matmul weights in ggml's plain layout (llama.cpp's --no-repack); by default they are repacked for the CPU's interleaved kernels where llama.cpp repacks them";

    /// <summary>null: repack where libllama would; false: never (--no-repack).</summary>
    public static bool? Repack(bool noRepack) => noRepack ? false : null;

    public static GpuOffload Parse(int gpuLayers, string? gpu)
    {
        if (gpuLayers < 0) throw new UserException($"--gpu-layers: expected >= 0 (0 keeps every block on the CPU), got {gpuLayers}");
        if (gpu is not null && gpuLayers == 0) throw new UserException($"--gpu {gpu}: only with --gpu-layers N > 0");
        return new GpuOffload(gpuLayers, gpu);
    }
}
