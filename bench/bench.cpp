// segloss benchmarks: one parameterised benchmark over (loss, mode, ISA path, layout, C, size),
// a memcpy and a non-temporal copy of the same logits bytes in the same binary, and
// segloss_confusion.
//
//   Google Benchmark binary (default):   bench_segloss --set=quick|full|dram [--benchmark_... flags]
//   Self-timed variant (-DSEGLOSS_BENCH_SMOKE, no libbenchmark; used for aarch64 under qemu and
//   as the segloss side of the peer comparison):
//       segloss_timer --smoke [--reps=R]                 a short run of the same loops
//       segloss_timer --peer N C H W [--reps=R] [--layout=nchw|nhwc]
//                                                        JSON: median CPU ms per loss, loss+grad
//
// Inputs: float32 logits ~ N(0, 2) (variance 2), uint8 labels drawn 80/10/7/3 % over four
// classes (other C: class 0 80 %, the rest uniform), no ignored label, each loss's defaults
// from segloss_config_init (weighted_ce: automatic inverse-frequency weights; focal gamma 2).
// The implementation is a separate TU (segloss_impl.c) built as users build it: -O2, no -march.
#include "../segloss.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#ifndef SEGLOSS_BENCH_SMOKE
#include <benchmark/benchmark.h>
#endif
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define BENCH_NT_X86 1
#endif

namespace {

// ---- what one benchmark measures ------------------------------------------------------------

enum Kind { K_LOSS, K_MEMCPY, K_NTCOPY, K_CONFUSION };
enum Mode { M_LOSS, M_GRAD };  // loss only (grad = NULL) / loss + gradient
// the configuration beside the loss: as segloss_config_init leaves it, the sigmoid activation
// (the labels one-vs-rest), or a weight map of one float per position
enum Variant { V_PLAIN, V_SIGMOID, V_MAP };

const size_t KiB = 1024, MiB = 1024 * 1024;
const size_t CACHE_BYTES = 256 * KiB;  // logits in cache (L2/L3 with the gradient buffer)
const size_t DRAM_BYTES = 64 * MiB;    // logits in DRAM: the buffer alone is 2x the 32 MiB L3
const size_t GIB_BYTES = 1024 * MiB;   // DRAM on any host: no last-level cache holds 1 GiB
const int64_t BATCH = 2;               // N; S is derived from the byte target

const segloss_loss_type LOSSES[] = {SEGLOSS_CE,   SEGLOSS_WEIGHTED_CE, SEGLOSS_FOCAL,
                                    SEGLOSS_DICE, SEGLOSS_FOCAL_DICE,  SEGLOSS_TVERSKY};
const int CLASSES[] = {2, 4, 21, 150};

struct Case {
    Kind kind;
    segloss_loss_type loss;
    Mode mode;
    std::string isa;  // "avx512", "avx2", "sse2", "neon", "scalar"; "" = not ISA-dispatched
    segloss_layout layout;
    int c;
    size_t target;  // logits bytes (approximate: S is rounded so that the target is reached)
    Variant variant;
};

std::string size_label(size_t bytes)
{
    char b[32];
    if (bytes >= 1024 * MiB && bytes % (1024 * MiB) == 0) snprintf(b, sizeof b, "%zuGiB", bytes / (1024 * MiB));
    else if (bytes >= MiB) snprintf(b, sizeof b, "%zuMiB", bytes / MiB);
    else snprintf(b, sizeof b, "%zuKiB", bytes / KiB);
    return b;
}

// Names table.py parses:  loss/mode/isa/layout/C<c>/<size>,  memcpy/C<c>/<size>,
// ntcopy/C<c>/<size>,  confusion/-/layout/C<c>/<size>.
std::string case_name(const Case &k)
{
    std::string tail = "/C" + std::to_string(k.c) + "/" + size_label(k.target);
    const char *lay = k.layout == SEGLOSS_NHWC ? "nhwc" : "nchw";
    if (k.kind == K_MEMCPY) return "memcpy" + tail;
    if (k.kind == K_NTCOPY) return "ntcopy" + tail;
    if (k.kind == K_CONFUSION) return std::string("confusion/-/") + lay + tail;
    return std::string(segloss_loss_name(k.loss)) + (k.variant == V_SIGMOID ? "+sigmoid" : k.variant == V_MAP ? "+map" : "") +
           (k.mode == M_GRAD ? "/grad/" : "/loss/") + k.isa + "/" + lay + tail;
}

// ---- data: one set of buffers per (C, size), shared by both layouts and all losses ----------

struct Data {
    int64_t n = 0, c = 0, s = 0;
    size_t bytes = 0;  // logits bytes, exactly n*c*s*4
    float *logits = nullptr, *grad = nullptr, *map = nullptr;
    uint8_t *labels = nullptr;
    ~Data()
    {
        free(logits);
        free(grad);
        free(labels);
        free(map);
    }
};

struct Rng {  // xorshift64*: fast and the same everywhere
    uint64_t x;
    explicit Rng(uint64_t seed) : x(seed ? seed : 1) {}
    uint64_t next()
    {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        return x * 0x2545F4914F6CDD1Dull;
    }
    double uniform() { return (double)(next() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)
};

void *alloc_touched(size_t bytes)
{
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded);
    if (!p) {
        fprintf(stderr, "bench: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    memset(p, 0, rounded);  // fault the pages in now, not inside a timed loop
    return p;
}

uint8_t draw_label(double u, int c)
{
    if (c == 4) return u < 0.80 ? 0 : u < 0.90 ? 1 : u < 0.97 ? 2 : 3;
    if (u < 0.80 || c == 1) return 0;
    int k = 1 + (int)((u - 0.80) / 0.20 * (c - 1));
    return (uint8_t)std::min(k, c - 1);
}

Data &data_for(int c, size_t target)
{
    static std::map<std::pair<int, size_t>, std::unique_ptr<Data>> cache;
    std::unique_ptr<Data> &slot = cache[std::make_pair(c, target)];
    if (slot) return *slot;
    slot.reset(new Data);
    Data &d = *slot;
    const int64_t per_pos = 4 * (int64_t)c * BATCH;
    d.n = BATCH;
    d.c = c;
    // DRAM: at least the target (>= 64 MiB), S a multiple of 16 as image crops are (the
    // gradient is streamed only where its class planes are vector-aligned); cache: at most
    // the target.
    d.s = target >= DRAM_BYTES ? ((int64_t)target + per_pos * 16 - 1) / (per_pos * 16) * 16
                               : std::max<int64_t>(1, (int64_t)target / per_pos);
    d.bytes = (size_t)(d.n * d.c * d.s) * sizeof(float);
    d.logits = (float *)alloc_touched(d.bytes);
    d.grad = (float *)alloc_touched(d.bytes);
    d.labels = (uint8_t *)alloc_touched((size_t)(d.n * d.s));
    d.map = (float *)alloc_touched((size_t)(d.n * d.s) * sizeof(float));
    for (int64_t i = 0; i < d.n * d.s; i++) d.map[i] = 0.5f + (float)(i % 7) * 0.25f; /* border-like weights */
    Rng rng(0x5E6105500ull + (uint64_t)c * 7919u + target);
    const size_t count = (size_t)(d.n * d.c * d.s);
    const double sigma = std::sqrt(2.0);
    for (size_t i = 0; i < count; i += 2) {  // Box-Muller, two normals per draw
        double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();
        double r = sigma * std::sqrt(-2.0 * std::log(u1));
        d.logits[i] = (float)(r * std::cos(6.283185307179586 * u2));
        if (i + 1 < count) d.logits[i + 1] = (float)(r * std::sin(6.283185307179586 * u2));
    }
    for (int64_t i = 0; i < d.n * d.s; i++) d.labels[i] = draw_label(rng.uniform(), c);
    return d;
}

// ---- the non-temporal copy ----------------------------------------------------------------------
// The same bytes as the memcpy, written with streaming stores (the widest this CPU has, chosen
// at run time as segloss chooses its paths; bench.cpp is built without -march) and an sfence.
// A memcpy of a buffer larger than the caches reads each destination line before writing it
// (glibc streams only above a threshold it sets from the cache sizes); a streaming store does
// not, so this copy is what one pass that reads the logits and writes a gradient of the same
// size costs at least. dst must be 64-byte aligned (alloc_touched's buffers are).
#ifdef BENCH_NT_X86
__attribute__((target("avx512f"))) void nt_copy_avx512(float *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 a = _mm512_loadu_ps(src + i), b = _mm512_loadu_ps(src + i + 16);
        __m512 c = _mm512_loadu_ps(src + i + 32), d = _mm512_loadu_ps(src + i + 48);
        _mm512_stream_ps(dst + i, a);
        _mm512_stream_ps(dst + i + 16, b);
        _mm512_stream_ps(dst + i + 32, c);
        _mm512_stream_ps(dst + i + 48, d);
    }
    for (; i < n; i++) dst[i] = src[i];
    _mm_sfence();
}
__attribute__((target("avx"))) void nt_copy_avx(float *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 a = _mm256_loadu_ps(src + i), b = _mm256_loadu_ps(src + i + 8);
        __m256 c = _mm256_loadu_ps(src + i + 16), d = _mm256_loadu_ps(src + i + 24);
        _mm256_stream_ps(dst + i, a);
        _mm256_stream_ps(dst + i + 8, b);
        _mm256_stream_ps(dst + i + 16, c);
        _mm256_stream_ps(dst + i + 24, d);
    }
    for (; i < n; i++) dst[i] = src[i];
    _mm_sfence();
}
void nt_copy_sse(float *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128 a = _mm_loadu_ps(src + i), b = _mm_loadu_ps(src + i + 4);
        __m128 c = _mm_loadu_ps(src + i + 8), d = _mm_loadu_ps(src + i + 12);
        _mm_stream_ps(dst + i, a);
        _mm_stream_ps(dst + i + 4, b);
        _mm_stream_ps(dst + i + 8, c);
        _mm_stream_ps(dst + i + 12, d);
    }
    for (; i < n; i++) dst[i] = src[i];
    _mm_sfence();
}
#endif

// Which copy nt_copy runs here: "avx512", "avx", "sse", or "memcpy" (no streaming stores
// written for this architecture; the x nt-copy ratios are then x memcpy).
const char *nt_copy_kind()
{
#ifdef BENCH_NT_X86
    static const char *kind = __builtin_cpu_supports("avx512f") ? "avx512"
                              : __builtin_cpu_supports("avx")   ? "avx"
                                                                : "sse";
    return kind;
#else
    return "memcpy";
#endif
}

void nt_copy(void *dst, const void *src, size_t bytes)
{
    static const char *kind = nt_copy_kind();
#ifdef BENCH_NT_X86
    float *d = (float *)dst;
    const float *s = (const float *)src;
    if (bytes % sizeof(float) || (uintptr_t)dst % 64) {
        memcpy(dst, src, bytes);
        return;
    }
    if (!strcmp(kind, "avx512")) nt_copy_avx512(d, s, bytes / sizeof(float));
    else if (!strcmp(kind, "avx")) nt_copy_avx(d, s, bytes / sizeof(float));
    else nt_copy_sse(d, s, bytes / sizeof(float));
#else
    (void)kind;
    memcpy(dst, src, bytes);
#endif
}

// ---- the measured body: the same function for Google Benchmark and the self-timed variant ---

struct Prepared {
    const Case *k;
    Data *d;
    segloss_config cfg;
    segloss_input in;
    segloss_result res;
    std::vector<int64_t> confusion;
};

// Sets the path and builds the call; returns "" or why the case cannot run here.
std::string prepare(const Case &k, Prepared &p)
{
    p.k = &k;
    if (!k.isa.empty()) {
        if (!segloss_isa_supported(k.isa.c_str()))
            return "SKIP " + k.isa + ": path not compiled in or not runnable on this CPU" +
                   (k.isa == "avx512" ? " (no AVX-512 on this CPU)" : "");
        if (segloss_set_isa(k.isa.c_str()) != SEGLOSS_OK) return "segloss_set_isa(" + k.isa + ") failed";
    }
    p.d = &data_for(k.c, k.target);
    segloss_config_init(&p.cfg, k.loss);
    if (k.variant == V_SIGMOID) p.cfg.activation = SEGLOSS_SIGMOID;
    if (k.variant == V_MAP) p.cfg.weight_map = p.d->map;
    p.in = segloss_input{p.d->logits, p.d->labels, SEGLOSS_LABEL_U8, p.d->n, p.d->c, p.d->s, k.layout};
    p.confusion.assign((size_t)(k.c * k.c), 0);
    return "";
}

inline segloss_status run_once(Prepared &p)
{
    switch (p.k->kind) {
    case K_MEMCPY:
        memcpy(p.d->grad, p.d->logits, p.d->bytes);
        return SEGLOSS_OK;
    case K_NTCOPY:
        nt_copy(p.d->grad, p.d->logits, p.d->bytes);
        return SEGLOSS_OK;
    case K_CONFUSION:
        std::fill(p.confusion.begin(), p.confusion.end(), 0);
        return segloss_confusion(&p.in, -100, p.confusion.data());
    default:
        return segloss_compute(&p.cfg, &p.in, p.k->mode == M_GRAD ? p.d->grad : nullptr, &p.res);
    }
}

// ---- the sets ---------------------------------------------------------------------------------

// The paths compiled in, best first (x86: avx512, avx2, sse2, scalar; ARM: neon, scalar).
// One that this CPU cannot run is still listed: its cases are reported as skipped.
std::vector<std::string> compiled_paths()
{
    std::vector<std::string> v;
    for (int i = 0; i < segloss_isa_count(); i++) v.push_back(segloss_isa_name(i));
    return v;
}

std::vector<Case> make_set(const std::string &set)
{
    std::vector<Case> v;
    std::vector<std::pair<int, size_t>> copies;  // memcpy sizes needed
    const std::vector<std::string> paths = compiled_paths();
    auto slow = [](const std::string &isa) { return isa == "sse2" || isa == "scalar"; };  // no FMA / no SIMD
    auto loss = [&](segloss_loss_type t, Mode m, const std::string &isa, segloss_layout lay, int c, size_t sz,
                    Variant var = V_PLAIN) {
        v.push_back(Case{K_LOSS, t, m, isa, lay, c, sz, var});
        if (std::find(copies.begin(), copies.end(), std::make_pair(c, sz)) == copies.end())
            copies.push_back(std::make_pair(c, sz));
    };
    const size_t sizes[] = {DRAM_BYTES, CACHE_BYTES};
    const segloss_layout layouts[] = {SEGLOSS_NCHW, SEGLOSS_NHWC};
    if (set == "full") {
        for (int c : CLASSES)
            for (size_t sz : sizes)
                for (segloss_layout lay : layouts)
                    for (segloss_loss_type t : LOSSES)
                        for (Mode m : {M_GRAD, M_LOSS})
                            for (const std::string &isa : paths) loss(t, m, isa, lay, c, sz);
    } else if (set == "quick") {
        // C=4: every loss, loss+gradient, both layouts, both sizes, every path.
        for (size_t sz : sizes)
            for (segloss_layout lay : layouts)
                for (segloss_loss_type t : LOSSES)
                    for (const std::string &isa : paths) loss(t, M_GRAD, isa, lay, 4, sz);
        // Loss only, for a couple of losses, on the fastest paths.
        for (size_t sz : sizes)
            for (segloss_loss_type t : {SEGLOSS_CE, SEGLOSS_DICE})
                for (const std::string &isa : paths)
                    if (!slow(isa)) loss(t, M_LOSS, isa, SEGLOSS_NCHW, 4, sz);
        // The sigmoid and a weight map beside the plain softmax cases above (the same bytes of
        // logits; the map adds a float per position), on the fastest paths.
        for (size_t sz : sizes)
            for (segloss_loss_type t : {SEGLOSS_CE, SEGLOSS_DICE})
                for (const std::string &isa : paths)
                    if (!slow(isa))
                        for (Variant var : {V_SIGMOID, V_MAP}) loss(t, M_GRAD, isa, SEGLOSS_NCHW, 4, sz, var);
        // Many classes: CE at C=21 and C=150; NHWC at C=21.
        for (size_t sz : sizes)
            for (const std::string &isa : paths)
                if (!slow(isa)) {
                    loss(SEGLOSS_CE, M_GRAD, isa, SEGLOSS_NCHW, 21, sz);
                    loss(SEGLOSS_CE, M_GRAD, isa, SEGLOSS_NHWC, 21, sz);
                    loss(SEGLOSS_CE, M_GRAD, isa, SEGLOSS_NCHW, 150, sz);
                }
    }
    if (set == "full" || set == "dram") {
        // 1 GiB of logits, DRAM on any host: C=4 NCHW, CE and Dice loss+gradient, on avx2 and
        // the best path (the same one where the best is avx2).
        std::vector<std::string> two(1, "avx2");
        if (strcmp(segloss_active_isa(), "avx2")) two.insert(two.begin(), segloss_active_isa());
        for (const std::string &isa : two)
            for (segloss_loss_type t : {SEGLOSS_CE, SEGLOSS_DICE}) loss(t, M_GRAD, isa, SEGLOSS_NCHW, 4, GIB_BYTES);
    } else if (set == "smoke") {  // the self-timed variant: short, small, in cache
        for (segloss_layout lay : layouts)
            for (segloss_loss_type t : LOSSES)
                for (const std::string &isa : paths) loss(t, M_GRAD, isa, lay, 4, CACHE_BYTES);
        for (const std::string &isa : paths) loss(SEGLOSS_CE, M_GRAD, isa, SEGLOSS_NCHW, 21, CACHE_BYTES);
    } else if (set != "quick") {
        fprintf(stderr, "bench: unknown set '%s' (quick, full, dram, smoke)\n", set.c_str());
        exit(2);
    }
    // Confusion counts: once per size at C=4 NCHW (not ISA-dispatched); per C and layout in full.
    for (size_t sz : sizes) {
        if ((set == "smoke" && sz != CACHE_BYTES) || set == "dram") continue;
        for (int c : CLASSES)
            for (segloss_layout lay : layouts)
                if (set == "full" || (c == 4 && lay == SEGLOSS_NCHW))
                    v.push_back(Case{K_CONFUSION, SEGLOSS_CE, M_LOSS, "", lay, c, sz, V_PLAIN});
    }
    // memcpy of the same logits bytes, first so its buffers are warm and its result is at hand;
    // in DRAM also the non-temporal copy (in cache its stores would only evict the buffer).
    std::vector<Case> m;
    for (auto &cs : copies) {
        m.push_back(Case{K_MEMCPY, SEGLOSS_CE, M_LOSS, "", SEGLOSS_NCHW, cs.first, cs.second, V_PLAIN});
        if (cs.second >= DRAM_BYTES) m.push_back(Case{K_NTCOPY, SEGLOSS_CE, M_LOSS, "", SEGLOSS_NCHW, cs.first, cs.second, V_PLAIN});
    }
    v.insert(v.begin(), m.begin(), m.end());
    return v;
}

void announce_skips()
{
    for (const std::string &isa : compiled_paths())
        if (!segloss_isa_supported(isa.c_str()))
            fprintf(stderr,
                    "SKIP %s: segloss_isa_supported(\"%s\") == 0 on this CPU%s; its benchmarks are "
                    "reported as skipped (error) and the table shows n/a.\n",
                    isa.c_str(), isa.c_str(), isa == "avx512" ? " (no AVX-512)" : "");
}

// Parses --name=value or removes nothing; returns value or def.
std::string take_flag(int &argc, char **argv, const char *name, const char *def)
{
    std::string pre = std::string("--") + name + "=";
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], pre.c_str(), pre.size())) {
            std::string val = argv[i] + pre.size();
            for (int j = i; j < argc - 1; j++) argv[j] = argv[j + 1];
            argc--;
            return val;
        }
    return def;
}

// Process CPU time, as table.py uses from Google Benchmark: on a shared, oversubscribed
// machine wall time also counts the time other processes held the core.
double cpu_seconds()
{
#if defined(CLOCK_PROCESS_CPUTIME_ID)
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#else
    return (double)clock() / CLOCKS_PER_SEC;
#endif
}

}  // namespace

#ifndef SEGLOSS_BENCH_SMOKE
// ---- Google Benchmark -------------------------------------------------------------------------

static void bm_case(benchmark::State &state, Case k)
{
    Prepared p;
    std::string why = prepare(k, p);
    if (!why.empty()) {
        state.SkipWithError(why.c_str());
        return;
    }
    // In cache: one warm-up call loads the buffers. In DRAM the buffers exceed the LLC, so a
    // warm-up would only add a slow call; the status is checked after the loop instead.
    segloss_status st = k.target < DRAM_BYTES ? run_once(p) : SEGLOSS_OK;
    // Ratios come from calls side by side: each timed call is followed, outside the timed
    // region, by what it is compared with: in DRAM a memcpy of the same bytes (counter
    // x_memcpy) and a non-temporal copy of them (x_ntcopy; nt_memcpy is the one over the
    // other), in turn first and second from one iteration to the next; for NHWC the same call
    // on the same bytes read as NCHW (x_nchw). The sums of their CPU times see the same
    // neighbours on a shared machine; separate benchmarks, seconds apart, do not.
    const bool vs_copy = k.kind != K_MEMCPY && k.target >= DRAM_BYTES;
    const bool vs_nt = vs_copy && k.kind != K_NTCOPY;
    const bool vs_nchw = k.kind == K_LOSS && k.layout == SEGLOSS_NHWC;
    Case kn = k;
    Prepared q;
    kn.layout = SEGLOSS_NCHW;
    if (vs_nchw) prepare(kn, q);  // same path, same data
    double t_kernel = 0.0, t_copy = 0.0, t_nt = 0.0, t_nchw = 0.0;
    unsigned turn = 0;
    if (st == SEGLOSS_OK)
        for (auto _ : state) {
            const double t0 = vs_copy || vs_nchw ? cpu_seconds() : 0.0;
            st = run_once(p);
            benchmark::ClobberMemory();
            if (vs_copy || vs_nchw) {
                const double t1 = cpu_seconds();
                state.PauseTiming();
                double t2 = cpu_seconds();
                const bool nt_first = (turn++ & 1) != 0;  // memcpy first, then the other way round
                for (int j = 0; vs_copy && j < (vs_nt ? 2 : 1); j++) {
                    const bool nt = vs_nt && (j == 0) == nt_first;
                    if (nt) nt_copy(p.d->grad, p.d->logits, p.d->bytes);
                    else memcpy(p.d->grad, p.d->logits, p.d->bytes);
                    benchmark::ClobberMemory();
                    const double t3 = cpu_seconds();
                    (nt ? t_nt : t_copy) += t3 - t2;
                    t2 = t3;
                }
                if (vs_nchw) {
                    run_once(q);
                    benchmark::ClobberMemory();
                    t_nchw += cpu_seconds() - t2;
                }
                state.ResumeTiming();
                t_kernel += t1 - t0;
            }
        }
    if (st != SEGLOSS_OK) {
        state.SkipWithError(segloss_status_string(st));
        return;
    }
    const double positions = (double)(p.d->n * p.d->s);
    state.counters["positions/s"] = benchmark::Counter(positions, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["bytes/s"] = benchmark::Counter((double)p.d->bytes, benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::kIs1024);
    state.counters["logits_bytes"] = (double)p.d->bytes;
    if (t_copy > 0.0) state.counters["x_memcpy"] = t_kernel / t_copy;
    if (t_nt > 0.0) state.counters["x_ntcopy"] = t_kernel / t_nt;
    if (t_nt > 0.0 && t_copy > 0.0) state.counters["nt_memcpy"] = t_nt / t_copy;
    if (t_nchw > 0.0) state.counters["x_nchw"] = t_kernel / t_nchw;
    if (!k.isa.empty()) state.SetLabel(segloss_active_isa());
    segloss_set_isa(nullptr);
}

int main(int argc, char **argv)
{
    std::string set = take_flag(argc, argv, "set", "quick");
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    announce_skips();
    std::vector<Case> cases = make_set(set);
    for (const Case &k : cases) {
        benchmark::internal::Benchmark *b = benchmark::RegisterBenchmark(case_name(k).c_str(), bm_case, k);
        b->Unit(k.target >= DRAM_BYTES ? benchmark::kMillisecond : benchmark::kMicrosecond);
    }
    // Both real and CPU time are reported; table.py takes the CPU time by default (on a shared,
    // oversubscribed machine wall time also counts the time other processes held the core).
    benchmark::AddCustomContext("segloss_set", set);
    benchmark::AddCustomContext("segloss_best_isa", segloss_active_isa());
    benchmark::AddCustomContext("nt_copy", nt_copy_kind());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    announce_skips();  // again at the end, where it is seen
    return 0;
}

#else
// ---- self-timed variant: the same cases and body, timed with the process CPU clock ---------

static double median_ms(Prepared &p, int reps, double min_s)
{
    std::vector<double> t;
    run_once(p);  // warm-up
    for (int r = 0; r < reps; r++) {
        int iters = 0;
        const double t0 = cpu_seconds();
        double el;
        do {
            run_once(p);
            iters++;
            el = cpu_seconds() - t0;
        } while (el < min_s);
        t.push_back(el * 1e3 / iters);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

static int smoke(int reps)
{
    printf("segloss smoke benchmark (self-timed), best path here: %s\n", segloss_active_isa());
#if defined(__aarch64__) || defined(__arm__)
    printf("NOTE: on qemu user-mode emulation these timings mean nothing; this run only proves the\n"
           "      benchmark loops build and run on this architecture with every path.\n");
#endif
    announce_skips();
    std::vector<Case> cases = make_set("smoke");
    for (const Case &k : cases) {
        Prepared p;
        std::string why = prepare(k, p);
        if (!why.empty()) {
            printf("%-40s %s\n", case_name(k).c_str(), why.c_str());
            continue;
        }
        segloss_status st = run_once(p);
        if (st != SEGLOSS_OK) {
            printf("%-40s FAILED: %s\n", case_name(k).c_str(), segloss_status_string(st));
            return 1;
        }
        double ms = median_ms(p, reps, 0.005);
        printf("%-40s %10.4f ms  %8.2f Mpos/s  loss=%.6g\n", case_name(k).c_str(), ms,
               (double)(p.d->n * p.d->s) / ms / 1e3, k.kind == K_LOSS ? p.res.loss : 0.0);
        segloss_set_isa(nullptr);
    }
    return 0;
}

// JSON for bench/peers.py: loss+gradient at one shape on the best path, median of reps.
static int peer(int argc, char **argv, int reps, const std::string &layout)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s --peer N C H W [--reps=R] [--layout=nchw|nhwc]\n", argv[0]);
        return 2;
    }
    const int64_t n = atoll(argv[2]), c = atoll(argv[3]), s = atoll(argv[4]) * atoll(argv[5]);
    Data d;
    d.n = n;
    d.c = c;
    d.s = s;
    d.bytes = (size_t)(n * c * s) * sizeof(float);
    d.logits = (float *)alloc_touched(d.bytes);
    d.grad = (float *)alloc_touched(d.bytes);
    d.labels = (uint8_t *)alloc_touched((size_t)(n * s));
    Rng rng(12345);
    for (size_t i = 0; i < (size_t)(n * c * s); i += 2) {
        double u1 = 1.0 - rng.uniform(), u2 = rng.uniform(), r = std::sqrt(2.0) * std::sqrt(-2.0 * std::log(u1));
        d.logits[i] = (float)(r * std::cos(6.283185307179586 * u2));
        if (i + 1 < (size_t)(n * c * s)) d.logits[i + 1] = (float)(r * std::sin(6.283185307179586 * u2));
    }
    for (int64_t i = 0; i < n * s; i++) d.labels[i] = draw_label(rng.uniform(), (int)c);
    const segloss_layout lay = layout == "nhwc" ? SEGLOSS_NHWC : SEGLOSS_NCHW;
    printf("{\"isa\": \"%s\", \"shape\": [%lld, %lld, %s, %s], \"layout\": \"%s\", \"reps\": %d, \"ms\": {",
           segloss_active_isa(), (long long)n, (long long)c, argv[4], argv[5], layout.c_str(), reps);
    Case mk{K_MEMCPY, SEGLOSS_CE, M_LOSS, "", lay, (int)c, d.bytes};
    Prepared pm;
    pm.k = &mk;
    pm.d = &d;
    printf("\"memcpy\": %.6f", median_ms(pm, reps, 0.0));
    for (segloss_loss_type t : LOSSES) {
        Case k{K_LOSS, t, M_GRAD, "", lay, (int)c, d.bytes, V_PLAIN};
        Prepared p;
        p.k = &k;
        p.d = &d;
        segloss_config_init(&p.cfg, t);
        p.in = segloss_input{d.logits, d.labels, SEGLOSS_LABEL_U8, n, c, s, lay};
        if (run_once(p) != SEGLOSS_OK) return 1;
        printf(", \"%s\": %.6f", segloss_loss_name(t), median_ms(p, reps, 0.0));
    }
    printf("}}\n");
    return 0;
}

int main(int argc, char **argv)
{
    int reps = atoi(take_flag(argc, argv, "reps", "5").c_str());
    std::string layout = take_flag(argc, argv, "layout", "nchw");
    if (reps < 1) reps = 1;
    if (argc >= 2 && !strcmp(argv[1], "--peer")) return peer(argc, argv, reps, layout);
    if (argc >= 2 && strcmp(argv[1], "--smoke")) {
        fprintf(stderr, "usage: %s --smoke [--reps=R] | --peer N C H W [--reps=R] [--layout=nchw|nhwc]\n", argv[0]);
        return 2;
    }
    return smoke(reps);
}
#endif
