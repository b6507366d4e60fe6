#include "core/server.h"

#include <cstring>
#include <thread>

#include "proto/hkdf.h"
#include "proto/xor.h"

namespace zipnet::core::server {
namespace {

void unblind_range(proto::MutByteSpan acc, const proto::PadKeySchedule& schedule,
                   const UnblindRequest& req, std::size_t begin, std::size_t end) {
  thread_local proto::PadCipher cipher;
  const auto n = req.roster_secrets.size();
  for (std::size_t k = begin; k < end; ++k) {
    std::uint32_t i = req.participants[k];
    if (i >= n || req.roster_secrets[i] == nullptr) continue;
    cipher.xor_pad(acc, schedule, *req.roster_secrets[i], req.round);
  }
}

}  // namespace

void partial_unblind(proto::MutByteSpan out, const UnblindRequest& req) {
  std::memset(out.data(), 0, out.size());
  const proto::PadKeySchedule schedule(req.params, req.round);
  const std::size_t m = req.participants.size();
  unsigned threads = std::max(1u, req.threads);
  if (threads > m) threads = static_cast<unsigned>(std::max<std::size_t>(m, 1));
  if (threads == 1 || m * out.size() < kParallelThresholdBytes) {
    unblind_range(out, schedule, req, 0, m);
    return;
  }
  // Contiguous chunks, one 64-byte-aligned accumulator per extra worker, XOR-reduced at the end.
  std::vector<proto::AlignedBytes> accs;
  accs.reserve(threads - 1);
  for (unsigned t = 1; t < threads; ++t) accs.emplace_back(out.size());
  std::vector<std::thread> workers;
  workers.reserve(threads - 1);
  auto chunk = [&](unsigned t) { return m * t / threads; };
  for (unsigned t = 1; t < threads; ++t)
    workers.emplace_back([&, t] { unblind_range(accs[t - 1].span(), schedule, req, chunk(t), chunk(t + 1)); });
  unblind_range(out, schedule, req, 0, chunk(1));
  for (auto& w : workers) w.join();
  for (auto& a : accs) proto::xor_into(out.data(), a.data(), out.size());
}

proto::Bytes partial_unblind(const UnblindRequest& req) {
  proto::Bytes out(req.params.vector_bytes());
  partial_unblind(out, req);
  return out;
}

void finalize(proto::MutByteSpan out, proto::ByteSpan aggregate,
              std::span<const proto::ByteSpan> partials) {
  if (!aggregate.empty() && !out.empty())
    std::memcpy(out.data(), aggregate.data(), std::min(out.size(), aggregate.size()));
  for (const auto& p : partials) proto::xor_into(out.data(), p.data(), std::min(out.size(), p.size()));
}

}  // namespace zipnet::core::server
