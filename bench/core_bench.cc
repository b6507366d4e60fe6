// `make bench-core`: the pure-core benchmarks of performance.md §6 (P1, P2, P6, P9 anchors).
// Google Benchmark runs each case (5 repetitions, best taken); a reporter collects the
// per-iteration times and the program prints the key=value lines of performance.md §6 with
// every ratio computed against a baseline measured in this same process.
//   --openssl-gbps=<x>   the `openssl speed` figure measured by bench/bench_core.sh
//   --quick              shorter runs (smoke check of the harness)
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <algorithm>

#include "core/server.h"
#include "proto/aligned.h"
#include "proto/hkdf.h"
#include "proto/pad.h"
#include "proto/xor.h"

namespace {

namespace p = zipnet::proto;

struct Shape {
  std::uint32_t num_slots, slot_bytes;
  p::RoundParams params() const { return {p::WIRE_VERSION, num_slots, slot_bytes, 16}; }
};
constexpr Shape kW{1024, 176};  // 180,224 B
constexpr Shape kD{64, 256};    // 16,384 B
constexpr Shape kK{4, 256};     // 1,024 B

std::vector<p::Secret32> random_secrets(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<p::Secret32> out(n);
  for (auto& s : out)
    for (auto& b : s.mutable_bytes()) b = static_cast<std::uint8_t>(rng());
  return out;
}

// In-process EVP AES-128-CTR over 16 KiB blocks, one context: the P1 denominator.
void BM_baseline_ctr(benchmark::State& st) {
  EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-128-CTR", nullptr);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  unsigned char key[16] = {1}, iv[16] = {2};
  EVP_EncryptInit_ex2(ctx, c, key, iv, nullptr);
  p::AlignedBytes buf(16384);
  int outl = 0;
  for (auto _ : st) {
    EVP_EncryptUpdate(ctx, buf.data(), &outl, buf.data(), 16384);
    benchmark::DoNotOptimize(buf.data());
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations()) * 16384);
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(c);
}

// partial_unblind over M participants at one shape, one thread.
void BM_unblind(benchmark::State& st, Shape shape, std::size_t m) {
  auto params = shape.params();
  auto secrets = random_secrets(m, 7);
  std::vector<const p::Secret32*> ptrs;
  std::vector<std::uint32_t> idx;
  for (std::size_t i = 0; i < m; ++i) {
    ptrs.push_back(&secrets[i]);
    idx.push_back(static_cast<std::uint32_t>(i));
  }
  p::AlignedBytes out(params.vector_bytes());
  zipnet::core::server::UnblindRequest req{params, 42, ptrs, idx, 1};
  for (auto _ : st) {
    zipnet::core::server::partial_unblind(out.span(), req);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * m * params.vector_bytes()));
}

// t_sha: one low-level SHA-256 (Init/Update/Final) of 32 bytes.
void BM_t_sha(benchmark::State& st) {
  unsigned char in[32] = {3}, out[32];
  for (auto _ : st) {
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, in, 32);
    SHA256_Final(out, &c);
    benchmark::DoNotOptimize(out);
    in[0] = out[0];
  }
}

// Cached HKDF per client: shared secret → AES key (the per-round schedule is precomputed).
void BM_kdf(benchmark::State& st) {
  p::PadKeySchedule sched(kD.params(), 9);
  auto secrets = random_secrets(1024, 11);
  std::size_t i = 0;
  for (auto _ : st) {
    auto k = sched.derive(secrets[i++ & 1023]);
    benchmark::DoNotOptimize(k);
  }
}

// EVP_KDF HKDF per client (the trap): recorded for comparison (P3).
void BM_kdf_evp(benchmark::State& st) {
  auto salt = p::PadKeySchedule::salt(kD.params(), 9);
  auto secrets = random_secrets(64, 13);
  std::size_t i = 0;
  for (auto _ : st) {
    auto k = p::hkdf_sha256_evp(salt, secrets[i++ & 63].span(), p::as_bytes(p::kPadInfo), 16);
    benchmark::DoNotOptimize(k);
  }
}

// Envelopes streamed from a pool larger than the last-level cache into one accumulator.
// The pool is twice the reported LLC (VMs may report a very large shared L3), at least 256 MiB.
std::size_t pool_bytes() {
  static const std::size_t n = [] {
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    std::size_t want = l3 > 0 ? 2 * static_cast<std::size_t>(l3) : 0;
    want = std::max<std::size_t>(want, 256u << 20);
    want = std::min<std::size_t>(want, 4ull << 30);
    return want / 16384 * 16384;
  }();
  return n;
}
p::AlignedBytes& pool() {
  static p::AlignedBytes b = [] {
    const std::size_t kPoolBytes = pool_bytes();
    p::AlignedBytes x(kPoolBytes);
    std::mt19937_64 rng(5);
    for (std::size_t i = 0; i < kPoolBytes; i += 8) {
      std::uint64_t v = rng();
      std::memcpy(x.data() + i, &v, 8);
    }
    return x;
  }();
  return b;
}

// memcpy: the P6 denominator. fold: the aggregator's fold under load, RoundFold::add_batch's
// kernel over proto::kXorFanIn queued envelopes per pass (node/aggregator drains what is
// queued); one iteration = one pass. fold_single: one envelope per pass (xor_into), the
// idle-aggregator path, reported as an extra line.
enum class StreamMode { memcpy, fold, fold_single };
template <StreamMode kMode>
void BM_stream(benchmark::State& st) {
  const std::size_t b = kD.params().vector_bytes();
  const std::size_t per = kMode == StreamMode::fold ? p::kXorFanIn : 1;
  auto& src = pool();
  p::AlignedBytes acc(b);
  std::size_t off = 0;
  const std::uint8_t* srcs[p::kXorFanIn];
  for (auto _ : st) {
    if (kMode == StreamMode::fold) {
      for (std::size_t j = 0; j < per; ++j) srcs[j] = src.data() + off + j * b;
      p::xor_into_many(acc.data(), srcs, per, b);
    } else if (kMode == StreamMode::fold_single) {
      p::xor_into(acc.data(), src.data() + off, b);
    } else {
      std::memcpy(acc.data(), src.data() + off, b);
    }
    benchmark::DoNotOptimize(acc.data());
    off += per * b;
    if (off + per * b > src.size()) off = 0;
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * per * b));
}

// Collects the best (minimum) per-iteration real time of every benchmark across repetitions.
class Collector : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> best_ns;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (r.run_type != Run::RT_Iteration || r.iterations == 0) continue;
      double ns = r.real_accumulated_time * 1e9 / static_cast<double>(r.iterations);
      auto name = r.run_name.function_name;
      auto it = best_ns.find(name);
      if (it == best_ns.end() || ns < it->second) best_ns[name] = ns;
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  double openssl_gbps = 0;
  bool quick = false;
  std::vector<char*> args{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--openssl-gbps=", 15) == 0)
      openssl_gbps = std::stod(argv[i] + 15);
    else if (std::strcmp(argv[i], "--quick") == 0)
      quick = true;
    else
      args.push_back(argv[i]);
  }
  int bargc = static_cast<int>(args.size());
  benchmark::Initialize(&bargc, args.data());
  const int reps = quick ? 1 : 5;
  const double min_time = quick ? 0.05 : 0.25;
  // Every case is registered once per round and the rounds repeat `reps` times, so each ratio's
  // numerator and denominator are measured interleaved (machine noise hits both alike); the
  // collector keeps the best time of each case.
  auto reg = [&](const char* name, auto fn, std::int64_t iterations = 0) {
    auto* b = benchmark::RegisterBenchmark(name, fn)->Unit(benchmark::kMicrosecond);
    if (iterations > 0)
      b->Iterations(iterations);
    else
      b->MinTime(min_time);
  };
  for (int i = 0; i < reps; ++i) {
    reg("baseline_ctr", BM_baseline_ctr);
    reg("unblind_w_1k", [](benchmark::State& s) { BM_unblind(s, kW, 1024); });
    reg("baseline_ctr", BM_baseline_ctr);
    reg("unblind_d_1k", [](benchmark::State& s) { BM_unblind(s, kD, 1024); });
    reg("t_sha", BM_t_sha);
    reg("kdf", BM_kdf, quick ? 100'000 : 1'000'000);
    reg("memcpy", BM_stream<StreamMode::memcpy>);
    reg("fold", BM_stream<StreamMode::fold>);
    reg("fold_single", BM_stream<StreamMode::fold_single>);
  }
  reg("unblind_k_100k", [](benchmark::State& s) { BM_unblind(s, kK, 100'000); }, quick ? 1 : 5);
  reg("kdf_evp", BM_kdf_evp);
  Collector col;
  benchmark::RunSpecifiedBenchmarks(&col);

  auto ns = [&](const char* n) { return col.best_ns.count(n) ? col.best_ns[n] : 0.0; };
  const double w_bytes = 1024.0 * kW.params().vector_bytes();
  const double d_bytes = 1024.0 * kD.params().vector_bytes();
  const double env_bytes = static_cast<double>(kD.params().vector_bytes());
  const double baseline = 16384.0 / ns("baseline_ctr");  // bytes/ns = GB/s
  const double pad = w_bytes / ns("unblind_w_1k");
  const double pad_d = d_bytes / ns("unblind_d_1k");
  const double memcpy_gbps = env_bytes / ns("memcpy");
  const double fold_gbps = static_cast<double>(p::kXorFanIn) * env_bytes / ns("fold");
  const double fold_single_gbps = env_bytes / ns("fold_single");
  const double k_ms = ns("unblind_k_100k") / 1e6;
  const double c_fix_us = (k_ms * 1e3 - 100'000.0 * 1024.0 / (pad * 1e3)) / 100'000.0;

  std::printf("\n# zipnet bench-core: one run, ratios against baselines of this run\n");
  std::printf("# xor_kernel=%s threads=1 hardware_concurrency=%u fold_pool_mib=%zu\n", p::xor_kernel_name(),
              std::thread::hardware_concurrency(), pool_bytes() >> 20);
  std::printf("openssl_aes128ctr_gbps=%.2f\n", openssl_gbps);
  std::printf("baseline_ctr_gbps=%.2f\n", baseline);
  std::printf("pad_gbps=%.2f\n", pad);
  std::printf("pad_ratio=%.3f\n", pad / baseline);
  std::printf("pad_ratio_d=%.3f\n", pad_d / baseline);
  std::printf("t_sha_ns=%.1f\n", ns("t_sha"));
  std::printf("kdf_ns_per_client=%.1f\n", ns("kdf"));
  std::printf("memcpy_gbps=%.2f\n", memcpy_gbps);
  std::printf("fold_gbps=%.2f\n", fold_gbps);
  std::printf("fold_ratio=%.3f\n", fold_gbps / memcpy_gbps);
  std::printf("unblind_100k_clients_ms=%.1f\n", k_ms);
  std::printf("unblind_w_1k_clients_ms=%.2f\n", ns("unblind_w_1k") / 1e6);
  std::printf("# extra: kdf_evp_ns=%.0f kdf_cached_over_evp=%.3f c_fix_us=%.3f\n", ns("kdf_evp"),
              ns("kdf") / ns("kdf_evp"), c_fix_us);
  std::printf("# extra: fold_fan_in=%zu fold_single_gbps=%.2f fold_single_ratio=%.3f\n", p::kXorFanIn,
              fold_single_gbps, fold_single_gbps / memcpy_gbps);
  const bool ok = pad / baseline >= 0.9 && pad_d / baseline >= 0.75 &&
                  ns("kdf") <= 7 * ns("t_sha") && fold_gbps / memcpy_gbps >= 0.8;
  std::printf("# targets: pad_ratio>=0.9 pad_ratio_d>=0.75 kdf<=7*t_sha fold_ratio>=0.8: %s\n",
              ok ? "PASS" : "FAIL");
  benchmark::Shutdown();
  return ok ? 0 : 3;
}
