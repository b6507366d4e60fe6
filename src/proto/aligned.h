// 64-byte-aligned, zero-initialised byte buffers for B-sized accumulators (cache-line aligned
// so per-thread accumulators never share a line; performance.md / protocol.md §17 trap 3).
#pragma once

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "proto/bytes.h"

namespace zipnet::proto {

class AlignedBytes {
 public:
  AlignedBytes() = default;
  explicit AlignedBytes(std::size_t n) : size_(n) {
    std::size_t cap = (n + 63) / 64 * 64;
    if (cap == 0) cap = 64;
    void* p = std::aligned_alloc(64, cap);
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, cap);
    data_.reset(static_cast<std::uint8_t*>(p));
  }
  std::uint8_t* data() { return data_.get(); }
  const std::uint8_t* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  MutByteSpan span() { return {data_.get(), size_}; }
  ByteSpan span() const { return {data_.get(), size_}; }
  void clear() {
    if (data_) std::memset(data_.get(), 0, size_);
  }

 private:
  struct Free {
    void operator()(std::uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<std::uint8_t, Free> data_;
  std::size_t size_ = 0;
};

}  // namespace zipnet::proto
