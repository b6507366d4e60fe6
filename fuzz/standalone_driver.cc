// Bounded mutation driver for g++ builds (ctest smoke runs): takes the target's valid seeds,
// applies random bit flips, truncations, insertions, byte overwrites and length-field tweaks,
// and feeds each result to LLVMFuzzerTestOneInput. Deterministic for a given -seed.
// Usage: <target> [-runs=N] [-seed=S] [files...]   (files are replayed verbatim first)
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include "fuzz_seeds.h"

int main(int argc, char** argv) {
  unsigned long runs = 10000, seed = 1;
  std::vector<std::vector<std::uint8_t>> seeds;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "-runs=", 6) == 0) {
      runs = std::stoul(argv[i] + 6);
    } else if (std::strncmp(argv[i], "-seed=", 6) == 0) {
      seed = std::stoul(argv[i] + 6);
    } else {
      std::ifstream f(argv[i], std::ios::binary);
      std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(f)), {});
      LLVMFuzzerTestOneInput(data.data(), data.size());
      seeds.push_back(std::move(data));
    }
  }
  if (zipnet_fuzz_seeds) zipnet_fuzz_seeds(seeds);
  if (seeds.empty()) seeds.push_back({});
  for (auto& s : seeds) LLVMFuzzerTestOneInput(s.data(), s.size());

  std::mt19937_64 rng(seed);
  auto pick = [&](std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng() % n); };
  for (unsigned long i = 0; i < runs; ++i) {
    std::vector<std::uint8_t> d = seeds[pick(seeds.size())];
    unsigned mutations = 1 + static_cast<unsigned>(pick(4));
    for (unsigned m = 0; m < mutations; ++m) {
      switch (pick(7)) {
        case 0:  // bit flip
          if (!d.empty()) d[pick(d.size())] ^= static_cast<std::uint8_t>(1u << pick(8));
          break;
        case 1:  // truncate
          d.resize(pick(d.size() + 1));
          break;
        case 2:  // insert random bytes
          d.insert(d.begin() + static_cast<std::ptrdiff_t>(pick(d.size() + 1)), 1 + pick(8),
                   static_cast<std::uint8_t>(rng()));
          break;
        case 3:  // overwrite a byte with an interesting value
          if (!d.empty()) {
            static const std::uint8_t kVals[] = {0, 1, 2, 0x7f, 0x80, 0xff};
            d[pick(d.size())] = kVals[pick(sizeof kVals)];
          }
          break;
        case 4:  // blow up a (possible) u32 length field
          if (d.size() >= 4) {
            std::size_t at = pick(d.size() - 3);
            std::uint32_t v = static_cast<std::uint32_t>(rng());
            std::memcpy(d.data() + at, &v, 4);
          }
          break;
        case 5:  // append garbage
          d.push_back(static_cast<std::uint8_t>(rng()));
          break;
        case 6:  // splice with another seed
          if (seeds.size() > 1) {
            const auto& o = seeds[pick(seeds.size())];
            std::size_t cut = pick(d.size() + 1);
            d.resize(cut);
            d.insert(d.end(), o.begin() + static_cast<std::ptrdiff_t>(pick(o.size() + 1)), o.end());
          }
          break;
      }
    }
    LLVMFuzzerTestOneInput(d.data(), d.size());
  }
  std::printf("fuzz smoke: %lu runs over %zu seeds, no crash\n", runs, seeds.size());
  return 0;
}
