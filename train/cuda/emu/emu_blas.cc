/* emu_blas.cc - cublasGemmEx for the emulation build (issue 16): C = alpha op(A) op(B) + beta C,
 * column-major as cuBLAS, with the transposes and leading dimensions the caller passes. Operands are
 * widened to fp32 (bf16 -> fp32 is exact), the product is OpenBLAS's sgemm (fp32 accumulation, as
 * CUBLAS_COMPUTE_32F), then scaled, added and rounded to the output type (bf16: nearest even).
 * The leading dimensions are checked as cuBLAS checks them, and every operand's extent must lie
 * inside one device allocation (a wrong ld or size shows as an error, not as a silent overrun). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <vector>
#include "cublas_v2.h"
#include "cuda_bf16.h"
#include "emu_int.h"

struct emu_blas { int math; cudaStream_t stream; };

cublasStatus_t cublasCreate(cublasHandle_t *h)
{
	*h = (cublasHandle_t)calloc(1, sizeof(emu_blas));
	return *h ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasDestroy(cublasHandle_t h)
{
	free(h);
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m)
{
	if (!h)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	h->math = m;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s)
{
	if (!h)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	h->stream = s; /* (for the trace only: every stream is synchronous) */
	return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t s)
{
	switch (s) {
	case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
	case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
	case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
	case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
	}
	return "CUBLAS_STATUS_UNKNOWN";
}

static size_t esize(cudaDataType t) { return t == CUDA_R_32F ? 4 : 2; }

/* rows x cols column-major with leading dimension ld, widened to fp32 (same layout) */
static int widen(std::vector<float> &out, const void *p, cudaDataType t, int rows, int cols, int ld, const char *what)
{
	size_t n = (size_t)(cols - 1) * ld + rows;
	if (!emu_check_range(p, n * esize(t), what))
		return -1;
	out.resize(n);
	if (t == CUDA_R_32F)
		memcpy(out.data(), p, n * 4);
	else
		for (size_t i = 0; i < n; i++)
			out[i] = __bfloat162float(((const __nv_bfloat16 *)p)[i]);
	return 0;
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType at, int lda, const void *B,
                            cudaDataType bt, int ldb, const void *beta, void *C, cudaDataType ct, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t algo)
{
	(void)algo;
	if (!h)
		return CUBLAS_STATUS_NOT_INITIALIZED;
	if (emu_tracing())
		emu_trace("gemm stream=%d", emu_stream_id(h->stream));
	if (compute != CUBLAS_COMPUTE_32F || (at != CUDA_R_16BF && at != CUDA_R_32F) || (bt != CUDA_R_16BF && bt != CUDA_R_32F) ||
	    (ct != CUDA_R_16BF && ct != CUDA_R_32F) || ta == CUBLAS_OP_C || tb == CUBLAS_OP_C)
		return CUBLAS_STATUS_NOT_SUPPORTED;
	int ar = ta == CUBLAS_OP_N ? m : k, ac = ta == CUBLAS_OP_N ? k : m;
	int br = tb == CUBLAS_OP_N ? k : n, bc = tb == CUBLAS_OP_N ? n : k;
	if (m < 0 || n < 0 || k < 0 || lda < (ar > 1 ? ar : 1) || ldb < (br > 1 ? br : 1) || ldc < (m > 1 ? m : 1))
		return CUBLAS_STATUS_INVALID_VALUE;
	if (!m || !n)
		return CUBLAS_STATUS_SUCCESS;
	float al = *(const float *)alpha, be = *(const float *)beta;
	std::vector<float> a, b, c((size_t)m * n, 0.0f);
	if (k > 0) {
		if (widen(a, A, at, ar, ac, lda, "cublasGemmEx A") < 0 || widen(b, B, bt, br, bc, ldb, "cublasGemmEx B") < 0)
			return CUBLAS_STATUS_INVALID_VALUE;
		cblas_sgemm(CblasColMajor, ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
		            m, n, k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), m);
	}
	if (!emu_check_range(C, ((size_t)(n - 1) * ldc + m) * esize(ct), "cublasGemmEx C"))
		return CUBLAS_STATUS_INVALID_VALUE;
	for (int j = 0; j < n; j++)
		for (int i = 0; i < m; i++) {
			size_t o = (size_t)j * ldc + i;
			float r = al * c[(size_t)j * m + i];
			if (ct == CUDA_R_32F) {
				float *cf = (float *)C;
				cf[o] = be != 0.0f ? r + be * cf[o] : r; /* beta 0: C is not read (it may hold NaN) */
			} else {
				__nv_bfloat16 *cb = (__nv_bfloat16 *)C;
				cb[o] = __float2bfloat16_rn(be != 0.0f ? r + be * __bfloat162float(cb[o]) : r);
			}
		}
	return CUBLAS_STATUS_SUCCESS;
}
