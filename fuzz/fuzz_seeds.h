// Shared contract between fuzz targets and the standalone smoke driver.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
/// Valid encodings the smoke driver mutates (weak: a target may omit it).
void zipnet_fuzz_seeds(std::vector<std::vector<std::uint8_t>>& out) __attribute__((weak));
