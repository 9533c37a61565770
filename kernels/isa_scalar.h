/* ---- vector vocabulary: scalar (one lane; fmaf keeps it on the FMA paths' numbers) ----- */
typedef float segloss__scalar_f;
typedef int32_t segloss__scalar_i;
typedef int segloss__scalar_m;
#define SEGLOSS__scalar_W 1
SEGLOSS__VINLINE float segloss__scalar_set1(float a) { return a; }
SEGLOSS__VINLINE float segloss__scalar_load(const float *p) { return *p; }
SEGLOSS__VINLINE float segloss__scalar_loadn(const float *p, int n) { return n > 0 ? *p : 0.0f; }
SEGLOSS__VINLINE void segloss__scalar_store(float *p, float a) { *p = a; }
SEGLOSS__VINLINE void segloss__scalar_storen(float *p, float a, int n) { if (n > 0) *p = a; }
SEGLOSS__VINLINE void segloss__scalar_stream(float *p, float a) { *p = a; }
SEGLOSS__VINLINE float segloss__scalar_add(float a, float b) { return a + b; }
SEGLOSS__VINLINE float segloss__scalar_sub(float a, float b) { return a - b; }
SEGLOSS__VINLINE float segloss__scalar_mul(float a, float b) { return a * b; }
SEGLOSS__VINLINE float segloss__scalar_div(float a, float b) { return a / b; }
SEGLOSS__VINLINE float segloss__scalar_fma(float a, float b, float c) { return fmaf(a, b, c); }
/* max returns b when either is NaN, like x86 maxps: NaN in b propagates. */
SEGLOSS__VINLINE float segloss__scalar_max(float a, float b) { return a > b ? a : b; }
SEGLOSS__VINLINE int segloss__scalar_lt(float a, float b) { return a < b; }
SEGLOSS__VINLINE int segloss__scalar_ord(float a) { return a == a; }
SEGLOSS__VINLINE int segloss__scalar_mor(int a, int b) { return a | b; }
SEGLOSS__VINLINE int segloss__scalar_mandn(int a, int b) { return !a && b; }
SEGLOSS__VINLINE float segloss__scalar_sel(int m, float a, float b) { return m ? a : b; }
SEGLOSS__VINLINE int32_t segloss__scalar_loadi(const int32_t *p) { return *p; }
SEGLOSS__VINLINE int32_t segloss__scalar_loadu8(const uint8_t *p) { return *p; }
SEGLOSS__VINLINE void segloss__scalar_storei(int32_t *p, int32_t a) { *p = a; }
SEGLOSS__VINLINE int32_t segloss__scalar_set1i(int32_t a) { return a; }
SEGLOSS__VINLINE int segloss__scalar_ieq(int32_t a, int32_t b) { return a == b; }
SEGLOSS__VINLINE int segloss__scalar_igt(int32_t a, int32_t b) { return a > b; }
SEGLOSS__VINLINE int32_t segloss__scalar_imask(int m) { return -m; }
SEGLOSS__VINLINE int32_t segloss__scalar_asint(float a) { int32_t r; memcpy(&r, &a, 4); return r; }
SEGLOSS__VINLINE float segloss__scalar_asflt(int32_t a) { float r; memcpy(&r, &a, 4); return r; }
SEGLOSS__VINLINE int32_t segloss__scalar_iadd(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
SEGLOSS__VINLINE int32_t segloss__scalar_iand(int32_t a, int32_t b) { return a & b; }
SEGLOSS__VINLINE int32_t segloss__scalar_ior(int32_t a, int32_t b) { return a | b; }
SEGLOSS__VINLINE int32_t segloss__scalar_iandn(int32_t a, int32_t b) { return ~a & b; }
SEGLOSS__VINLINE int32_t segloss__scalar_shl23(int32_t a) { return (int32_t)((uint32_t)a << 23); }
SEGLOSS__VINLINE int32_t segloss__scalar_shr23(int32_t a) { return (int32_t)((uint32_t)a >> 23); }
/* SIMDe is done with: drop the complex.h macro it may have brought */
#ifdef SEGLOSS__UNDEF_I
#undef I
#endif
SEGLOSS__VINLINE void segloss__scalar_rows4(const float *p, int64_t s, float v[4])
{ (void)s; v[0] = p[0]; v[1] = p[1]; v[2] = p[2]; v[3] = p[3]; }
SEGLOSS__VINLINE void segloss__scalar_unrows4(float *p, int64_t s, float v[4], const int nt)
{ (void)s; (void)nt; p[0] = v[0]; p[1] = v[1]; p[2] = v[2]; p[3] = v[3]; }
/* sum16: the sixteen lane sums of a block combined in the one canonical tree: (i, i+8), then
   (i, i+4), (i, i+2), (i, i+1), in double. Every vocabulary's sum16 does these same adds, in
   registers, so the order never depends on the vector width. */
SEGLOSS__VINLINE double segloss__scalar_sum16(const float acc[16])
{
    double t[8];
    int i;
    for (i = 0; i < 8; i++) t[i] = (double)acc[i] + (double)acc[i + 8];
    for (i = 0; i < 4; i++) t[i] += t[i + 4];
    return (t[0] + t[2]) + (t[1] + t[3]);
}
SEGLOSS__VINLINE void segloss__scalar_deint2(float v[2]) { (void)v; } /* one row: already in place */
SEGLOSS__VINLINE void segloss__scalar_int2(float v[2]) { (void)v; }
#define SEGLOSS__ISA scalar
#define SEGLOSS__KERNEL_PASS
#include SEGLOSS_HEADER_FILE
#undef SEGLOSS__KERNEL_PASS
#undef SEGLOSS__ISA
