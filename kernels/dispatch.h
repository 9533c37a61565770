/* ---- kernels/dispatch.h: the paths compiled in (best first), what this CPU runs, the active one */
#ifndef SEGLOSS__DISPATCH_H
#define SEGLOSS__DISPATCH_H
#include "isa_avx2.h"
#include "isa_avx512.h"
#include "isa_neon.h"
#include "isa_scalar.h"

#define SEGLOSS__ENTRY(name, isa) \
    { name, segloss__stats__##isa, segloss__grad__##isa, segloss__labels__##isa, segloss__vmath__##isa, segloss__transpose__##isa, \
      segloss__argmax__##isa, segloss__sigmoid__##isa, segloss__soft_targets__##isa }
SEGLOSS__PRIVATE const segloss__isa_table segloss__isa_list[] = {
#if defined(SEGLOSS__HAVE_AVX512) && SEGLOSS__X86
    SEGLOSS__ENTRY("avx512", avx512),
#endif
#if defined(SEGLOSS__HAVE_AVX2) && SEGLOSS__X86
    SEGLOSS__ENTRY("avx2", avx2),
#endif
#ifdef SEGLOSS__HAVE_NEON_API
    SEGLOSS__ENTRY(SEGLOSS__X86 ? "sse2" : "neon", neon),
#endif
#if defined(SEGLOSS__HAVE_AVX2) && !SEGLOSS__X86 /* tests only: x86 APIs over NEON, never the best */
    SEGLOSS__ENTRY("avx512", avx512),
    SEGLOSS__ENTRY("avx2", avx2),
#endif
    SEGLOSS__ENTRY("scalar", scalar),
};
#undef SEGLOSS__ENTRY
#define SEGLOSS__NISA ((int)(sizeof(segloss__isa_list) / sizeof(segloss__isa_list[0])))

#if SEGLOSS__X86 && (defined(__GNUC__) || defined(__clang__))
/* CPUID and XCR0 bits (Intel SDM vol. 2A, CPUID; vol. 1, 13.3 XCR0). */
#define SEGLOSS__CPUID1_ECX_FMA (1u << 12)
#define SEGLOSS__CPUID1_ECX_OSXSAVE (1u << 27) /* the OS saves extended state: xgetbv works */
#define SEGLOSS__CPUID1_ECX_AVX (1u << 28)
#define SEGLOSS__CPUID7_EBX_AVX2 (1u << 5)
#define SEGLOSS__CPUID7_EBX_AVX512F (1u << 16)
#define SEGLOSS__XCR0_YMM 0x06u  /* the OS saves XMM and YMM registers */
#define SEGLOSS__XCR0_ZMM 0xE6u  /* ... and the opmask, ZMM0-15 upper halves and ZMM16-31 */
/* 2: AVX-512F with OS ZMM state; 1: AVX2 + FMA with OS YMM state; 0: SSE2. xgetbv only runs
   when CPUID says the OS enabled XSAVE (it faults otherwise). */
SEGLOSS__PRIVATE int segloss__x86_level(void)
{
    const unsigned need1 = SEGLOSS__CPUID1_ECX_OSXSAVE | SEGLOSS__CPUID1_ECX_AVX | SEGLOSS__CPUID1_ECX_FMA;
    unsigned a, b, c, d, xcr0_lo, xcr0_hi;
    int level = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if ((c & need1) != need1) return 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & SEGLOSS__XCR0_YMM) != SEGLOSS__XCR0_YMM || __get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    if (b & SEGLOSS__CPUID7_EBX_AVX2) level = 1;
    if (level && (b & SEGLOSS__CPUID7_EBX_AVX512F) && (xcr0_lo & SEGLOSS__XCR0_ZMM) == SEGLOSS__XCR0_ZMM) level = 2;
    return level;
}
#endif

SEGLOSS__PRIVATE int segloss__cpu_runs(const char *name)
{
#if SEGLOSS__X86 && (defined(__GNUC__) || defined(__clang__))
    if (!strcmp(name, "avx512")) return segloss__x86_level() >= 2;
    if (!strcmp(name, "avx2")) return segloss__x86_level() >= 1;
#endif
    (void)name;
    return 1; /* scalar; sse2 is x86-64's baseline; NEON is mandatory on AArch64 */
}

/* Whether a forced path may run. SEGLOSS_UNSAFE_FORCE_ISA is for test builds only: it lets
   the qemu matrix prove that an AVX2 kernel really executes AVX2 (SIGILL on an older CPU). */
#ifdef SEGLOSS_UNSAFE_FORCE_ISA
#define SEGLOSS__MAY_FORCE(name) 1
#else
#define SEGLOSS__MAY_FORCE(name) segloss__cpu_runs(name)
#endif

SEGLOSS__PRIVATE const segloss__isa_table *segloss__find_isa(const char *name)
{
    int i;
    for (i = 0; i < SEGLOSS__NISA; i++)
        if (!strcmp(segloss__isa_list[i].name, name)) return &segloss__isa_list[i];
    return NULL;
}

SEGLOSS__PRIVATE const segloss__isa_table *segloss__best_isa(void)
{
    int i;
    for (i = 0; i < SEGLOSS__NISA; i++)
        if (segloss__cpu_runs(segloss__isa_list[i].name)) return &segloss__isa_list[i];
    return &segloss__isa_list[SEGLOSS__NISA - 1];
}

/* A path's exp, log and log1p on 3 x 512 fixed arguments, hashed (FNV-1a over the bits).
   They are exact functions of IEEE float arithmetic, the same on every FMA path. An optimiser
   allowed to reassociate changes them: clang does so under -fassociative-math or -ffast-math
   -fno-finite-math-only, which no macro reveals and no pragma undoes for its builtins, so such
   a build is caught here at first use, not trusted. The sse2 path is not checked: it has no
   FMA, and where the compiler's baseline has one (-march=native) it may contract its
   multiply-adds, legitimately, into bits of its own. */
#define SEGLOSS__SELFTEST_FMA 0xfa0d05a515f731a2ull /* avx512, avx2, neon, scalar */
SEGLOSS__PRIVATE uint64_t segloss__selftest_hash(const segloss__isa_table *t)
{
    float x[512], y[512];
    uint64_t h = 14695981039346656037ull;
    int op, i, k;
    for (op = 0; op < 3; op++) {
        for (i = 0; i < 512; i++)
            x[i] = op == 0 ? (float)-(i * 170 + i % 7) / 1024.0f               /* exp: [-85, 0], exact */
                 : op == 1 ? ldexpf(1.0f + (float)i / 512.0f, i % 64 - 32)   /* log: (0, inf)       */
                 : ldexpf((float)(i + 1) / 64.0f, -(i % 24));                /* log1p: u > 0        */
        t->vmath(op, x, y, 512);
        for (i = 0; i < 512; i++) {
            uint32_t b;
            memcpy(&b, &y[i], 4);
            for (k = 0; k < 4; k++) h = (h ^ ((b >> (8 * k)) & 0xFFu)) * 1099511628211ull;
        }
    }
    return h;
}

/* Whether every FMA path this CPU runs passes the self-test; worked out once (racing first calls
   work out the same answer). Where float expressions are evaluated in a wider format
   (FLT_EVAL_METHOD != 0: x87) the paths were never bit-identical, and nothing is checked. */
static int segloss__build_state; /* 0 not yet known, 1 sound, 2 broken */
SEGLOSS__PRIVATE int segloss__build_ok(void)
{
#if defined(__GNUC__) || defined(__clang__)
    int s = __atomic_load_n(&segloss__build_state, __ATOMIC_ACQUIRE);
#else
    int s = *(volatile int *)&segloss__build_state;
#endif
    if (!s) {
        int i;
        s = 1;
#if FLT_EVAL_METHOD == 0
        for (i = 0; i < SEGLOSS__NISA; i++) {
            const segloss__isa_table *t = &segloss__isa_list[i];
            if (strcmp(t->name, "sse2") && segloss__cpu_runs(t->name) && segloss__selftest_hash(t) != SEGLOSS__SELFTEST_FMA)
                s = 2;
        }
        if (s == 2)
            fprintf(stderr, "segloss: this build's float arithmetic is not IEEE (the implementation was compiled "
                            "with -fassociative-math or -ffast-math?): every call returns SEGLOSS_ERR_BUILD; compile "
                            "the file that defines SEGLOSS_IMPLEMENTATION without fast-math flags\n");
#else
        (void)i;
#endif
#if defined(__GNUC__) || defined(__clang__)
        __atomic_store_n(&segloss__build_state, s, __ATOMIC_RELEASE);
#else
        *(volatile int *)&segloss__build_state = s;
#endif
    }
    return s == 1;
}

/* Resolved once; racing first calls all store the same table, so no lock is needed. */
static const segloss__isa_table *segloss__active;
#if defined(__GNUC__) || defined(__clang__)
#define SEGLOSS__LOAD_ACTIVE() __atomic_load_n(&segloss__active, __ATOMIC_ACQUIRE)
#define SEGLOSS__STORE_ACTIVE(t) __atomic_store_n(&segloss__active, (t), __ATOMIC_RELEASE)
#else
#define SEGLOSS__LOAD_ACTIVE() (*(const segloss__isa_table *volatile *)&segloss__active)
#define SEGLOSS__STORE_ACTIVE(t) (*(const segloss__isa_table *volatile *)&segloss__active = (t))
#endif

SEGLOSS__PRIVATE const segloss__isa_table *segloss__table(void)
{
    const segloss__isa_table *t = SEGLOSS__LOAD_ACTIVE();
    if (!t) {
        const char *env = getenv("SEGLOSS_ISA");
        t = segloss__best_isa();
        if (env && *env && strcmp(env, "auto")) {
            const segloss__isa_table *e = segloss__find_isa(env);
            if (e && SEGLOSS__MAY_FORCE(env)) t = e;
            else fprintf(stderr, "segloss: SEGLOSS_ISA=%s is not available here; using %s\n", env, t->name);
        }
        SEGLOSS__STORE_ACTIVE(t);
    }
    return t;
}

SEGLOSS__API const char *segloss_active_isa(void) { return segloss__table()->name; }

SEGLOSS__API int segloss_isa_supported(const char *name)
{
    return name && segloss__find_isa(name) && segloss__cpu_runs(name);
}

SEGLOSS__API int segloss_isa_count(void) { return SEGLOSS__NISA; }

SEGLOSS__API const char *segloss_isa_name(int i) { return i >= 0 && i < SEGLOSS__NISA ? segloss__isa_list[i].name : NULL; }

SEGLOSS__API segloss_status segloss_set_isa(const char *name)
{
    const segloss__isa_table *t;
    if (!name || !strcmp(name, "auto")) {
        SEGLOSS__STORE_ACTIVE(segloss__best_isa());
        return SEGLOSS_OK;
    }
    t = segloss__find_isa(name);
    if (!t || !SEGLOSS__MAY_FORCE(name)) return SEGLOSS_ERR_ISA;
    SEGLOSS__STORE_ACTIVE(t);
    return SEGLOSS_OK;
}

#endif /* SEGLOSS__DISPATCH_H */
