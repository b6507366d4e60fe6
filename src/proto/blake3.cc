#include "proto/blake3.h"

#include <blake3.h>

namespace zipnet::proto {

struct Blake3Hasher::State {
  blake3_hasher h;
};

Blake3Hasher::Blake3Hasher() : state_(std::make_unique<State>()) {
  blake3_hasher_init(&state_->h);
}
Blake3Hasher::Blake3Hasher(const ByteArray<32>& key) : state_(std::make_unique<State>()) {
  blake3_hasher_init_keyed(&state_->h, key.data());
}
Blake3Hasher Blake3Hasher::derive_key(std::string_view context) {
  Blake3Hasher h;
  blake3_hasher_init_derive_key_raw(&h.state_->h, context.data(), context.size());
  return h;
}
Blake3Hasher::~Blake3Hasher() = default;
Blake3Hasher::Blake3Hasher(const Blake3Hasher& o) : state_(std::make_unique<State>(*o.state_)) {}
Blake3Hasher& Blake3Hasher::operator=(const Blake3Hasher& o) {
  if (this != &o) *state_ = *o.state_;
  return *this;
}
Blake3Hasher& Blake3Hasher::update(ByteSpan data) {
  blake3_hasher_update(&state_->h, data.data(), data.size());
  return *this;
}
Hash32 Blake3Hasher::finalize() const {
  Hash32 out{};
  blake3_hasher_finalize(&state_->h, out.data(), out.size());
  return out;
}
void Blake3Hasher::finalize(MutByteSpan out) const {
  blake3_hasher_finalize(&state_->h, out.data(), out.size());
}

Hash32 blake3(ByteSpan data) {
  blake3_hasher h;
  blake3_hasher_init(&h);
  blake3_hasher_update(&h, data.data(), data.size());
  Hash32 out{};
  blake3_hasher_finalize(&h, out.data(), out.size());
  return out;
}

Hash32 blake3_keyed(const ByteArray<32>& key, ByteSpan data) {
  blake3_hasher h;
  blake3_hasher_init_keyed(&h, key.data());
  blake3_hasher_update(&h, data.data(), data.size());
  Hash32 out{};
  blake3_hasher_finalize(&h, out.data(), out.size());
  return out;
}

Hash32 blake3_derive_key(std::string_view context, ByteSpan material) {
  return Blake3Hasher::derive_key(context).update(material).finalize();
}

}  // namespace zipnet::proto
