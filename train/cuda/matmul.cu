/* matmul.cu - linear maps through cuBLAS: bf16 operands, fp32 accumulation (CUBLAS_COMPUTE_32F),
 * output bf16 or fp32. Row-major tensors are read as column-major transposes, so
 * out[N,OC] = inp[N,C] W[OC,C]^T becomes out^T = op(W) inp^T with op = transpose. */
#include "common.cuh"
#include "gpu.h"

static cublasHandle_t handle;

static cublasHandle_t blas(void)
{
	if (!handle) {
		cublasCheck(cublasCreate(&handle));
		cublasCheck(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));
	}
	return handle;
}

static void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const void *A, int lda,
                 const void *B, int ldb, float beta, void *C, int c_f32, int ldc)
{
	float alpha = 1.0f;
	cublasCheck(cublasGemmEx(blas(), ta, tb, m, n, k, &alpha, A, CUDA_R_16BF, lda, B, CUDA_R_16BF, ldb, &beta, C,
	                         c_f32 ? CUDA_R_32F : CUDA_R_16BF, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

extern "C" void gpu_matmul_forward(void *out, int out_f32, const gpu_bf16 *inp, const gpu_bf16 *weight, int N, int C, int OC)
{
	gemm(CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, weight, C, inp, C, 0.0f, out, out_f32, OC);
}

extern "C" void gpu_matmul_backward(void *d_inp, int d_inp_f32, float *d_weight, const gpu_bf16 *d_out,
                                    const gpu_bf16 *inp, const gpu_bf16 *weight, int N, int C, int OC)
{
	/* d_inp^T [C,N] += W^T(col-major [C,OC]) d_out^T [OC,N] */
	if (d_inp)
		gemm(CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, weight, C, d_out, OC, 1.0f, d_inp, d_inp_f32, C);
	/* d_W^T [C,OC] += inp^T [C,N] (d_out^T)^T [N,OC] */
	if (d_weight)
		gemm(CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, inp, C, d_out, OC, 1.0f, d_weight, 1, C);
}
