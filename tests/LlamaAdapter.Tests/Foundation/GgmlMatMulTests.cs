using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Tests.Foundation;

public class GgmlMatMulTests
{
    [Fact]
    public void BestCpuBackend_MultipliesMatrices()
    {
        GgmlLibrary.LoadBackends();
        Assert.Contains(GgmlLibrary.Devices(), d => d.Type == GgmlDeviceType.Cpu);

        // ggml_mul_mat(a, b) with a: ne=[K, M], b: ne=[K, N] gives c: ne=[M, N], c[n, m] = sum_k a[m, k] b[n, k].
        const int K = 3, M = 2, N = 4;
        float[] a = [1, 2, 3, 4, 5, 6];                               // rows m: (1 2 3), (4 5 6)
        float[] b = [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, -1, 2];            // rows n: e0, e1, e2, (1 -1 2)
        float[] expected = [1, 4, 2, 5, 3, 6, 1 - 2 + 6, 4 - 5 + 12]; // c[n, m]

        using var backend = GgmlBackend.Init(GgmlDeviceType.Cpu);
        using var ctx = GgmlContext.CreateNoAlloc(tensors: 3, withGraph: true);
        IntPtr c = ctx.DangerousGetHandle();
        IntPtr ta = GgmlApi.ggml_new_tensor_2d(c, GgmlType.F32, K, M);
        IntPtr tb = GgmlApi.ggml_new_tensor_2d(c, GgmlType.F32, K, N);
        IntPtr tc = GgmlApi.ggml_mul_mat(c, ta, tb);
        IntPtr graph = GgmlApi.ggml_new_graph(c);
        GgmlApi.ggml_build_forward_expand(graph, tc);
        using var buffer = GgmlBackendBuffer.AllocContextTensors(ctx, backend);
        Assert.Equal((nuint)(M * N * sizeof(float)), GgmlApi.ggml_nbytes(tc));

        var result = new float[M * N];
        unsafe
        {
            fixed (float* pa = a, pb = b, pr = result)
            {
                GgmlApi.ggml_backend_tensor_set(ta, pa, 0, (nuint)(a.Length * sizeof(float)));
                GgmlApi.ggml_backend_tensor_set(tb, pb, 0, (nuint)(b.Length * sizeof(float)));
                Assert.Equal(0, GgmlApi.ggml_backend_graph_compute(backend.DangerousGetHandle(), graph));
                GgmlApi.ggml_backend_tensor_get(tc, pr, 0, (nuint)(result.Length * sizeof(float)));
            }
        }
        Assert.Equal(expected, result);
    }

    [Fact]
    public void MissingRuntime_IsAClearError()
    {
        var e = Assert.Throws<DllNotFoundException>(() =>
        {
            string saved = Environment.GetEnvironmentVariable(GgmlLibrary.EnvironmentVariable) ?? "";
            Environment.SetEnvironmentVariable(GgmlLibrary.EnvironmentVariable, "/nonexistent/ggml");
            try { GgmlLibrary.PathOf(GgmlLibrary.Base); }
            finally { Environment.SetEnvironmentVariable(GgmlLibrary.EnvironmentVariable, saved.Length == 0 ? null : saved); }
        });
        Assert.Contains("/nonexistent/ggml", e.Message);
        Assert.Contains(GgmlLibrary.EnvironmentVariable, e.Message);
    }
}
